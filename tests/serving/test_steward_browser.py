"""The steward page in a real browser (Debian's headless Chromium through Playwright) over a copy of the work
folder the real flow built from the test corpus: sign in, filter, open a document, override it with a reason,
then check steward.db, the current index build and the retriever."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.steward import StewardDB
from pipelines.core.index_store import current_build, read_chunks
from serving.engine import free_port
from serving.rag import ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.runtime import running_app
from serving.steward_service import StewardService
from tests.conftest import settings_for

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TOKEN = "browser-test-steward-token-0123456789"
STEWARD = "Łucja Zoë"  # Ł is outside Latin-1, which headers carry: the page percent-encodes the name
SCREENSHOT = Path("/tmp/steward.png")
OVERRIDE_S = 120_000  # ms: approving chunks and embeds the document on 2 CPU cores


@pytest.fixture(scope="module")
def stack(ingested, embedder, test_corpus, tmp_path_factory):
    """The app over a copy of the ingested work folder (other tests read the original and must not see our
    overrides), with a chat service whose model URL answers nothing: the steward page never calls it."""
    settings, _ = ingested
    work = tmp_path_factory.mktemp("steward-browser") / "work"
    shutil.copytree(settings.work_dir, work)
    copy = settings_for(work, test_corpus)
    retriever = SafeRetriever(work, embedder, top_k=3, min_similarity=copy.retrieval.min_similarity)
    llm = make_llm(
        base_url="http://127.0.0.1:9/v1", model="none", max_tokens=8, temperature=0.0, context_window=2048
    )
    chat = ChatService(retriever, llm)
    steward = StewardService(copy, embedder)
    with running_app(chat, host="127.0.0.1", port=free_port(), steward=steward, steward_token=TOKEN) as url:
        yield url, copy, retriever


@pytest.fixture(scope="module")
def page(stack):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url, _, _ = stack
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1440, "height": 1000})
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(f"{url}/steward")
        tab.fill("#name", STEWARD)
        tab.fill("#token", TOKEN)
        tab.click("#login-btn")
        tab.wait_for_selector("#docs tbody tr")
        yield tab
        assert errors == [], errors
        browser.close()


def documents(settings) -> list[dict]:
    return pq.read_table(settings.work_dir / "documents.parquet").to_pylist()


def wait_for_rows(page, predicate_js: str) -> list[str]:
    """Wait until the table shows at least one row and every row passes the predicate; returns doc ids."""
    page.wait_for_function(
        f"""() => {{ const rows = [...document.querySelectorAll('#docs tbody tr')];
        return rows.length > 0 && rows.every(tr => ({predicate_js})(tr)); }}"""
    )
    return page.eval_on_selector_all("#docs tbody tr", "rows => rows.map(tr => tr.dataset.docId)")


def override(page, doc_id: str, button: str, why: str) -> str:
    page.click(f"#docs tbody tr[data-doc-id='{doc_id}']")
    page.wait_for_selector("#detail:not([hidden]) #why")
    page.fill("#why", why)
    page.click(button)
    page.wait_for_selector("#decision-result.ok", timeout=OVERRIDE_S)
    return page.inner_text("#decision-result")


def chunk_texts(build: Path, doc_id: str) -> list[str]:
    chunks = read_chunks(build).to_pylist()
    return [c["text"] for c in chunks if c["doc_id"] == doc_id]


def test_page_signs_in_and_shows_summary_and_charts(page, stack):
    _, settings, _ = stack
    assert page.inner_text("#who") == f"signed in as {STEWARD}"
    page.wait_for_selector("#chart-runs svg rect")
    for chart in ("#chart-runs", "#chart-reasons", "#chart-scores", "#chart-age"):
        assert page.locator(f"{chart} svg").count() == 1, chart
    safe = sum(1 for d in documents(settings) if d["tier"] == "safe")
    assert page.inner_text("#cards .card.safe b") == str(safe)


def test_reject_a_safe_document_from_the_browser(page, stack):
    _, settings, retriever = stack
    page.select_option("#f-tier", "safe")
    page.select_option("#f-source", "product-docs-postgres")
    is_safe_postgres = (
        "tr => tr.querySelector('.tier').textContent === 'safe' && tr.cells[2].textContent === '%s'"
    )
    shown = wait_for_rows(page, is_safe_postgres % "product-docs-postgres")
    doc_id = shown[0]
    before = current_build(settings.work_dir)
    question = chunk_texts(before, doc_id)[0]
    assert doc_id in [h.doc_id for h in retriever.retrieve(question)]

    message = override(page, doc_id, "#reject", "superseded by the PostgreSQL 16 manual")

    assert "removed" in message
    stored = StewardDB(settings.work_dir / "steward.db").overrides()[doc_id]
    assert (stored.tier.value, stored.who, stored.why) == (
        "unsafe",
        STEWARD,
        "superseded by the PostgreSQL 16 manual",
    )
    after = current_build(settings.work_dir)
    assert after != before and chunk_texts(after, doc_id) == [] and chunk_texts(before, doc_id)
    assert doc_id not in json.loads((after / "manifest.json").read_text())["document_hashes"]
    assert doc_id not in [h.doc_id for h in retriever.retrieve(question)]
    assert retriever.build == after  # the chat service swapped to the new build on its next question
    audit = page.inner_text("#audit")
    assert "override_unsafe" in audit and "index_removed" in audit


def test_approve_a_review_document_found_by_search(page, stack):
    _, settings, retriever = stack
    review = [d for d in documents(settings) if d["tier"] == "review" and d["text"].strip()]
    assert review, "the test corpus should hold review documents"
    doc = next((d for d in review if not any(r.startswith("duplicate") for r in d["reasons"])), review[0])
    page.keyboard.press("Escape")  # close the previous drill-down
    page.click("#f-clear")
    page.select_option("#f-tier", "review")
    page.fill("#f-q", doc["path"])
    shown = wait_for_rows(page, "tr => tr.querySelector('.tier').textContent === 'review'")
    assert doc["doc_id"] in shown

    message = override(page, doc["doc_id"], "#approve", "still accurate; checked with the product team")

    assert "added" in message
    assert StewardDB(settings.work_dir / "steward.db").overrides()[doc["doc_id"]].who == STEWARD
    texts = chunk_texts(current_build(settings.work_dir), doc["doc_id"])
    assert texts
    assert doc["doc_id"] in [h.doc_id for h in retriever.retrieve(texts[0])]
    # the table now shows it as safe, with the override mark
    page.keyboard.press("Escape")
    page.select_option("#f-tier", "safe")
    assert doc["doc_id"] in wait_for_rows(page, "tr => tr.querySelector('.tier').textContent === 'safe'")


def test_unsafe_document_shows_spans_masked_and_csv_exports(page, stack):
    _, settings, _ = stack
    hr = next(d for d in documents(settings) if d["path"].startswith("confidential/hr-export"))
    spans = json.loads(hr["details"])["sensitive"]["spans"]
    at_spans = {hr["text"][s["start"] : s["end"]] for s in spans}
    # e-mails and phones were redacted at ingest (typed placeholders in the table); what is left raw in the
    # table (an SSN, an IBAN: unsafe, never redacted) must be shown masked
    placeholders = {v for v in at_spans if re.fullmatch(r"<[A-Z_]+_\d+>", v)}
    raw_values = at_spans - placeholders
    assert placeholders and raw_values
    page.keyboard.press("Escape")
    page.click("#f-clear")
    page.select_option("#f-tier", "unsafe")
    page.fill("#f-q", hr["path"])
    wait_for_rows(page, "tr => tr.querySelector('.tier').textContent === 'unsafe'")
    page.click(f"#docs tbody tr[data-doc-id='{hr['doc_id']}']")
    page.wait_for_selector("#excerpt mark")

    shown = page.inner_text("#detail")
    assert page.locator("#excerpt mark").count() >= 3
    assert not [v for v in raw_values if v in shown], "a raw personal-data value reached the page"
    raw_span = next(sp for sp in spans if hr["text"][sp["start"] : sp["end"]] in raw_values)
    assert raw_span["masked"] in shown
    assert "[object " not in page.inner_text("body")  # every node went in as a node, not as a string
    page.screenshot(path=str(SCREENSHOT))  # the drill-down open over the table, as a steward sees it
    page.keyboard.press("Escape")
    page.screenshot(path=str(SCREENSHOT.with_name("steward-full.png")), full_page=True)

    with page.expect_download() as download:
        page.click("#export-csv")
    exported = Path(download.value.path()).read_text()
    assert exported.splitlines()[0].startswith("doc_id,title,path") and STEWARD in exported
