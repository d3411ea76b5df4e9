// Hand-written SVG charts: sparklines for tables and small line charts with a hover read-out.

import { h, s, fmtTime } from "./dom.js";

const W = 600;
const H = 120;

function maxOf(seriesValues) {
  let m = 0;
  for (const vs of seriesValues) for (const v of vs) if (v != null && isFinite(v) && v > m) m = v;
  return m;
}

// SVG path through the values; a null breaks the line.
function pathFor(values, width, height, max) {
  const n = values.length;
  if (!n) return "";
  const dx = n > 1 ? width / (n - 1) : 0;
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v == null || !isFinite(v)) {
      pen = false;
      return;
    }
    const x = (i * dx).toFixed(1);
    const y = (height - 1 - (max > 0 ? (v / max) * (height - 2) : 0)).toFixed(1);
    const alone = !pen && (i + 1 >= n || values[i + 1] == null);
    d += (pen ? "L" : "M") + x + " " + y + (alone ? "h0.01" : "");
    pen = true;
  });
  return d;
}

// A small trend line for a table cell; `text` is shown beside it.
export function sparkline(values, { cls = "c0", text = "", title = "", test } = {}) {
  const max = maxOf([values]);
  const svg = s(
    "svg",
    { class: "spark", viewBox: "0 0 100 24", preserveAspectRatio: "none", "aria-hidden": "true" },
    s("line", { class: "baseline", x1: 0, x2: 100, y1: 23.5, y2: 23.5, "vector-effect": "non-scaling-stroke" }),
    s("path", { class: ["line", cls], d: pathFor(values, 100, 24, max), "vector-effect": "non-scaling-stroke" }),
  );
  return h("span", { class: "sparkcell", title, test }, svg, h("span", { class: "sparkval" }, text));
}

// A line chart: { title, times: [unix s], series: [{name, values, cls}], format(v) -> text }.
export function lineChart({ title, times, series, format = String, test, unit = "" }) {
  const max = maxOf(series.map((x) => x.values));
  const top = max > 0 ? niceCeil(max) : 1;
  const grid = [0.25, 0.5, 0.75].map((f) =>
    s("line", { class: "gridline", x1: 0, x2: W, y1: (H * f).toFixed(1), y2: (H * f).toFixed(1), "vector-effect": "non-scaling-stroke" }),
  );
  const lines = series.map((x, i) =>
    s("path", { class: ["line", x.cls || "c" + (i % 6)], d: pathFor(x.values, W, H, top), "vector-effect": "non-scaling-stroke" }),
  );
  const cursor = s("line", { class: "cursor", x1: 0, x2: 0, y1: 0, y2: H, "vector-effect": "non-scaling-stroke" });
  const svg = s("svg", { class: "chart-svg", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true" }, grid, lines, cursor);

  const valueEls = series.map(() => h("span", { class: "legend-val" }));
  const when = h("span", { class: "legend-time" });
  const show = (i) => {
    series.forEach((x, k) => {
      const v = i == null ? lastValue(x.values) : x.values[i];
      valueEls[k].textContent = v == null ? "—" : format(v);
    });
    when.textContent = i == null ? "now" : fmtTime(times[i] * 1000);
  };
  show(null);
  const legend = h(
    "div",
    { class: "legend" },
    series.map((x, i) => h("span", { class: "legend-item" }, h("span", { class: ["swatch", x.cls || "c" + (i % 6)] }), x.name + " ", valueEls[i])),
    when,
  );
  const plot = h("div", { class: "plot" }, h("span", { class: "ymax" }, format(top) + unit), svg);
  plot.addEventListener("mousemove", (ev) => {
    const r = svg.getBoundingClientRect();
    if (!times.length || r.width <= 0) return;
    const i = Math.max(0, Math.min(times.length - 1, Math.round(((ev.clientX - r.left) / r.width) * (times.length - 1))));
    const x = times.length > 1 ? (i / (times.length - 1)) * W : 0;
    cursor.setAttribute("x1", x);
    cursor.setAttribute("x2", x);
    cursor.classList.add("on");
    show(i);
  });
  plot.addEventListener("mouseleave", () => {
    cursor.classList.remove("on");
    show(null);
  });
  const axis = h("div", { class: "xaxis" }, h("span", null, times.length ? fmtTime(times[0] * 1000) : ""), h("span", null, times.length ? fmtTime(times[times.length - 1] * 1000) : ""));
  return h("div", { class: "chart", test }, h("div", { class: "chart-head" }, h("h3", null, title), legend), plot, axis);
}

export function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null && isFinite(values[i])) return values[i];
  return null;
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
