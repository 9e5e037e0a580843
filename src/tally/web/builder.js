// The question form: built from the catalog, filled from a native query, read back into one.
// It offers only what the catalog allows (a column's measures and operators, grouping fields,
// buckets only on datasets with a time axis, fill only with a bucket, top only with a group).
// Keys of a query it has no control for (having, order_by, limit, scope...) are kept as they
// came, so a shared URL never loses part of its question.

import { h, options } from "./dom.js";
import { fieldInfo, fieldPicker } from "./fields.js";
import { Filters } from "./filters.js";
import { timezones, wallTime, zonedInstant } from "./zones.js";

const OWN = ["dataset", "time", "timezone", "filter", "measures", "group_by", "fill", "compare", "top"];
const BUCKETS = [["", "none"], ["auto", "auto (about 50)"], ["1 minute", "minute"], ["1 hour", "hour"],
  ["1 day", "day"], ["1 week", "week"], ["1 month", "month"]];
const SHORTHANDS = ["p50", "p75", "p90", "p95", "p99"];
const $ = (id) => document.getElementById(id);

export function defaultQuery(dataset) {
  const query = { dataset: dataset.name, measures: [{ op: "count" }] };
  if (dataset.time_column) query.time = { last: "7d" };
  return query;
}

export class Builder {
  constructor(form, catalog) {
    this.form = form;
    this.catalog = catalog;
    options($("dataset"), catalog.map((d) => [d.name]));
    options($("timezone"), timezones().map((z) => [z]));
    $("dataset").addEventListener("change", () => {
      this.fill(defaultQuery(this.catalog.find((d) => d.name === $("dataset").value)));
    });
    $("add-measure").addEventListener("click", () => { this.addMeasure({ op: "count" }).focus(); this.sync(); });
    $("add-group").addEventListener("click", () => { this.addGroup(null).focus(); this.sync(); });
    form.addEventListener("change", () => this.sync());
    form.addEventListener("input", () => this.clearErrors());
  }

  fill(query) {
    this.dataset = this.catalog.find((d) => d.name === query.dataset) || this.catalog[0];
    this.extra = Object.fromEntries(Object.entries(query).filter(([k]) => !OWN.includes(k)));
    $("dataset").value = this.dataset.name;
    const zone = query.timezone || "UTC";
    if (![...$("timezone").options].some((o) => o.value === zone)) $("timezone").append(h("option", { value: zone, text: zone }));
    $("timezone").value = zone;
    $("measure-rows").replaceChildren();
    (query.measures || [{ op: "count" }]).forEach((m) => this.addMeasure(m));
    $("group-rows").replaceChildren();
    const groups = query.group_by || [];
    groups.filter((g) => typeof g === "string").forEach((g) => this.addGroup(g));
    this.bucket = groups.find((g) => typeof g === "object") || null;
    const buckets = [...BUCKETS];
    if (this.bucket && !buckets.some(([v]) => v === this.bucket.time)) buckets.push([this.bucket.time]);
    options($("bucket"), buckets, this.bucket ? this.bucket.time : "");
    this.filters = new Filters($("chips"), $("filter-editor"), this.dataset, () => $("timezone").value, () => this.sync());
    this.filters.set(query.filter);
    this.fillTime(query.time, zone);
    $("fill").value = query.fill || "none";
    $("compare").value = typeof query.compare === "string" ? query.compare : "";
    if (query.compare && typeof query.compare === "object") this.extra.compare = query.compare;
    $("top-on").checked = !!query.top;
    $("top-n").value = query.top ? query.top.n : 5;
    $("top-other").checked = query.top ? query.top.other !== false : true;
    this.clearErrors();
    this.sync();
  }

  fillTime(time, zone) {
    const between = !!(time && time.start);
    $("range-between").checked = between;
    $("range-last").checked = !between;
    if (time && time.last) {
      $("last-n").value = time.last.slice(0, -1);
      $("last-unit").value = time.last.slice(-1);
    }
    if (between) {
      $("start").value = wallTime(time.start, zone);
      $("end").value = wallTime(time.end, zone);
    }
  }

  addMeasure(measure) {
    const { op, field, q, ...kept } = measure;
    const picker = fieldPicker(this.dataset, {
      label: "Measure field",
      extra: ["", "rows"],
      want: (column, isKeyed) => (isKeyed ? column.keys.measures.length > 0 : column.measures.length > 0),
      onchange: () => refresh(),
    });
    const opSelect = h("select", { id: `${picker.select.id}-op`, onchange: () => toggleQ() });
    const qInput = h("input", { id: `${picker.select.id}-q`, type: "number", min: "0.001", max: "0.999", step: "0.001", value: q ?? 0.95 });
    const qBox = h("span", { class: "q" }, h("label", { for: qInput.id, text: "q" }), qInput);
    const row = h("li", { class: "row" },
      picker.node,
      h("label", { for: opSelect.id, class: "sr", text: "Measure" }), opSelect, qBox,
      h("button", { type: "button", class: "remove", "aria-label": "Remove this measure", text: "×",
        onclick: () => { row.remove(); this.sync(); $("add-measure").focus(); } }));
    const refresh = () => {
      const name = picker.value();
      const info = name ? fieldInfo(this.dataset, name) : name === "" ? { measures: ["count"] } : null;
      const allowed = (info ? info.measures : []).flatMap((m) => (m === "percentile" ? [m, ...SHORTHANDS] : [m]));
      options(opSelect, allowed.map((m) => [m, m === "percentile" ? "percentile (q)" : m.replace("_", " ")]), opSelect.value);
      toggleQ();
    };
    const toggleQ = () => { qBox.hidden = opSelect.value !== "percentile"; };
    picker.set(field || "");
    refresh();
    opSelect.value = op;
    toggleQ();
    row.read = () => {
      const name = picker.value();
      if (name === null) return null;
      const built = { op: opSelect.value };
      if (name) built.field = name;
      if (built.op === "percentile") built.q = Number(qInput.value);
      return { ...built, ...kept };
    };
    $("measure-rows").append(row);
    return picker.select;
  }

  addGroup(name) {
    const picker = fieldPicker(this.dataset, {
      label: "Group by field",
      want: (column, isKeyed) => isKeyed || column.type !== "json",
      onchange: () => this.sync(),
    });
    const row = h("li", { class: "row" }, picker.node,
      h("button", { type: "button", class: "remove", "aria-label": "Remove this group", text: "×",
        onclick: () => { row.remove(); this.sync(); $("add-group").focus(); } }));
    if (name) picker.set(name);
    row.picker = picker;
    $("group-rows").append(row);
    return picker.select;
  }

  // Controls that only make sense with another one follow it; nothing invalid stays enabled.
  sync() {
    const timed = !!this.dataset.time_column;
    $("time").hidden = !timed;
    $("bucket-field").hidden = !timed;
    const between = $("range-between").checked;
    $("last-inputs").hidden = between;
    $("between-inputs").hidden = !between;
    const bucketed = timed && $("bucket").value !== "";
    $("fill").disabled = !bucketed;
    if (!bucketed) $("fill").value = "none";
    $("compare").disabled = !timed;
    const groupRows = [...$("group-rows").children];
    $("top-on").disabled = groupRows.length === 0;
    if (groupRows.length === 0) $("top-on").checked = false;
    $("top-n").disabled = $("top-other").disabled = !$("top-on").checked;
    const measureRows = [...$("measure-rows").children];
    measureRows.forEach((row) => { row.querySelector(".remove").disabled = measureRows.length === 1; });
    // At most one array or map field may fan rows out.
    const fans = groupRows.map((row) => fieldInfo(this.dataset, row.picker.select.value)?.fansOut);
    groupRows.forEach((row, i) => {
      const other = fans.some((f, j) => f && j !== i);
      for (const option of row.picker.select.options) {
        option.disabled = other && !!fieldInfo(this.dataset, option.value)?.fansOut;
      }
    });
  }

  // The native query the form shows; tags each control with the JSON pointer it produced, so
  // the server's error paths can be shown next to them. Null if a control is not filled in.
  read() {
    const query = { dataset: this.dataset.name };
    const zone = $("timezone").value;
    let incomplete = false;
    if (this.dataset.time_column) {
      $("time").dataset.path = "/time";
      if ($("range-between").checked) {
        if (!$("start").value || !$("end").value) incomplete = this.mark($("time"), "give a start and an end");
        else query.time = { start: zonedInstant($("start").value, zone), end: zonedInstant($("end").value, zone) };
      } else {
        query.time = { last: `${Math.max(1, Number($("last-n").value) || 1)}${$("last-unit").value}` };
      }
      query.timezone = zone;
    }
    const filter = this.filters.value();
    if (filter) query.filter = filter;
    query.measures = [...$("measure-rows").children].map((row, i) => {
      row.dataset.path = `/measures/${i}`;
      const measure = row.read();
      if (!measure) incomplete = this.mark(row, "type a key");
      return measure;
    });
    const groupBy = [...$("group-rows").children].map((row, i) => {
      row.dataset.path = `/group_by/${i}`;
      const name = row.picker.value();
      if (!name) incomplete = this.mark(row, "type a key");
      return name;
    });
    $("bucket-field").dataset.path = `/group_by/${groupBy.length}`;
    if (this.dataset.time_column && $("bucket").value) {
      const kept = this.bucket && this.bucket.time === $("bucket").value ? this.bucket : {};
      groupBy.push({ ...kept, time: $("bucket").value });
    }
    if (groupBy.length) query.group_by = groupBy;
    if ($("fill").value !== "none") query.fill = $("fill").value;
    if ($("compare").value) query.compare = $("compare").value;
    if ($("top-on").checked) query.top = { n: Number($("top-n").value) || 1, other: $("top-other").checked };
    return incomplete ? null : { ...query, ...this.extra, ...(query.compare ? { compare: query.compare } : {}) };
  }

  mark(where, reason) {
    where.append(h("p", { class: "field-error", role: "alert", text: reason }));
    return true;
  }

  clearErrors() {
    this.form.querySelectorAll(".field-error").forEach((node) => node.remove());
    this.form.querySelectorAll("[aria-invalid=true]").forEach((node) => node.removeAttribute("aria-invalid"));
    $("form-error").hidden = true;
  }

  // Each problem next to the control whose pointer is the longest prefix of its path.
  showErrors(message, details) {
    this.clearErrors();
    const tagged = [...this.form.querySelectorAll("[data-path]")];
    const loose = [];
    for (const { path, reason } of details) {
      const home = tagged
        .filter((node) => path === node.dataset.path || path.startsWith(`${node.dataset.path}/`))
        .sort((a, b) => b.dataset.path.length - a.dataset.path.length)[0];
      const text = `${reason} (at ${path || "/"})`;
      if (!home) { loose.push(text); continue; }
      home.append(h("p", { class: "field-error", role: "alert", text }));
      home.querySelector("select, input")?.setAttribute("aria-invalid", "true");
    }
    $("form-error").textContent = [message, ...loose].join(" — ");
    $("form-error").hidden = false;
  }
}
