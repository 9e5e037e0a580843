// The external formats tab: each profile's worked request (from GET /v1/examples, the same
// examples /openapi.json carries), editable, sent to that profile's own endpoint, with the
// raw answer shown as it came.

import { native, send } from "./api.js";
import { h } from "./dom.js";

function card(example, signedOut) {
  const id = `ex-${example.profile}`;
  const query = new URLSearchParams(example.query).toString();
  const url = h("input", { id: `${id}-url`, type: "text", spellcheck: "false",
    value: example.path + (query ? `?${query}` : "") });
  const headers = h("textarea", { id: `${id}-headers`, rows: 3, spellcheck: "false" });
  headers.value = JSON.stringify(example.headers, null, 2);
  const body = h("textarea", { id: `${id}-body`, rows: 10, spellcheck: "false" });
  body.value = example.body === null ? "" : JSON.stringify(example.body, null, 2);
  const status = h("p", { class: "answer-status", role: "status" });
  const output = h("pre", { class: "raw", tabindex: "0", "aria-label": `Answer of ${example.profile}` });
  const sendIt = async () => {
    status.textContent = "Sending…";
    status.className = "answer-status";
    let sentHeaders, sentBody;
    try {
      sentHeaders = headers.value.trim() ? JSON.parse(headers.value) : {};
      sentBody = body.value.trim() ? JSON.parse(body.value) : undefined;
    } catch (problem) {
      status.textContent = `Not JSON: ${problem.message}`;
      status.className = "answer-status error";
      return;
    }
    let answer;
    try {
      answer = await send(example.method, url.value, { headers: sentHeaders, body: sentBody });
    } catch (problem) {
      if (!signedOut(problem)) { status.textContent = problem.message; status.className = "answer-status error"; }
      return;
    }
    status.textContent = `HTTP ${answer.status} · ${Math.round(answer.ms)} ms`;
    status.className = `answer-status ${answer.status < 300 ? "ok" : "error"}`;
    output.textContent = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body, null, 2);
  };
  return h("section", { class: "card example", "data-profile": example.profile, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, example.profile, h("span", { class: "method", text: example.method })),
    h("p", { text: `${example.summary}. Example: ${example.example}.` }),
    h("label", { for: url.id, text: "Path" }), url,
    h("label", { for: headers.id, text: "Headers (JSON)" }), headers,
    example.method === "GET" ? null : h("label", { for: body.id, text: "Body (JSON)" }),
    example.method === "GET" ? null : body,
    h("button", { type: "button", class: "primary", text: `Send to ${example.profile}`, onclick: sendIt }),
    status, output);
}

// Loads the examples once; a failure other than a 401 is shown in place.
export async function showFormats(host, onSignedOut) {
  if (host.dataset.loaded) return;
  try {
    const { examples } = await native("GET", "/v1/examples");
    host.replaceChildren(...examples.map((e) => card(e, onSignedOut)));
    host.dataset.loaded = "yes";
  } catch (problem) {
    if (onSignedOut(problem)) return;
    host.replaceChildren(h("p", { class: "error", role: "alert", text: problem.message }));
  }
}
