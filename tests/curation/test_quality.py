import pytest

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


ENGLISH = (
    "To restore a dump, feed the file back to psql. The database must exist before the restore starts, and "
    "the roles that own objects in the dump must exist as well. If they do not, the restore fails with an "
    "error for each object, but it goes on with the rest of the file. Use the single-transaction option when "
    "you want the restore to be all or nothing: any error then rolls back the whole run."
)
GERMAN = (
    "Um eine Sicherung wiederherzustellen, wird die Datei an psql übergeben. Die Datenbank muss vorher "
    "angelegt werden, und auch die Rollen, denen die Objekte gehören, müssen schon vorhanden sein. Wenn das "
    "nicht der Fall ist, meldet die Wiederherstellung für jedes Objekt einen Fehler, aber sie läuft mit dem "
    "Rest der Datei weiter. Mit der Option für eine einzige Transaktion wird alles oder nichts übernommen."
)
FRENCH = (
    "Pour restaurer une sauvegarde, il suffit de passer le fichier à psql. La base de données doit exister "
    "avant la restauration, et les rôles qui possèdent les objets de la sauvegarde doivent aussi exister. "
    "Sinon, la restauration signale une erreur pour chaque objet, mais elle continue avec le reste "
    "du fichier. Avec une seule transaction, une erreur annule toute la restauration."
)
SPANISH = (
    "Para restaurar una copia de seguridad, se pasa el archivo a psql. La base de datos tiene que existir "
    "antes de la restauración, y también los roles que son dueños de los objetos. Si no existen, la "
    "restauración muestra un error por cada objeto, pero sigue con el resto del archivo. Con una sola "
    "transacción, cualquier error deshace todo el proceso."
)
RUSSIAN = (
    "Чтобы восстановить резервную копию, передайте файл программе psql. База данных должна существовать до "
    "начала восстановления, а роли, которым принадлежат объекты, тоже должны быть созданы заранее."
)
CHINESE = "要恢复备份，请把文件交给 psql。数据库必须在恢复开始之前存在，拥有对象的角色也必须已经存在。" * 3


@pytest.mark.parametrize(
    ("text", "language"),
    [(GERMAN, "de"), (FRENCH, "fr"), (SPANISH, "es"), (RUSSIAN, "script:cyrillic"), (CHINESE, "script:cjk")],
)
def test_non_english_prose_is_flagged_with_its_language(text, language):
    result = QualityScorer().score(doc(text))
    assert "quality_non_english" in result.reasons and result.details["language"] == language


def test_english_prose_and_code_are_not_flagged_non_english():
    code = "\n".join(
        f"def handler_{i}(request):\n    return Response(status=200, body=b'{i}')" for i in range(12)
    )
    for text in (ENGLISH, code, ENGLISH + "\n" + code):
        assert "quality_non_english" not in QualityScorer().score(doc(text)).reasons


def test_mojibake_is_encoding_garbage_but_real_accents_are_not():
    accented = "The café served crème brûlée; the naïve señor paid in the résumé’s currency. " * 4
    mojibake = accented.encode("utf-8").decode("cp1252", errors="replace")  # "cafÃ©", "â€™"
    assert "quality_encoding_garbage" in QualityScorer().score(doc(mojibake)).reasons
    result = QualityScorer().score(doc(accented))
    assert "quality_encoding_garbage" not in result.reasons and "mojibake" not in result.details


def test_web_page_chrome_is_boilerplate_but_a_page_about_cookies_is_not():
    chrome = "\n".join(
        [ENGLISH, "Privacy policy | Terms of use", "We use cookies. Accept cookies", "All rights reserved."]
        + ["Click here to subscribe to our newsletter", "Back to top", "Powered by ExampleCMS"]
    )
    assert "quality_boilerplate" in QualityScorer().score(doc(chrome)).reasons
    assert (
        "quality_boilerplate" in QualityScorer().score(doc(ENGLISH + " Lorem ipsum dolor sit amet.")).reasons
    )
    cookies = "The http.cookies module defines classes for abstracting the concept of cookies. " * 6
    assert "quality_boilerplate" not in QualityScorer().score(doc(cookies)).reasons
