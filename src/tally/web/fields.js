// What the catalog says a field accepts, and a picker offering only catalog fields: plain
// columns, and `<json or map column>.<key>` with a key typed by the user.

import { h, options } from "./dom.js";

// The server's rule for a key inside a JSON or map column (tally/query/fields.py).
const KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;
const FAN_OUT = new Set(["string[]", "map<string,float>"]);
let pickers = 0;

const keyed = (column) => column.keys !== undefined && column.keys !== null;

// {ops, measures, type, enum, fansOut} of a field name, or null when the dataset lacks it.
export function fieldInfo(dataset, name) {
  const column = dataset.columns.find((c) => c.name === name);
  if (column && !keyed(column)) {
    return { ops: column.operators, measures: column.measures, type: column.type,
      enum: column.enum, fansOut: FAN_OUT.has(column.type) };
  }
  const dot = name.indexOf(".");
  const parent = dot > 0 && dataset.columns.find((c) => c.name === name.slice(0, dot));
  if (parent && keyed(parent) && KEY.test(name.slice(dot + 1))) {
    const type = parent.type === "json" ? "json" : "float";
    return { ops: parent.keys.operators, measures: parent.keys.measures, type, fansOut: false };
  }
  return null;
}

// A <select> of the columns `want(column)` keeps, plus "<column>.…" for keyed columns, which
// shows a key input. `extra` is a leading [value, label] choice (e.g. "rows" for a count).
export function fieldPicker(dataset, { label, want, extra, onchange }) {
  const id = `field-${++pickers}`;
  const select = h("select", { id, onchange: () => { toggle(); onchange?.(); } });
  const keyInput = h("input", { id: `${id}-key`, type: "text", spellcheck: "false",
    placeholder: "key", pattern: KEY.source, oninput: () => onchange?.() });
  const keyLabel = h("label", { for: `${id}-key`, class: "sr" });
  const choices = [];
  if (extra) choices.push(extra);
  for (const column of dataset.columns) {
    if (keyed(column)) { if (want(column, true)) choices.push([`${column.name}.*`, `${column.name}.<key>`]); }
    else if (want(column, false)) choices.push([column.name, column.name]);
  }
  options(select, choices);
  const keyBox = h("span", { class: "key", hidden: true }, keyLabel, keyInput);
  const node = h("span", { class: "picker" }, h("label", { for: id, class: "sr", text: label }), select, keyBox);

  function toggle() {
    const isKeyed = select.value.endsWith(".*");
    keyBox.hidden = !isKeyed;
    keyLabel.textContent = `${label}: key of ${select.value.slice(0, -2)}`;
  }
  toggle();
  return {
    node,
    select,
    // The field name, "" for the extra choice, null while a key is missing or malformed.
    value() {
      if (!select.value.endsWith(".*")) return select.value;
      const name = keyInput.value.trim();
      keyInput.setAttribute("aria-invalid", String(!KEY.test(name)));
      return KEY.test(name) ? `${select.value.slice(0, -1)}${name}` : null;
    },
    set(name) {
      const dot = name.indexOf(".");
      const parent = `${name.slice(0, dot)}.*`;
      if (dot > 0 && [...select.options].some((o) => o.value === parent) && !choices.some(([v]) => v === name)) {
        select.value = parent;
        keyInput.value = name.slice(dot + 1);
      } else {
        select.value = name;
      }
      toggle();
    },
  };
}
