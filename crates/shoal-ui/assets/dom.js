// Element helpers: build the page with createElement and textContent only (never innerHTML), plus formatters.

const SVG_NS = "http://www.w3.org/2000/svg";

// h("a", {href: "#/", class: "x", test: "name", onclick: fn}, "text", child, [more])
// Strings become text nodes; attributes named on* only accept functions (listeners).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

// The same for SVG elements (charts).
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) {
      if (typeof v === "function") el.addEventListener(k.slice(2), v);
      continue; // never an attribute: no event handler from a string
    }
    if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "test") el.dataset.test = v;
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") el[k] = v;
    else if (k === "href") el.setAttribute("href", safeHref(v));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

// Only in-page and same-origin links: anything else becomes "#".
function safeHref(v) {
  const str = String(v);
  return str.startsWith("#") || str.startsWith("/") ? str : "#";
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// A link inside the page: route("service", name) -> "#/service/name".
export function route(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

// "#/logs?service=web&trace=..." from a filter object (empty values dropped).
export function routeQuery(page, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null && v !== false) q.set(k, v);
  const qs = q.toString();
  return "#/" + page + (qs ? "?" + qs : "");
}

// Table from column headers and rows of cells (each cell: node, text, or {cell, class}).
export function table(headers, rows, props = {}) {
  const thead = h("thead", null, h("tr", null, headers.map((t) => (t instanceof Node ? t : h("th", null, t)))));
  const tbody = h("tbody", null, rows);
  return h("table", { class: ["grid", props.class], test: props.test }, thead, tbody);
}

export function empty(text, test) {
  return h("p", { class: "empty", test }, text);
}

export function badge(text, kind, test) {
  return h("span", { class: ["badge", kind && "b-" + kind], test }, text);
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", null, title), children);
}

// Key/value definition list; values are text or nodes.
export function kv(pairs, test) {
  return h(
    "dl",
    { class: "kv", test },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", null, k), h("dd", null, v == null || v === "" ? "—" : v)]),
  );
}

// ---- formatting --------------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function fmtTime(ms) {
  if (ms == null) return "—";
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtTimeMs(ms) {
  const d = new Date(ms);
  return fmtTime(ms) + "." + pad(d.getMilliseconds(), 3);
}

export function fmtDateTime(ms) {
  if (ms == null) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(ms)}`;
}

export function fmtDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

export function fmtAgo(ms) {
  if (ms == null) return "—";
  return fmtDuration((Date.now() - ms) / 1000) + " ago";
}

export function fmtMs(ms) {
  if (ms == null || !isFinite(ms)) return "—";
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 10) return ms.toFixed(1) + " ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

export function fmtUs(us) {
  return fmtMs(us / 1000);
}

export function fmtBytes(b) {
  if (b == null || !isFinite(b)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return (i === 0 ? b : b.toFixed(b < 10 ? 1 : 0)) + " " + units[i];
}

export function fmtRate(r) {
  if (r == null || !isFinite(r)) return "—";
  if (r === 0) return "0";
  if (r < 0.1) return r.toFixed(2);
  if (r < 10) return r.toFixed(1);
  return Math.round(r).toString();
}

export function fmtPct(p) {
  if (p == null || !isFinite(p)) return "—";
  if (p === 0) return "0%";
  if (p < 1) return p.toFixed(2) + "%";
  return p.toFixed(1) + "%";
}
