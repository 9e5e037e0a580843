// The explorer's entry: sign-in, the catalog, the question in the URL, running it, drawing it.
// The whole question lives in `?q=<native query JSON>`; the key never does.

import { Refused, SignedOut, key, native } from "./api.js";
import { drawFacts, drawRequest, drawTable } from "./answer.js";
import { Builder, defaultQuery } from "./builder.js";
import { drawChart } from "./chart.js";
import { options, tablist } from "./dom.js";
import { showFormats } from "./formats.js";

const $ = (id) => document.getElementById(id);
let builder = null;
let shown = null; // {query, answer} last drawn, redrawn on resize or measure change
let asking = 0; // the latest question: an older answer arriving late is not drawn

function urlQuery() {
  const text = new URLSearchParams(location.search).get("q");
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

function signIn(message) {
  $("signin-view").hidden = false;
  $("explore").hidden = $("formats").hidden = true;
  $("views").hidden = $("signout").hidden = true;
  $("signin-error").textContent = message || "";
  $("signin-error").hidden = !message;
  $("key").focus();
}

// Every failure path funnels here: a refused key shows the sign-in again.
function signedOut(problem) {
  if (!(problem instanceof SignedOut)) return false;
  builder = null;
  signIn(problem.message);
  return true;
}

async function start() {
  let catalog;
  try {
    catalog = (await native("GET", "/v1/datasets")).datasets;
  } catch (problem) {
    if (!signedOut(problem)) signIn(problem.message);
    return;
  }
  $("signin-view").hidden = true;
  $("views").hidden = $("signout").hidden = false;
  $("explore").hidden = $("tab-explore").getAttribute("aria-selected") !== "true";
  $("formats").hidden = !$("explore").hidden;
  builder = new Builder($("builder"), catalog);
  const asked = urlQuery();
  builder.fill(asked || defaultQuery(catalog[0]));
  await run(asked || builder.read(), false);
}

// Ask, then draw. `remember` pushes the question into the history (a new, shareable URL).
async function run(query, remember) {
  if (!query) return;
  if (remember) {
    const search = `?${new URLSearchParams({ q: JSON.stringify(query) })}`;
    if (search !== location.search) history.pushState(null, "", search);
  }
  drawRequest($("request-json"), $("request-curl"), query);
  $("status").textContent = "Asking…";
  $("answer").setAttribute("aria-busy", "true");
  $("run").disabled = true;
  const started = performance.now();
  const ticket = ++asking;
  try {
    const answer = await native("POST", "/v1/query", query);
    if (ticket !== asking) return;
    shown = { query, answer, elapsed: performance.now() - started };
    builder.clearErrors();
    $("status").textContent = `${answer.rows.length} row${answer.rows.length === 1 ? "" : "s"}.`;
    draw();
  } catch (problem) {
    if (signedOut(problem) || ticket !== asking) return;
    $("status").textContent = "The question was refused.";
    if (problem instanceof Refused) builder.showErrors(problem.message, problem.details);
    else builder.showErrors(problem.message, []);
  } finally {
    if (ticket === asking) {
      $("answer").setAttribute("aria-busy", "false");
      $("run").disabled = false;
    }
  }
}

function draw() {
  const { query, answer, elapsed } = shown;
  const labels = Object.keys(answer.meta.exact || {});
  const measures = labels.length ? labels : Object.keys(answer.rows[0] || {});
  const picked = $("chart-measure").value;
  options($("chart-measure"), measures.map((m) => [m]), measures.includes(picked) ? picked : measures[0]);
  $("chart-measure").disabled = measures.length < 2;
  drawFacts($("facts"), answer, elapsed);
  drawChart($("chart"), answer, query, $("chart-measure").value);
  drawTable($("rows"), answer.rows);
}

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  key.set($("key").value.trim());
  $("key").value = "";
  start();
});
$("signout").addEventListener("click", () => { key.clear(); signIn(""); });
$("builder").addEventListener("submit", (event) => {
  event.preventDefault();
  run(builder.read(), true);
});
$("chart-measure").addEventListener("change", () => shown && drawChart($("chart"), shown.answer, shown.query, $("chart-measure").value));
window.addEventListener("popstate", () => {
  if (!builder) return;
  const asked = urlQuery() || defaultQuery(builder.catalog[0]);
  builder.fill(asked);
  run(asked, false);
});
let resizing = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => shown && drawChart($("chart"), shown.answer, shown.query, $("chart-measure").value), 150);
});
tablist($("views"), (tab) => { if (tab.id === "tab-formats") showFormats($("examples"), signedOut); });
tablist($("answer-tabs"));

if (key.get()) start();
else signIn("");
