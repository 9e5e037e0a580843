// The few DOM and formatting helpers every module uses.

// h("select", {id: "x", onchange: f}, child, ...): attributes, listeners (on*) and children.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function options(select, items, chosen) {
  select.replaceChildren(
    ...items.map(([value, label, disabled]) =>
      h("option", { value, text: label ?? value, disabled: !!disabled })),
  );
  if (chosen !== undefined && items.some(([value]) => value === chosen)) select.value = chosen;
}

const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

// A cell or label: numbers grouped and rounded to 2 decimals (the exact value is in a tooltip).
export function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return NUMBER.format(value);
  return String(value);
}

export function formatMs(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}

// A timestamp as the reader's clock shows it, with how long ago it was.
export function formatInstant(iso) {
  const when = new Date(iso);
  const ago = Date.now() - when.getTime();
  const stamp = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return ago >= 0 ? `${stamp} (${formatMs(ago)} ago)` : stamp;
}

// Roving focus for a role=tablist: arrows move between tabs, each tab shows its panel.
export function tablist(list, onShow) {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  const show = (tab) => {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", String(on));
      other.tabIndex = on ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
    }
    onShow?.(tab);
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => show(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      show(next);
    });
  }
  return show;
}
