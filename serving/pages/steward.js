// The steward page: vanilla JS, inline SVG charts, nothing loaded from outside this server.
// Every value from the API goes into the page as text (textContent), never as HTML.
"use strict";

const TIERS = ["safe", "review", "unsafe"];
const COLORS = { safe: "#2e8b57", review: "#d08a00", unsafe: "#c0392b" };
const AGE_COLORS = ["#2f5fb3", "#5b8bd6", "#9bb7e6", "#d6a24a", "#c0392b", "#b8bec8"];
const PAGE_SIZE = 50;
const SVG = "http://www.w3.org/2000/svg";

const state = { offset: 0, total: 0, openDoc: null };
const $ = (id) => document.getElementById(id);

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

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- the token ------------------------------------------------------------------------------------------

function credentials() {
  return { token: sessionStorage.getItem("vetted.steward.token"), name: sessionStorage.getItem("vetted.steward.name") };
}

async function api(path, options = {}) {
  const { token, name } = credentials();
  const headers = { Authorization: `Bearer ${token}`, "X-Steward-Name": encodeURIComponent(name || ""), ...(options.headers || {}) };
  const reply = await fetch(`/steward/api/${path}`, { ...options, headers });
  if (reply.status === 401) {
    signOut("That token was not accepted.");
    throw new Error("unauthorised");
  }
  if (!reply.ok) {
    let detail = reply.statusText;
    try { detail = (await reply.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  if (reply.status === 204) return null;
  return (reply.headers.get("content-type") || "").includes("json") ? reply.json() : reply.text();
}

function signOut(message) {
  sessionStorage.removeItem("vetted.steward.token");
  $("app").hidden = true;
  $("detail").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-msg").textContent = message || "";
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem("vetted.steward.name", $("name").value.trim());
  sessionStorage.setItem("vetted.steward.token", $("token").value.trim());
  $("token").value = "";
  await start();
}

async function start() {
  const { token, name } = credentials();
  if (!token) return signOut("");
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `signed in as ${name || "steward"}`;
  try {
    await Promise.all([loadSummary(), loadDocuments(), loadOverrides(), loadAudit(), loadFeedback(), loadGroups()]);
  } catch (err) {
    if (err.message !== "unauthorised") console.error(err);
  }
}

// --- summary and charts ---------------------------------------------------------------------------------

async function loadSummary() {
  const s = await api("summary");
  const run = s.latest_run || {};
  $("run-id").textContent = run.run_id ? `latest run ${run.run_id}` : "no run yet";
  const cards = [
    ["documents", s.documents, ""],
    ["safe", s.tiers_now.safe, "safe"],
    ["review", s.tiers_now.review, "review"],
    ["unsafe", s.tiers_now.unsafe, "unsafe"],
    ["quarantined", run.quarantined ?? "-", ""],
    ["overrides", s.overrides, ""],
    ["indexed chunks", s.index.n_chunks ?? "-", ""],
  ];
  $("cards").replaceChildren(...cards.map(([label, value, cls]) => el("div", { class: `card ${cls}` }, el("b", {}, String(value)), el("span", {}, label))));
  const series = s.tiers_over_runs.map((r) => ({ label: r.run_id.slice(4, 13), ...r }));
  series.push({ label: "now", ...s.tiers_now });
  $("chart-runs").replaceChildren(stackedBars(series), legend(TIERS, TIERS.map((t) => COLORS[t])));
  $("chart-reasons").replaceChildren(hbars(s.top_reasons));
  $("chart-scores").replaceChildren(histograms(s.score_histograms));
  $("chart-age").replaceChildren(ageBars(s.age_by_source), legend(s.age_by_source.bins, AGE_COLORS));
}

function legend(labels, colors) {
  return el("div", { class: "legend" }, labels.map((l, i) => [el("i", { style: `background:${colors[i]}` }), l]));
}

function stackedBars(series) {
  const W = 320, H = 150, pad = 26, bw = Math.min(36, (W - pad) / series.length - 6);
  const top = Math.max(1, ...series.map((r) => TIERS.reduce((a, t) => a + (r[t] || 0), 0)));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H + 34}`, role: "img", "aria-label": "tiers over runs" });
  root.append(svg("text", { x: 0, y: 10 }, String(top)), svg("line", { x1: pad, x2: W, y1: H, y2: H, stroke: "#ccc" }));
  series.forEach((r, i) => {
    const x = pad + 4 + i * (bw + 6);
    let y = H;
    for (const t of TIERS) {
      const h = ((r[t] || 0) / top) * (H - 14);
      y -= h;
      const rect = svg("rect", { x, y, width: bw, height: h, fill: COLORS[t] });
      rect.append(svg("title", {}, `${r.label}: ${t} ${r[t] || 0}`));
      root.append(rect);
    }
    root.append(svg("text", { x: x + bw / 2, y: H + 12, "text-anchor": "middle" }, r.label));
  });
  return root;
}

function hbars(pairs) {
  const W = 330, row = 16, labelW = 160;
  const top = Math.max(1, ...pairs.map((p) => p[1]));
  const root = svg("svg", { viewBox: `0 0 ${W} ${Math.max(row, pairs.length * row)}`, role: "img", "aria-label": "top reasons" });
  pairs.forEach(([reason, count], i) => {
    const y = i * row;
    const color = /^(pii_|secret_|confidential_)/.test(reason) ? COLORS.unsafe : "#5b8bd6";
    root.append(
      svg("text", { x: labelW - 6, y: y + 12, "text-anchor": "end" }, reason),
      svg("rect", { x: labelW, y: y + 3, width: ((W - labelW - 40) * count) / top, height: row - 6, fill: color }),
      svg("text", { x: labelW + ((W - labelW - 40) * count) / top + 4, y: y + 12 }, String(count)),
    );
  });
  return root;
}

function histograms(hists) {
  const names = Object.keys(hists), cols = 3, cw = 110, ch = 64;
  const root = svg("svg", { viewBox: `0 0 ${cols * cw} ${Math.ceil(names.length / cols) * (ch + 18)}`, role: "img", "aria-label": "score distributions" });
  names.forEach((name, k) => {
    const bins = hists[name], top = Math.max(1, ...bins);
    const ox = (k % cols) * cw, oy = Math.floor(k / cols) * (ch + 18) + 12, bw = (cw - 14) / bins.length;
    root.append(svg("text", { x: ox, y: oy - 2 }, name));
    bins.forEach((n, i) => {
      const h = (n / top) * (ch - 16);
      const rect = svg("rect", { x: ox + i * bw, y: oy + ch - 14 - h, width: bw - 1, height: h, fill: "#2f5fb3" });
      rect.append(svg("title", {}, `${name} ${(i / 10).toFixed(1)}-${((i + 1) / 10).toFixed(1)}: ${n}`));
      root.append(rect);
    });
    root.append(svg("text", { x: ox, y: oy + ch - 3 }, "0"), svg("text", { x: ox + cw - 22, y: oy + ch - 3 }, "1"));
  });
  return root;
}

function ageBars(age) {
  const sources = Object.entries(age.sources), W = 330, row = 18, labelW = 130;
  const top = Math.max(1, ...sources.map(([, bins]) => bins.reduce((a, b) => a + b, 0)));
  const root = svg("svg", { viewBox: `0 0 ${W} ${Math.max(row, sources.length * row)}`, role: "img", "aria-label": "age by source" });
  sources.forEach(([source, bins], i) => {
    const y = i * row;
    let x = labelW;
    root.append(svg("text", { x: labelW - 6, y: y + 12, "text-anchor": "end" }, source));
    bins.forEach((n, b) => {
      const w = ((W - labelW - 10) * n) / top;
      const rect = svg("rect", { x, y: y + 3, width: w, height: row - 6, fill: AGE_COLORS[b] });
      rect.append(svg("title", {}, `${source}, ${age.bins[b]}: ${n}`));
      root.append(rect);
      x += w;
    });
  });
  return root;
}

// --- documents ------------------------------------------------------------------------------------------

function filters() {
  const params = new URLSearchParams({ limit: PAGE_SIZE, offset: state.offset });
  for (const [key, id] of [["tier", "f-tier"], ["source", "f-source"], ["reason", "f-reason"], ["q", "f-q"]]) {
    const value = $(id).value.trim();
    if (value) params.set(key, value);
  }
  return params;
}

function fillSelect(select, counts, allLabel) {
  const current = select.value;
  const options = Object.entries(counts).map(([value, n]) => el("option", { value }, `${value} (${n})`));
  select.replaceChildren(el("option", { value: "" }, allLabel), ...options);
  select.value = current;
}

async function loadDocuments() {
  const data = await api(`documents?${filters()}`);
  state.total = data.total;
  fillSelect($("f-tier"), Object.fromEntries(TIERS.map((t) => [t, data.facets.tiers[t] || 0])), "every tier");
  fillSelect($("f-source"), data.facets.sources, "every source");
  fillSelect($("f-reason"), data.facets.reasons, "every reason");
  $("doc-count").textContent = `${data.total} shown of ${Object.values(data.facets.tiers).reduce((a, b) => a + b, 0)}`;
  const fmt = (v) => (v === null || v === undefined ? "-" : v.toFixed(2));
  const rows = data.rows.map((r) => {
    const tr = el("tr", { "data-doc-id": r.doc_id, onclick: () => openDocument(r.doc_id) },
      el("td", {}, tierBadge(r.tier), r.override ? el("span", { class: "muted", title: `override by ${r.override.who}` }, " ✎") : ""),
      el("td", {}, r.title || "(untitled)"),
      el("td", {}, r.source),
      el("td", { class: "path" }, r.path),
      el("td", {}, r.updated || "unknown"),
      el("td", {}, reasonChips(r.reasons)),
      el("td", { class: "num" }, fmt(r.scores.relevance)),
      el("td", { class: "num" }, fmt(r.scores.trust)),
      el("td", { class: "num" }, fmt(r.scores.quality)));
    if (r.doc_id === state.openDoc) tr.classList.add("open");
    return tr;
  });
  $("docs").tBodies[0].replaceChildren(...rows);
  $("page").textContent = data.total ? `${state.offset + 1}-${Math.min(state.offset + PAGE_SIZE, data.total)} of ${data.total}` : "no match";
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE_SIZE >= data.total;
}

function tierBadge(tier) {
  return el("span", { class: `tier ${tier}` }, tier);
}

function reasonChips(reasons) {
  return reasons.map((r) => el("span", { class: `chip ${(r.match(/^(pii_|secret_|confidential_)/) || [""])[0]}` }, r));
}

function refilter() {
  state.offset = 0;
  loadDocuments().catch(showError);
}

// --- one document ---------------------------------------------------------------------------------------

function segments(pieces) {
  return pieces.map((p) => (p.kind ? el("mark", { title: p.kind }, p.text) : p.text));
}

async function openDocument(docId) {
  state.openDoc = docId;
  for (const tr of $("docs").tBodies[0].rows) tr.classList.toggle("open", tr.dataset.docId === docId);
  const d = await api(`documents/${encodeURIComponent(docId)}`);
  const pane = $("detail");
  const scoreRows = Object.entries(d.scores).map(([name, v]) => el("tr", {}, el("td", {}, name),
    el("td", {}, el("div", { class: "barbox" }, el("div", { class: "bar", style: `width:${Math.round((v ?? 0) * 100)}%` }))),
    el("td", { class: "num" }, v === null ? "-" : v.toFixed(2))));
  const spanRows = d.spans.map((s) => el("tr", {}, el("td", {}, s.kind), el("td", {}, el("mark", {}, s.masked)),
    el("td", { class: "num" }, `${s.start}-${s.end}`)));
  const override = d.override
    ? el("p", {}, "Override: ", tierBadge(d.override.tier), ` by ${d.override.who} at ${d.override.at}: “${d.override.why}”`)
    : el("p", { class: "muted" }, `No override; the run decided ${d.run_tier}.`);
  const spanTitle = `Personal data and secrets: ${d.spans.length}${d.spans_dropped ? ` (+ ${d.spans_dropped} not kept)` : ""}, values masked`;
  const parts = [
    el("button", { class: "close", type: "button", onclick: closeDocument }, "Close ✕"),
    el("h2", {}, d.title || "(untitled)"),
    el("p", {}, tierBadge(d.tier), " ", el("span", { class: "muted" },
      `${d.source} (${d.source_type}) · ${d.path} · updated ${d.updated || "unknown"} (${d.updated_from}) · ${d.chars} chars · ${d.indexed ? "in the index" : "not in the index"}`)),
    override,
    decisionForm(d),
    el("h3", {}, "Reasons"), el("p", {}, reasonChips(d.reasons)),
    el("h3", {}, "Scores"), el("table", { class: "scores" }, el("tbody", {}, scoreRows)),
    el("h3", {}, "Text"), el("div", { class: "excerpt", id: "excerpt" }, segments(d.excerpt), d.excerpt_truncated ? "\n…" : ""),
    d.span_contexts.length
      ? [el("h3", {}, "Further spans in context"), d.span_contexts.map((c) => el("div", { class: "excerpt" }, "…", segments(c), "…"))]
      : [],
    d.spans.length
      ? el("details", { id: "spans" }, el("summary", {}, spanTitle), el("table", {}, el("tbody", {}, spanRows)))
      : []];
  pane.replaceChildren(...parts.flat(Infinity));
  pane.hidden = false;
}

function decisionForm(d) {
  const why = el("textarea", { id: "why", placeholder: "Why? (required: kept with your name in the audit log)", required: "" });
  const msg = el("div", { class: "msg", id: "decision-result" });
  const decide = (tier) => async () => {
    if (!why.value.trim()) {
      msg.className = "msg err";
      msg.textContent = "A reason is required.";
      why.focus();
      return;
    }
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    msg.className = "msg";
    msg.textContent = tier === "safe" ? "Approving and indexing…" : "Rejecting and removing from the index…";
    try {
      const r = await api("overrides", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ doc_id: d.doc_id, tier, why: why.value }) });
      const done = `Stored: ${r.tier} by ${r.who}. Index: ${r.index_change}${r.chunks ? ` (${r.chunks} chunks)` : ""}, build ${r.build_id}.`;
      await Promise.all([openDocument(d.doc_id), loadSummary(), loadDocuments(), loadOverrides(), loadAudit(), loadGroups()]);
      $("decision-result").className = "msg ok";  // the re-opened document shows the override; say what happened
      $("decision-result").textContent = done;
    } catch (err) {
      msg.className = "msg err";
      msg.textContent = `Not applied: ${err.message}`;
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  };
  const form = el("div", { class: "decide" }, el("h3", {}, "Steward decision"), why,
    el("div", { class: "row" },
      el("button", { class: "approve", id: "approve", type: "button", onclick: decide("safe") }, "Approve → safe"),
      el("button", { class: "reject", id: "reject", type: "button", onclick: decide("unsafe") }, "Reject → unsafe")),
    msg);
  return form;
}

function closeDocument() {
  state.openDoc = null;
  $("detail").hidden = true;
  for (const tr of $("docs").tBodies[0].rows) tr.classList.remove("open");
}

// --- overrides and audit --------------------------------------------------------------------------------

async function loadOverrides() {
  const rows = await api("overrides");
  $("overrides").tBodies[0].replaceChildren(...rows.map((o) => el("tr", {}, el("td", {}, o.at.replace("T", " ")),
    el("td", {}, o.who), el("td", {}, tierBadge(o.tier)),
    el("td", { class: "path" }, el("a", { href: "#", onclick: (e) => { e.preventDefault(); openDocument(o.doc_id); } }, o.path || o.doc_id)),
    el("td", {}, o.why))));
}

async function loadFeedback() {
  const items = await api("feedback");
  $("feedback-count").textContent = items.length ? `${items.length} open` : "none open";
  $("feedback-list").replaceChildren(...items.map((item) => {
    const msg = el("div", { class: "msg" });
    const resolve = async (resolution) => {
      await api(`feedback/${encodeURIComponent(item.answer_id)}/resolve`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ resolution }) });
    };
    const sources = item.citations.map((c) => {
      const demote = el("button", { class: "reject", type: "button" }, "Demote source");
      demote.addEventListener("click", async () => {
        demote.disabled = true;
        try {
          const why = `staff feedback on answer ${item.answer_id}: ${item.comment || "thumbs down"}`;
          await api("overrides", { method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ doc_id: c.doc_id, tier: "unsafe", why }) });
          await resolve(`demoted ${c.doc_id}`);
          await Promise.all([loadFeedback(), loadSummary(), loadDocuments(), loadOverrides(), loadAudit(), loadGroups()]);
        } catch (err) { msg.className = "msg err"; msg.textContent = err.message; demote.disabled = false; }
      });
      return el("div", { class: "src" }, el("b", {}, `[${c.n}]`), el("span", { class: "path" }, c.path),
        c.cited_in_answer ? el("span", { class: "chip" }, "cited") : "", el("span", { class: "muted" }, c.chunk_ids.join(", ")), demote);
    });
    const dismiss = el("button", { type: "button" }, "Dismiss: the sources are fine");
    dismiss.addEventListener("click", async () => {
      try { await resolve("dismissed: sources kept"); await loadFeedback(); }
      catch (err) { msg.className = "msg err"; msg.textContent = err.message; }
    });
    return el("div", { class: "fb", "data-answer": item.answer_id },
      el("div", { class: "q" }, item.question), el("div", { class: "ans" }, item.answer),
      el("div", { class: "muted" }, `${item.owner} · ${item.created.replace("T", " ")}` + (item.comment ? ` · “${item.comment}”` : "")),
      ...sources, el("div", { class: "row" }, dismiss), msg);
  }));
}

async function loadAudit() {
  const rows = await api("audit?limit=200");
  $("audit").tBodies[0].replaceChildren(...rows.map((a) => el("tr", {}, el("td", {}, a.at.replace("T", " ")),
    el("td", {}, a.who), el("td", {}, a.action), el("td", { class: "path" }, a.doc_id || ""), el("td", {}, a.detail))));
}

async function exportCsv() {
  const text = await api("overrides.csv");
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const link = el("a", { href: url, download: "vetted-overrides.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function showError(err) {
  if (err.message !== "unauthorised") $("doc-count").textContent = `error: ${err.message}`;
}

// --- wiring ---------------------------------------------------------------------------------------------

let searchTimer = null;
$("login-form").addEventListener("submit", (e) => signIn(e).catch(showError));
$("logout").addEventListener("click", () => signOut(""));
for (const id of ["f-tier", "f-source", "f-reason"]) $(id).addEventListener("change", refilter);
$("f-q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(refilter, 250); });
$("f-clear").addEventListener("click", () => { for (const id of ["f-tier", "f-source", "f-reason", "f-q"]) $(id).value = ""; refilter(); });
$("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadDocuments().catch(showError); });
$("next").addEventListener("click", () => { state.offset += PAGE_SIZE; loadDocuments().catch(showError); });
$("export-csv").addEventListener("click", () => exportCsv().catch(showError));
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDocument(); });
$("name").value = credentials().name || "";
document.addEventListener("DOMContentLoaded", start);  // after steward_groups.js too: start() uses it
