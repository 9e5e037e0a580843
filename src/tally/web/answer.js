// The answer's text parts: the rows as a sortable table, the facts strip (cache, age,
// watermark, timing, rows, exactness) and the request as JSON and as curl.

import { formatInstant, formatMs, formatValue, h } from "./dom.js";

export function drawTable(host, rows) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const numeric = new Set(columns.filter((c) => rows.some((r) => typeof r[c] === "number")));
  const body = h("tbody");
  let order = { column: null, dir: 1 };
  const fillBody = (sorted) => body.replaceChildren(...sorted.map((row) => h("tr", {}, columns.map((c) => {
    const value = row[c];
    return h("td", { class: numeric.has(c) ? "num" : undefined, "data-value": JSON.stringify(value ?? null),
      title: typeof value === "number" ? String(value) : undefined, text: formatValue(value) });
  }))));
  const sortBy = (column, button) => {
    order = { column, dir: order.column === column ? -order.dir : 1 };
    const compare = (a, b) => {
      const [x, y] = [a[column], b[column]];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1; // nulls last, either way
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * order.dir;
    };
    fillBody([...rows].sort(compare));
    for (const th of head.querySelectorAll("th")) th.removeAttribute("aria-sort");
    button.parentElement.setAttribute("aria-sort", order.dir === 1 ? "ascending" : "descending");
  };
  const head = h("tr", {}, columns.map((c) => {
    const button = h("button", { type: "button", text: c });
    button.addEventListener("click", () => sortBy(c, button));
    return h("th", { scope: "col", class: numeric.has(c) ? "num" : undefined }, button);
  }));
  fillBody(rows);
  host.replaceChildren(rows.length
    ? h("table", {}, h("caption", { class: "sr", text: "The answer's rows; column headers sort" }), h("thead", {}, head), body)
    : h("p", { class: "empty", text: "No rows." }));
}

export function drawFacts(host, answer, elapsed) {
  const meta = answer.meta;
  const cache = meta.cache || {};
  const timing = Object.entries(meta.timing_ms || {}).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(" · ");
  const exact = Object.entries(meta.exact || {});
  const facts = [
    ["Cache", cache.hit ? (cache.stale ? "hit (stale)" : "hit") : "miss", cache.hit ? "hit" : "miss"],
    ["Age", formatMs(cache.age_ms || 0)],
    ["Data up to", meta.watermark ? formatInstant(meta.watermark) : "no data"],
    ["Timing", `${timing || "—"} · ${Math.round(elapsed)} ms round trip`],
    // total_rows counts the groups before fill; only a cut (limit, max rows) shows "of".
    ["Rows", meta.total_rows > answer.rows.length
      ? `${answer.rows.length} of ${meta.total_rows}` : String(answer.rows.length)],
    ...(meta.total_groups !== undefined && meta.total_groups !== null ? [["Groups", String(meta.total_groups)]] : []),
    ["Exact", exact.length ? exact.map(([m, ok]) => `${m} ${ok ? "exact" : "approximate"}`).join(" · ") : "—",
      exact.every(([, ok]) => ok) ? "exact" : "approx"],
  ];
  host.replaceChildren(...facts.map(([name, value, tone]) =>
    h("div", { class: `fact ${tone || ""}`, "data-fact": name.toLowerCase() }, h("dt", { text: name }), h("dd", { text: value }))));
  for (const warning of meta.warnings || []) {
    host.append(h("div", { class: "fact warn" }, h("dt", { text: "Warning" }), h("dd", { text: warning })));
  }
}

// The JSON and a curl command that sends it again (the key as $TALLY_KEY, never its value).
export function drawRequest(jsonHost, curlHost, query) {
  const json = JSON.stringify(query, null, 2);
  jsonHost.textContent = json;
  const quoted = `'${JSON.stringify(query).replaceAll("'", "'\\''")}'`;
  curlHost.textContent = [
    `curl -s ${location.origin}/v1/query`,
    `  -H "Authorization: Bearer $TALLY_KEY"`,
    `  -H 'Content-Type: application/json'`,
    `  -d ${quoted}`,
  ].join(" \\\n");
}
