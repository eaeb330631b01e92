"""Is a text English? A stopword-share and script heuristic, not a language-identification model.

Why not langdetect, lingua or fastText: the quality scorer has a budget of well under a millisecond per 2 KB
document (the non-model scorers together must do 2,000 documents/s per core), langdetect takes several
milliseconds per document and is non-deterministic without a fixed seed, lingua's high-accuracy mode loads
hundreds of MB of n-gram models, and fastText's lid.176 model is a download we cannot make at run time. The
question here is narrower than "which of 176 languages": English or not. Function words answer it: they make
up 30-50% of the running words of any prose in its own language (Zipf), code and tables have few of them in
any language, and the lists below hold no word that is also common English ("in", "a", "no", "also", "so").

    latin script:  non-English when the best other language's share >= MIN_SHARE and >= 2x English's
    other scripts: non-English when over half the letters are outside Latin (Cyrillic, CJK, Greek, Arabic...)

Fewer than MIN_WORDS alphabetic words is "und" (undetermined): too little evidence either way.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

MIN_WORDS = 30
MIN_SHARE = 0.12  # foreign prose runs 0.25-0.45 of these words; English code docs stay under 0.05
NON_LATIN_SHARE = 0.5

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the of and to in is that for it with as was on be by this are or from at an not which but have has"
        " you can if will when there their they we these been more than only all its should would into other"
        " may must does do each then any what how a".split()
    ),
    "de": frozenset(
        "der die das und ist nicht mit von den zu ein eine auf für sich dem des auch es im werden wird sind"
        " oder bei nach wie aus wenn kann noch über nur aber einen einer dass ich sie wir zum zur"
        " durch".split()
    ),
    "fr": frozenset(
        "le la les et des du un une est pour dans que qui pas sur par avec sont ce cette il elle au aux ou"
        " mais nous vous ne se son sa ses plus être été ont leur comme".split()
    ),
    "es": frozenset(
        "el la los las y del que en es por para con una un se al lo como más pero sus su este esta está son"
        " ser también entre cuando muy sin sobre hay".split()
    ),
    "it": frozenset(
        "il lo la gli le di e è che per con non una un del della dei delle sono come più ma anche nel nella"
        " questo questa essere ha hanno alla tra".split()
    ),
    "pt": frozenset(
        "o os as e é que em um uma para com não por mais dos das se na no ao como mas foi são também pela"
        " pelo isso ele ela entre".split()
    ),
    "nl": frozenset(
        "de het een en van is dat op te zijn niet met voor er aan ook als bij maar naar om dit wordt worden"
        " uit kan nog wel zij".split()
    ),
    "sv": frozenset(
        "och att det som en är av för med till den har de inte om ett på kan vid eller från du ska alla när"
        " sig denna detta hur vara eller skall finns används".split()
    ),
    "da": frozenset(
        "og det som en er af med til den har de ikke om et på kan ved eller fra du skal alle når sig denne"
        " dette hvordan være hvis bliver".split()
    ),
    "nb": frozenset(
        "og er det som på en av til med ikke har de den et kan om fra eller skal hvis må blir".split()
    ),
    "pl": frozenset(
        "w na z się nie że jest o jak ale po co tak za od przez lub oraz być dla jeśli który która które tym"
        " ten są może tylko jest".split()
    ),
    "cs": frozenset(
        "v se na je že s z o jako ale pro k jsou jeho které který nebo při jak být tak po ze bude tento tato"
        " také".split()
    ),
    "fi": frozenset(
        "ja on ei se että oli kun mutta tai jos niin joka ovat ole myös sen hän tämä voi kuin jotka mitä"
        " sitä vain".split()
    ),
    "hu": frozenset(
        "az és hogy nem egy meg van csak már ha mint el ez azt vagy kell volt lesz fel még ki mert amely ezt"
        " ezen".split()
    ),
    "tr": frozenset(
        "ve bir bu da için ile olarak çok daha gibi ne ya ki mi ama veya şey olan sonra kadar her değil eğer"
        " göre".split()
    ),
    "ro": frozenset(
        "și de la în cu nu pe că din se un mai este sunt care sau pentru ca dacă fi ce al ale acest această"
        " prin lui fost".split()
    ),
    "id": frozenset(
        "yang dan di ini itu dengan untuk dari dalam tidak akan pada ke adalah atau juga bisa oleh ada jika"
        " karena sebagai telah saat tersebut dapat".split()
    ),
}
_LANGUAGES = tuple(STOPWORDS)  # "en" first
# token -> the indexes in _LANGUAGES of the lists that hold it (one dict lookup per distinct stopword found)
_LANGS_OF: dict[str, tuple[int, ...]] = {}
for _i, _words in enumerate(STOPWORDS.values()):
    for _w in _words:
        _LANGS_OF[_w] = (*_LANGS_OF.get(_w, ()), _i)

_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_OTHER_LETTER = re.compile(r"[^\W\d_\x00-\u036f]")  # word characters from Greek (U+0370) on, not digits
# A character from U+0340 on opens its UTF-8 form with a byte from 0xCD on; a text whose UTF-8 holds none
# has no such letter, and the regex above (~7 us a 2 KB page) need not run: deleting the other bytes is ~1 us.
_BELOW_0340_BYTES = bytes(range(0xCD))


@dataclass(slots=True, frozen=True)
class LanguageGuess:
    code: str  # "en", "de", ..., "und" (too little text), or "script:cyrillic" for a non-Latin script
    evidence: float  # the deciding share: stopword share of the guessed language, or non-Latin letter share


def guess_language(text: str, counts: Counter[str], n_alpha: int) -> LanguageGuess:
    """`counts`: the text's lower-cased \\w+ tokens counted; `n_alpha`: how many of them hold a letter (the
    quality scorer has both already)."""
    other = [] if not _may_hold_other_letters(text) else _OTHER_LETTER.findall(text)
    if len(other) >= MIN_WORDS:
        latin = len(_LATIN.findall(text))
        share = len(other) / (len(other) + latin)
        if share > NON_LATIN_SHARE:
            return LanguageGuess(f"script:{_script(other)}", round(share, 3))
    if n_alpha < MIN_WORDS:
        return LanguageGuess("und", 0.0)
    hits = [0] * len(_LANGUAGES)
    for word in counts.keys() & _LANGS_OF.keys():  # a set intersection in C, then the few stopwords found
        n = counts[word]
        for i in _LANGS_OF[word]:
            hits[i] += n
    english = hits[0] / n_alpha
    best = max(range(1, len(hits)), key=hits.__getitem__)
    share = hits[best] / n_alpha
    if share >= MIN_SHARE and share >= 2 * english:
        return LanguageGuess(_LANGUAGES[best], round(share, 3))
    return LanguageGuess("en", round(english, 3))


def _may_hold_other_letters(text: str) -> bool:
    if text.isascii():
        return False
    return bool(text.encode("utf-8", "surrogatepass").translate(None, _BELOW_0340_BYTES))


def _script(letters: list[str]) -> str:
    """The script most of these letters belong to, from their Unicode names ("CYRILLIC SMALL LETTER A")."""
    names = Counter(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0] for ch in letters[:200])
    return names.most_common(1)[0][0].lower()
