// Filters as chips. Each chip holds one filter node of the query: a leaf built here, or any
// tree that came in through the URL (shown as JSON, kept as it is). One chip is the query's
// filter; several are ANDed. The editor offers a field's own operators only, and a value input
// that fits the operator and the column's type.

import { h, options } from "./dom.js";
import { fieldInfo, fieldPicker } from "./fields.js";
import { zonedInstant } from "./zones.js";

const LIST = new Set(["in", "nin", "has_any", "has_all", "has_none"]);
const NO_VALUE = new Set(["is_null", "not_null", "is_empty", "not_empty"]);
const ORDER = new Set(["gt", "gte", "lt", "lte", "between"]);
const TEXT = new Set(["contains", "not_contains", "starts_with", "ends_with", "like"]);
const LABELS = {
  eq: "=", neq: "≠", in: "in", nin: "not in", gt: ">", gte: "≥", lt: "<", lte: "≤",
  between: "between", contains: "contains", not_contains: "does not contain",
  starts_with: "starts with", ends_with: "ends with", like: "like", is_null: "is empty",
  not_null: "is set", has_any: "has any of", has_all: "has all of", has_none: "has none of",
  is_empty: "has no items", not_empty: "has items",
};

export function describeFilter(node) {
  if (node && typeof node.field === "string" && typeof node.op === "string") {
    const value = node.value === undefined ? "" : ` ${Array.isArray(node.value) ? node.value.join(", ") : node.value}`;
    return `${node.field} ${LABELS[node.op] || node.op}${value}`;
  }
  return JSON.stringify(node);
}

// One scalar from text, by the field's type; throws a message the editor shows.
function scalar(text, info, op, zone) {
  const raw = text.trim();
  if (info.type === "int") {
    if (!/^-?\d+$/.test(raw)) throw new Error("expected a whole number");
    return Number(raw);
  }
  if (info.type === "float") {
    if (raw === "" || Number.isNaN(Number(raw))) throw new Error("expected a number");
    return Number(raw);
  }
  if (info.type === "decimal") {
    // sent as text: the server reads a numeric string digit for digit (exact money)
    if (!/^-?\d+(\.\d+)?$/.test(raw)) throw new Error("expected a number like 12.30");
    return raw;
  }
  if (info.type === "bool") return raw === "true";
  if (info.type === "timestamp") {
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(raw)) throw new Error("expected a date and time");
    return zonedInstant(raw, zone);
  }
  if (info.type === "date") {
    if (!/^\d{4}-\d\d-\d\d$/.test(raw)) throw new Error("expected a date");
    return raw;
  }
  if (raw === "") throw new Error("expected a value");
  if (info.enum && !TEXT.has(op) && !info.enum.includes(raw)) {
    throw new Error(`expected one of ${info.enum.join(", ")}`);
  }
  // A JSON key compares as a number when it looks like one and the operator orders values.
  if (info.type === "json" && ORDER.has(op) && !Number.isNaN(Number(raw))) return Number(raw);
  return raw;
}

function valueInput(info, op, id) {
  const base = { id, class: "value" };
  if (info.type === "bool") {
    const select = h("select", base);
    options(select, [["true"], ["false"]]);
    return select;
  }
  if (info.enum && !LIST.has(op) && !TEXT.has(op)) {
    const select = h("select", base);
    options(select, info.enum.map((v) => [v]));
    return select;
  }
  if (LIST.has(op)) return h("input", { ...base, type: "text", placeholder: "a, b, c" });
  const type = { timestamp: "datetime-local", date: "date", int: "number", float: "number", decimal: "number" }[info.type];
  const step = info.type === "float" || info.type === "decimal" ? "any" : undefined;
  return h("input", { ...base, type: type || "text", step });
}

export class Filters {
  constructor(list, editor, dataset, zone, changed) {
    this.list = list;
    this.editor = editor;
    this.dataset = dataset;
    this.zone = zone;
    this.changed = changed;
    this.nodes = [];
    this.buildEditor();
  }

  set(filter) {
    this.nodes = !filter ? [] : filter.and ? [...filter.and] : [filter];
    this.render();
  }

  // The query's filter: nothing, the one node, or the nodes ANDed; paths tag each chip.
  value() {
    const chips = [...this.list.children];
    chips.forEach((chip, i) => { chip.dataset.path = this.nodes.length === 1 ? "/filter" : `/filter/and/${i}`; });
    if (this.nodes.length === 0) return undefined;
    return this.nodes.length === 1 ? this.nodes[0] : { and: [...this.nodes] };
  }

  render() {
    this.list.replaceChildren(...this.nodes.map((node, i) => {
      const text = describeFilter(node);
      return h("li", { class: "chip" }, h("span", { text }),
        h("button", { type: "button", "aria-label": `Remove filter ${text}`, text: "×",
          onclick: () => { this.nodes.splice(i, 1); this.render(); this.changed(); this.focusAfterRemove(); } }));
    }));
  }

  focusAfterRemove() {
    const next = this.list.querySelector("button") || this.picker.select;
    next.focus();
  }

  buildEditor() {
    this.picker = fieldPicker(this.dataset, {
      label: "Filter field",
      want: (column, isKeyed) => (isKeyed ? column.keys.operators.length > 0 : column.operators.length > 0),
      onchange: () => this.refreshOps(),
    });
    this.op = h("select", { id: "filter-op", onchange: () => this.refreshValue() });
    this.valueBox = h("span", { class: "values" });
    this.problem = h("p", { class: "error", role: "alert", hidden: true });
    this.editor.replaceChildren(
      this.picker.node,
      h("label", { for: "filter-op", class: "sr", text: "Filter operator" }), this.op,
      this.valueBox,
      h("button", { type: "button", class: "quiet", id: "add-filter", text: "+ Add filter", onclick: () => this.add() }),
      this.problem,
    );
    this.refreshOps();
  }

  info() {
    const name = this.picker.value();
    const probe = name ? name : `${this.picker.select.value.slice(0, -1)}key`;
    return fieldInfo(this.dataset, probe);
  }

  refreshOps() {
    const info = this.info();
    const chosen = this.op.value;
    options(this.op, (info ? info.ops : []).map((op) => [op, LABELS[op] || op]), chosen);
    this.refreshValue();
  }

  refreshValue() {
    const info = this.info();
    const op = this.op.value;
    this.inputs = [];
    if (info && !NO_VALUE.has(op)) {
      const count = op === "between" ? 2 : 1;
      for (let i = 0; i < count; i += 1) {
        const id = `filter-value-${i}`;
        const label = op === "between" ? ["Filter from", "Filter to"][i] : "Filter value";
        this.inputs.push(valueInput(info, op, id));
        this.inputs[i].dataset.label = label;
      }
    }
    this.valueBox.replaceChildren(...this.inputs.flatMap((input) => [
      h("label", { for: input.id, class: "sr", text: input.dataset.label }), input]));
  }

  add() {
    const field = this.picker.value();
    const info = field && fieldInfo(this.dataset, field);
    this.problem.hidden = true;
    try {
      if (!info) throw new Error("choose a field (and a valid key)");
      const op = this.op.value;
      const zone = this.zone();
      const leaf = { field, op };
      if (LIST.has(op)) {
        const items = this.inputs[0].value.split(",").filter((s) => s.trim() !== "");
        if (items.length === 0) throw new Error("expected one or more values, separated by commas");
        leaf.value = items.map((s) => scalar(s, info, op, zone));
      } else if (op === "between") {
        leaf.value = this.inputs.map((input) => scalar(input.value, info, op, zone));
      } else if (!NO_VALUE.has(op)) {
        leaf.value = scalar(this.inputs[0].value, info, op, zone);
      }
      this.nodes.push(leaf);
      this.render();
      this.inputs.forEach((input) => { if (input.tagName === "INPUT") input.value = ""; });
      this.changed();
    } catch (problem) {
      this.problem.textContent = problem.message;
      this.problem.hidden = false;
    }
  }
}
