"""The staff chat page and the stewards' feedback queue in a real browser (Debian's headless Chromium through
Playwright): a staff member signs in with a token, gets a streamed answer with its sources, opens the cited
passage, gives a thumbs-down; a steward sees it in the queue with the chunks shown and demotes the source in
one click; the next answer no longer uses it. Over the real small safe index, real accounts, the real app;
the engine is the loopback streaming stub (the real vLLM server is exercised in test_chat.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.tiers import current_tiers
from pipelines.core.settings import load_settings
from serving.accounts import AccountStore, Role
from serving.chat_store import ChatStore
from serving.engine import free_port
from serving.rag import NO_SAFE_CONTEXT, ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.runtime import running_app
from serving.steward_service import StewardService
from tests.serving.openai_stub import openai_stub
from tests.serving.small_index import LIST_QUESTION, build_small_index
from tests.serving.test_steward_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/chat.png")
REPLY = "Python lists are mutable sequences [1]. Tuples are immutable [1]."
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedder):
    work = build_small_index(tmp_path_factory.mktemp("chat-browser"), embedder)
    settings = load_settings(None, {"paths.work_dir": str(work), "curation.today": "2026-11-26"})
    accounts = AccountStore(settings.layout.steward_db)
    tokens = {}
    for name, role in (("ana", Role.STAFF), ("stella", Role.STEWARD)):
        accounts.add_user(name, role)
        tokens[name] = accounts.issue(name, expires_days=1).token
    with openai_stub() as stub:
        stub.reply = REPLY  # type: ignore[attr-defined]
        llm = make_llm(base_url=f"http://127.0.0.1:{stub.server_port}/v1", model="m", max_tokens=50,
                       temperature=0.0, context_window=2048)  # fmt: skip
        chat = ChatService(SafeRetriever(work, embedder, top_k=3, min_similarity=0.35), llm)
        steward = StewardService(settings, embedder)
        with running_app(chat, host="127.0.0.1", port=free_port(), steward=steward, accounts=accounts) as url:
            yield url, tokens, settings


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def open_tab(browser, errors: list[str]):
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    return tab


def test_a_wrong_token_does_not_sign_in(browser, stack):
    url, _, _ = stack
    errors: list[str] = []
    tab = open_tab(browser, errors)
    tab.goto(url + "/")
    tab.fill("#token", "vt_000000000000_wrong")
    tab.click("#login-form button")
    tab.wait_for_selector("#login-msg:has-text('token rejected')", timeout=WAIT_MS)
    assert tab.is_hidden("#app") and errors == []
    tab.close()


def test_ask_read_the_source_thumbs_down_and_the_steward_demotes_it(browser, stack):
    url, tokens, settings = stack
    errors: list[str] = []
    staff = open_tab(browser, errors)
    staff.goto(url + "/")
    staff.fill("#token", tokens["ana"])
    staff.click("#login-form button")
    staff.wait_for_selector("#question", state="visible")
    staff.fill("#question", LIST_QUESTION)
    staff.click("#send")
    staff.wait_for_selector(".turn .meta", timeout=WAIT_MS)
    assert staff.inner_text(".turn .a") == REPLY  # streamed sentence by sentence, both supported
    assert "verified answer" in staff.inner_text(".turn .meta")
    staff.click(".cite.used[data-n='1']")
    highlighted = staff.inner_text("#excerpt mark")
    assert "mutable sequences" in highlighted and "docs/py.txt" in staff.inner_text("#source")
    staff.fill(".vote input", "says nothing about performance")
    staff.click(".vote button[aria-label='thumbs down']")
    staff.wait_for_selector(".vote :text('sent to the data stewards')", timeout=WAIT_MS)
    staff.screenshot(path=str(SCREENSHOT))  # the answer, its sources, the cited passage marked, the vote
    (item,) = ChatStore(settings.layout.chat_db).queue()
    assert item.owner == "ana" and item.comment == "says nothing about performance"

    steward = open_tab(browser, errors)
    steward.goto(url + "/steward")
    steward.fill("#name", "stella")
    steward.fill("#token", tokens["stella"])
    steward.click("#login-btn")
    steward.wait_for_selector(f".fb[data-answer='{item.answer_id}']", timeout=WAIT_MS)
    assert "says nothing about performance" in steward.inner_text("#feedback")
    steward.click(f".fb[data-answer='{item.answer_id}'] .src:has-text('docs/py.txt') button")
    steward.wait_for_selector("#feedback-count:has-text('none open')", timeout=120_000)
    steward.screenshot(path=str(SCREENSHOT.with_name("steward-feedback.png")), full_page=True)
    assert current_tiers(settings.layout)["py"].tier.value == "unsafe"

    staff.fill("#question", LIST_QUESTION)  # the demoted page leaves answers at once
    staff.click("#send")
    staff.wait_for_selector(".turn:nth-child(2) .meta", timeout=WAIT_MS)
    second = staff.inner_text(".turn:nth-child(2)")
    assert "py page" not in second  # the demoted document is no longer a source
    staff.fill("#question", "zxqv blorp frobnicate wibble quux?")
    staff.click("#send")
    staff.wait_for_selector(".turn:nth-child(3) .a.refusal", timeout=WAIT_MS)
    assert staff.inner_text(".turn:nth-child(3) .a") == NO_SAFE_CONTEXT
    assert "no vetted source" in staff.inner_text(".turn:nth-child(3) .meta")
    assert errors == []
