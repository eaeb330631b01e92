from curation.scorers.quality import QualityScorer
from tests.curation.helpers import doc


def test_clean_prose_passes():
    text = " ".join(
        f"Sentence {i} explains how the database vacuums dead rows and frees space." for i in range(20)
    )
    result = QualityScorer().score(doc(text))
    assert result.reasons == [] and result.score == 1.0


def test_short_repetitive_and_garbled_text_get_reasons():
    scorer = QualityScorer()
    assert scorer.score(doc("too short")).reasons == ["quality_too_short"]
    repeated = "\n".join(["click here to subscribe now"] * 30)
    assert "quality_repetitive_lines" in scorer.score(doc(repeated)).reasons
    garbled = ("valid words here " * 30) + "\ufffd" * 200
    assert "quality_encoding_garbage" in scorer.score(doc(garbled)).reasons
    stuffed = "buy " * 100 + "cheap watches online today"
    result = scorer.score(doc(stuffed))
    assert "quality_repetitive_words" in result.reasons and result.score < 1.0
