// Charts drawn as SVG by the page itself: a line per group over time (the compared period
// dashed) when the query has a time bucket, horizontal bars otherwise. Pointer or arrow keys
// show the exact values of the nearest point in a tooltip.

import { formatValue, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = 8;
const MAX_BARS = 50;

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// Round tick values spanning [low, high].
function ticks(low, high, count = 5) {
  if (low === high) { high = low + 1; }
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((m) => m >= raw);
  const found = [];
  for (let v = Math.floor(low / step) * step; v <= high + step / 2; v += step) found.push(Number(v.toPrecision(12)));
  return found;
}

const label = (row, groups) => (groups.length
  ? groups.map((g) => (row[g] === "__other__" ? "other" : row[g] ?? "∅")).join(" · ")
  : "all");

function tooltipLines(title, entries) {
  return [h("strong", { text: title }), ...entries.map(([name, value]) =>
    h("span", { class: "tip-row" }, h("span", { text: name }), h("span", { class: "num", text: value === null || value === undefined ? "—" : String(value) })))];
}

export function drawChart(figure, answer, query, measure) {
  const groups = (query.group_by || []).filter((g) => typeof g === "string");
  const timed = (query.group_by || []).some((g) => typeof g === "object");
  figure.replaceChildren();
  if (!answer.rows.length) {
    figure.append(h("p", { class: "empty", text: "No rows: nothing to draw." }));
    return;
  }
  const width = Math.max(300, figure.clientWidth || 600);
  const chart = timed
    ? lines(answer.rows, groups, measure, width, query.timezone || "UTC")
    : bars(answer.rows, groups, measure, width);
  figure.append(chart.svg, chart.legend || "", chart.tip);
  interact(figure, chart);
}

function lines(rows, groups, measure, width, zone) {
  const height = 300;
  const m = { top: 12, right: 16, bottom: 28, left: 64 };
  const previous = `${measure}_previous`;
  const hasPrevious = rows.some((r) => previous in r);
  const series = new Map();
  for (const row of rows) {
    const key = label(row, groups);
    if (!series.has(key)) series.set(key, []);
    series.get(key).push(row);
  }
  const times = [...new Set(rows.map((r) => Date.parse(r.time)))].sort((a, b) => a - b);
  const values = rows.flatMap((r) => [r[measure], hasPrevious ? r[previous] : null]).filter((v) => typeof v === "number");
  const yTicks = ticks(Math.min(0, ...values), Math.max(0, ...values));
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const x = (t) => m.left + (times.length === 1 ? 0.5 : (times.indexOf(t) / (times.length - 1))) * (width - m.left - m.right);
  const y = (v) => m.top + (1 - (v - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "plot", tabindex: "0", role: "img",
    "aria-label": `${measure} over time, ${series.size} series; arrow keys read the values` });
  const axis = s("g", { class: "axis" });
  for (const v of yTicks) {
    axis.append(s("line", { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end" }, formatValue(v)));
  }
  const stamp = new Intl.DateTimeFormat(undefined, { timeZone: zone, month: "short", day: "numeric",
    ...(times.length > 1 && times[1] - times[0] < 86_400_000 ? { hour: "2-digit", minute: "2-digit" } : {}) });
  const every = Math.max(1, Math.ceil(times.length / Math.max(2, Math.floor(width / 110))));
  times.forEach((t, i) => {
    if (i % every === 0) axis.append(s("text", { x: x(t), y: height - 8, "text-anchor": "middle" }, stamp.format(t)));
  });
  svg.append(axis);
  const path = (points) => points.map(([t, v], i) => `${i && points[i - 1][1] !== null && v !== null ? "L" : "M"}${x(t).toFixed(1)},${v === null ? 0 : y(v).toFixed(1)}`)
    .filter((_, i) => points[i][1] !== null).join("");
  let index = 0;
  const legend = h("ul", { class: "legend", "aria-label": "Series" });
  for (const [key, members] of series) {
    const color = `c${index % COLORS}`;
    const sorted = members.map((r) => [Date.parse(r.time), r[measure] ?? null, r[previous] ?? null]).sort((a, b) => a[0] - b[0]);
    if (hasPrevious) svg.append(s("path", { d: path(sorted.map(([t, , p]) => [t, p])), class: `series previous ${color}`, "data-series": key }));
    svg.append(s("path", { d: path(sorted.map(([t, v]) => [t, v])), class: `series current ${color}`, "data-series": key }));
    if (sorted.length <= 60) {
      for (const [t, v] of sorted) if (v !== null) svg.append(s("circle", { cx: x(t), cy: y(v), r: 2.5, class: `dot ${color}` }));
    }
    legend.append(h("li", {}, h("span", { class: `swatch ${color}` }), key));
    index += 1;
  }
  if (hasPrevious) legend.append(h("li", {}, h("span", { class: "swatch dashed" }), "compared period"));
  const rule = s("line", { y1: m.top, y2: height - m.bottom, class: "rule", visibility: "hidden" });
  svg.append(rule);
  const points = times.map((t) => {
    const at = rows.filter((r) => Date.parse(r.time) === t);
    const entries = at.flatMap((r) => [[label(r, groups), r[measure]], ...(hasPrevious ? [[`${label(r, groups)} (compared)`, r[previous]]] : [])]);
    return { x: x(t), y: m.top, lines: tooltipLines(at[0].time, entries) };
  });
  return { svg, legend, tip: h("div", { class: "tip", role: "status", hidden: true }), points, axis: "x",
    show(point) { rule.setAttribute("x1", point.x); rule.setAttribute("x2", point.x); rule.setAttribute("visibility", point ? "visible" : "hidden"); },
    hide() { rule.setAttribute("visibility", "hidden"); } };
}

function bars(rows, groups, measure, width) {
  const shown = rows.slice(0, MAX_BARS);
  const previous = `${measure}_previous`;
  const hasPrevious = shown.some((r) => previous in r);
  const band = hasPrevious ? 34 : 26;
  const m = { top: 8, right: 72, bottom: 24, left: Math.min(200, Math.round(width * 0.3)) };
  const height = m.top + m.bottom + band * shown.length;
  const values = shown.flatMap((r) => [r[measure], hasPrevious ? r[previous] : null]).filter((v) => typeof v === "number");
  const xTicks = ticks(Math.min(0, ...values), Math.max(0, ...values), Math.max(2, Math.floor(width / 160)));
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const x = (v) => m.left + ((v - x0) / (x1 - x0)) * (width - m.left - m.right);
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "plot", tabindex: "0", role: "img",
    "aria-label": `${measure} per group, ${shown.length} bars; arrow keys read the values` });
  const axis = s("g", { class: "axis" });
  for (const v of xTicks) {
    axis.append(s("line", { x1: x(v), x2: x(v), y1: m.top, y2: height - m.bottom, class: "grid" }),
      s("text", { x: x(v), y: height - 6, "text-anchor": "middle" }, formatValue(v)));
  }
  svg.append(axis);
  const points = shown.map((row, i) => {
    const top = m.top + i * band + 3;
    const name = label(row, groups);
    const value = row[measure];
    const short = name.length > 26 ? `${name.slice(0, 25)}…` : name;
    svg.append(s("text", { x: m.left - 8, y: top + 14, "text-anchor": "end", class: "bar-label" }, s("title", {}, name), short));
    if (typeof value === "number") {
      const [a, b] = [x(Math.min(0, value)), x(Math.max(0, value))];
      svg.append(s("rect", { x: a, y: top, width: Math.max(1, b - a), height: 18, class: "bar c0", "data-series": name }),
        s("text", { x: b + 6, y: top + 14, class: "bar-value" }, formatValue(value)));
    }
    if (hasPrevious && typeof row[previous] === "number") {
      const [a, b] = [x(Math.min(0, row[previous])), x(Math.max(0, row[previous]))];
      svg.append(s("rect", { x: a, y: top + 21, width: Math.max(1, b - a), height: 6, class: "bar previous" }));
    }
    const entries = Object.entries(row).filter(([k]) => !groups.includes(k));
    return { x: x(Math.max(0, value ?? 0)), y: top, lines: tooltipLines(name, entries) };
  });
  const legend = rows.length > MAX_BARS ? h("p", { class: "note", text: `The first ${MAX_BARS} of ${rows.length} rows are drawn; the table has them all.` }) : null;
  return { svg, legend, tip: h("div", { class: "tip", role: "status", hidden: true }), points, axis: "y", show() {}, hide() {} };
}

// The nearest point to the pointer (by x for lines, by y for bars), or the next one by arrow key.
function interact(figure, chart) {
  let current = -1;
  const { svg, tip, points } = chart;
  const show = (i) => {
    current = Math.max(0, Math.min(points.length - 1, i));
    const point = points[current];
    tip.replaceChildren(...point.lines);
    tip.hidden = false;
    chart.show(point);
    const box = svg.getBoundingClientRect();
    const host = figure.getBoundingClientRect();
    const left = Math.min(box.left - host.left + point.x + 12, host.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(4, left)}px`;
    tip.style.top = `${box.top - host.top + point.y}px`;
  };
  const hide = () => { tip.hidden = true; chart.hide(); };
  svg.addEventListener("pointermove", (event) => {
    const box = svg.getBoundingClientRect();
    const at = chart.axis === "x" ? event.clientX - box.left : event.clientY - box.top;
    let best = 0;
    points.forEach((p, i) => {
      const distance = Math.abs((chart.axis === "x" ? p.x : p.y + 9) - at);
      if (distance < Math.abs((chart.axis === "x" ? points[best].x : points[best].y + 9) - at)) best = i;
    });
    show(best);
  });
  svg.addEventListener("pointerleave", hide);
  svg.addEventListener("blur", hide);
  svg.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (step) { event.preventDefault(); show(current + step); }
    if (event.key === "Escape") hide();
  });
}
