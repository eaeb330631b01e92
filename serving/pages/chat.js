// The staff chat page: vanilla JS, nothing loaded from outside this server. Answers stream from POST
// /v1/chat as server-sent events (fetch + a stream reader: EventSource cannot send a token). Every value from
// the API goes into the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "vetted.chat.token";
const state = { conversation: null, busy: false };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function headers() {
  return { Authorization: `Bearer ${sessionStorage.getItem(KEY)}`, "Content-Type": "application/json" };
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("app").hidden = true; $("logout").hidden = true; $("new").hidden = true; $("who").textContent = "";
  $("login").hidden = false; $("login-msg").textContent = message || "";
}

async function signIn(token) {
  sessionStorage.setItem(KEY, token);
  const reply = await fetch("/v1/models", { headers: headers() });
  if (!reply.ok) {
    let detail = reply.statusText;
    try { detail = (await reply.json()).detail; } catch (_) { /* not JSON */ }
    signOut(`Not signed in: ${detail}`);
    return;
  }
  $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false; $("new").hidden = false;
  $("who").textContent = "signed in";
  $("question").focus();
}

// --- the source panel: the excerpt the model was shown, the sentences the answer relied on marked ----------

const WORD = /[a-z0-9_]+/g;
const words = (text) => new Set((text.toLowerCase().match(WORD) || []).filter((w) => w.length > 3));

function showSource(citation, answerText) {
  const citing = answerText.split(/(?<=[.!?])\s+/).filter((s) => s.includes(`[${citation.n}]`));
  const wanted = words(citing.join(" ") || answerText);
  const panel = $("source");
  panel.replaceChildren(
    el("h2", {}, `[${citation.n}] ${citation.title || citation.path}`),
    el("div", { class: "path" }, citation.path + (citation.location ? `, ${citation.location}` : "")),
    el("p", { class: "muted" }, `${citation.source} · tier ${citation.tier}` +
      (citation.updated ? ` · updated ${citation.updated}` : "") + ` · similarity ${citation.score.toFixed(2)}`),
  );
  const box = el("div", { class: "excerpt", id: "excerpt" });
  for (const sentence of citation.excerpt.split(/(?<=[.!?])\s+/)) {
    const own = words(sentence);
    const shared = [...own].filter((w) => wanted.has(w)).length;
    box.append(own.size && shared / own.size >= 0.5 ? el("mark", {}, sentence) : sentence, " ");
  }
  panel.append(box);
}

// --- asking -------------------------------------------------------------------------------------------

function turnView(question) {
  const answer = el("div", { class: "a" });
  const turn = el("div", { class: "turn" }, el("div", { class: "q" }, question), answer);
  $("thread").append(turn);
  return { turn, answer };
}

function finish(view, body) {
  view.answer.textContent = body.answer;
  if (!body.has_safe_context) view.answer.classList.add("refusal");
  const cites = el("div", { class: "cites" });
  for (const c of body.citations) {
    cites.append(el("span", { class: c.cited_in_answer ? "cite used" : "cite", role: "button", tabindex: "0",
      "data-n": String(c.n), onclick: () => showSource(c, body.answer) },
      el("span", { class: "n" }, `[${c.n}] `), c.title || c.path, c.location ? ` (${c.location})` : ""));
  }
  const meta = el("div", { class: "meta" }, body.has_safe_context
    ? `${body.mode} answer · first sentence ${Math.round(body.ttft_ms)} ms` +
      (body.quoted_fallback ? " · quoted from the top source" : "")
    : "no vetted source: the model was not asked");
  view.turn.append(cites, meta, voteView(body.answer_id));
}

function voteView(answerId) {
  const comment = el("input", { type: "text", maxlength: "2000", placeholder: "what was wrong? (optional)" });
  const status = el("span", { class: "muted" });
  const box = el("div", { class: "vote" });
  const send = async (rating, button) => {
    const reply = await fetch("/v1/feedback", { method: "POST", headers: headers(),
      body: JSON.stringify({ answer_id: answerId, rating, comment: comment.value }) });
    box.querySelectorAll("button").forEach((b) => b.classList.remove("chosen"));
    if (reply.ok) { button.classList.add("chosen"); status.textContent = rating === "down" ? "sent to the data stewards" : "thanks"; }
    else status.textContent = `not sent (${reply.status})`;
  };
  const up = el("button", { type: "button", title: "helpful", "aria-label": "thumbs up" }, "Helpful");
  const down = el("button", { type: "button", title: "not helpful", "aria-label": "thumbs down" }, "Not helpful");
  up.addEventListener("click", () => send("up", up));
  down.addEventListener("click", () => send("down", down));
  box.append(up, down, comment, status);
  return box;
}

async function ask(question) {
  const view = turnView(question);
  state.busy = true; $("send").disabled = true;
  try {
    const reply = await fetch("/v1/chat", { method: "POST", headers: headers(),
      body: JSON.stringify({ question, conversation_id: state.conversation, stream: true }) });
    if (reply.status === 401) { signOut("That token was not accepted."); return; }
    if (!reply.ok) {
      let detail = reply.statusText;
      try { detail = (await reply.json()).detail; } catch (_) { /* not JSON */ }
      view.answer.classList.add("error");
      view.answer.textContent = typeof detail === "string" ? detail : JSON.stringify(detail);
      return;
    }
    const reader = reply.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const event = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "null");
        if (event === "delta") view.answer.textContent += data.text;
        else if (event === "answer") { state.conversation = data.conversation_id; finish(view, data); }
        else if (event === "error") { view.answer.classList.add("error"); view.answer.textContent += ` (${data.detail})`; }
      }
    }
  } finally {
    state.busy = false; $("send").disabled = false;
    $("thread").scrollTop = $("thread").scrollHeight;
  }
}

$("login-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
$("logout").addEventListener("click", () => signOut(""));
$("new").addEventListener("click", () => { state.conversation = null; $("thread").replaceChildren(); });
$("ask").addEventListener("submit", (e) => {
  e.preventDefault();
  const question = $("question").value.trim();
  if (!question || state.busy) return;
  $("question").value = "";
  ask(question);
});
if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY)); else signOut("");
