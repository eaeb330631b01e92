// Group decisions on the steward page: what needs a decision by source and reason, and the rules that decide
// a group at once. Loaded after steward.js and uses its helpers (api, el, $, tierBadge, loaders).
"use strict";

async function loadGroups() {
  const [page, rules] = await Promise.all([api("groups?limit=200"), api("rules")]);
  $("groups-count").textContent = `${page.total} group(s)`;
  $("groups-table").tBodies[0].replaceChildren(...page.groups.map(groupRow));
  $("rules").tBodies[0].replaceChildren(...rules.map(ruleRow));
}

function groupRow(g) {
  const outcome = (decision) => (g.outcomes[decision] ? `${g.outcomes[decision].safe} of ${g.documents}` : "-");
  const button = (decision, cls, label) => el("button", { class: cls, type: "button", "data-decision": decision,
    onclick: () => decideGroup(g, decision).catch(groupError) }, label);
  const buttons = [button("approve", "approve", "Approve"), button("reject", "reject", "Reject")];
  if (g.outcomes.redact) buttons.push(button("redact", "", "Redact"));
  const examples = g.examples.map((x) => el("div", { class: "path" }, x.title || x.path));
  return el("tr", { "data-source": g.source, "data-reason": g.reason },
    el("td", {}, g.source), el("td", {}, el("span", { class: "chip" }, g.reason)),
    el("td", { class: "num" }, String(g.documents)), el("td", {}, examples),
    el("td", { class: "num" }, outcome("approve")), el("td", { class: "num" }, outcome("redact")),
    el("td", {}, buttons));
}

function ruleRow(r) {
  const cells = [el("td", {}, `#${r.id}`), el("td", {}, r.at.replace("T", " ")), el("td", {}, r.who),
    el("td", {}, r.decision), el("td", {}, r.source), el("td", {}, el("span", { class: "chip" }, r.reason)),
    el("td", { class: "num" }, String(r.documents)), el("td", {}, r.why)];
  if (r.active) {
    cells.push(el("td", {}, el("button", { type: "button", "data-retire": String(r.id),
      onclick: () => retireRule(r).catch(groupError) }, "Retire")));
  } else {
    cells.push(el("td", { class: "muted" }, `retired by ${r.retired_by}: ${r.retired_why}`));
  }
  return el("tr", { "data-rule": String(r.id), class: r.active ? "" : "muted" }, ...cells);
}

function groupWhy() {
  const why = $("g-why").value.trim();
  if (!why) {
    $("g-why").focus();
    throw new Error("A reason is required.");
  }
  return why;
}

async function decideGroup(g, decision) {
  const why = groupWhy();
  const r = await api("rules", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ source: g.source, reason: g.reason, decision, why }) });
  const index = r.index_change === "removed" ? ` ${r.chunks} chunk(s) left the index.` : "";
  await refreshAfterDecision();
  $("groups-msg").className = "msg ok";
  $("groups-msg").textContent = `Rule #${r.rule.id}: ${decision} ${g.reason} in ${g.source} ` +
    `(${r.documents} documents), applies ${r.applies}.${index}`;
}

async function retireRule(r) {
  const why = groupWhy();
  await api(`rules/${r.id}/retire`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ why }) });
  await refreshAfterDecision();
  $("groups-msg").className = "msg ok";
  $("groups-msg").textContent = `Rule #${r.id} retired: the next run decides without it.`;
}

async function refreshAfterDecision() {
  await Promise.all([loadGroups(), loadSummary(), loadDocuments(), loadAudit()]);
}

function groupError(err) {
  if (err.message === "unauthorised") return;
  $("groups-msg").className = "msg err";
  $("groups-msg").textContent = `Not applied: ${err.message}`;
}
