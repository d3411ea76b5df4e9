// Errors page (#/errors): errors grouped by service and cause (5xx, crashes, error log lines) with the latest example.

import { api, qs } from "./api.js";
import { h, replace, route, routeQuery, table, badge, empty, fmtAgo, fmtDateTime } from "./dom.js";
import { logLine } from "./page-logs.js";

export const name = "errors";

export function mount(root, ctx) {
  document.title = "Errors · Shoal";
  const q = ctx.query;
  const f = { service: q.get("service") || "", source: q.get("source") || "", since: q.get("since") || "24h" };
  const service = h("input", { type: "text", placeholder: "service", value: f.service, test: "filter-service", size: 16 });
  const source = h("select", { test: "filter-source" }, ["", "http", "crash", "log"].map((v) => h("option", { value: v, selected: v === f.source }, v || "any source")));
  const since = h("select", null, ["1h", "6h", "24h"].map((v) => h("option", { value: v, selected: v === f.since }, "last " + v)));
  const apply = () => {
    location.hash = routeQuery("errors", { service: service.value.trim(), source: source.value, since: since.value });
  };
  service.addEventListener("keydown", (ev) => ev.key === "Enter" && apply());
  source.addEventListener("change", apply);
  since.addEventListener("change", apply);
  const list = h("div", { test: "error-groups" }, empty("Loading…"));
  const count = h("span", { class: "muted small" });
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Errors"), count),
    h("div", { class: "filters" }, service, source, since, h("button", { type: "button", onclick: apply }, "Filter")),
    h("section", { class: "panel" }, list),
  );
  const open = new Set();
  ctx.every(10000, async () => {
    const r = await api("/api/v1/errors" + qs({ service: f.service, source: f.source, since: f.since }), { signal: ctx.signal });
    const groups = r.groups || [];
    count.textContent = `${groups.length} groups, most recent first${r.forgotten ? ` · ${r.forgotten} older groups forgotten` : ""}`;
    if (!groups.length) return replace(list, empty("No errors. 5xx answers, crashes and error-level JSON log lines are grouped here."));
    replace(
      list,
      table(
        ["Service", "Source", "Cause", "Count", "Last seen", "First seen", "Instances"],
        groups.flatMap((g) => groupRows(g, open)),
        { test: "errors-table" },
      ),
    );
  });
}

function groupRows(g, open) {
  const detail = h("td", { colspan: 7 });
  const detailRow = h("tr", { class: "detail-row", hidden: !open.has(g.id) }, detail);
  const toggle = () => {
    if (open.has(g.id)) {
      open.delete(g.id);
      detailRow.hidden = true;
    } else {
      open.add(g.id);
      detailRow.hidden = false;
      loadDetail(g, detail);
    }
  };
  if (open.has(g.id)) loadDetail(g, detail);
  const kind = g.source === "crash" ? "critical" : g.source === "http" ? "warning" : "info";
  return [
    h(
      "tr",
      { test: "error-group", data: { id: g.id } },
      h("td", null, h("a", { href: route("service", g.service) }, g.service)),
      h("td", null, badge(g.source, kind)),
      h("td", { class: "msg" }, h("button", { type: "button", class: "link-like", onclick: toggle, test: "error-toggle" }, g.cause)),
      h("td", { class: "num" }, String(g.count)),
      h("td", { class: "time", title: fmtDateTime(g.last_ms) }, fmtAgo(g.last_ms)),
      h("td", { class: "time", title: fmtDateTime(g.first_ms) }, fmtAgo(g.first_ms)),
      h("td", { class: "small" }, (g.instances || []).join(", ")),
    ),
    detailRow,
  ];
}

function loadDetail(g, cell) {
  replace(cell, empty("Loading the latest example…"));
  api("/api/v1/errors/" + encodeURIComponent(g.id))
    .then((d) => {
      const latest = d.latest || g.latest || {};
      const traceId = latest.trace_id;
      replace(
        cell,
        h("h3", null, "Latest example"),
        traceId ? h("p", null, "Trace ", h("a", { href: route("trace", traceId), test: "trace-link" }, traceId)) : null,
        h("pre", { test: "error-latest" }, JSON.stringify(latest, null, 2)),
        d.trace_logs?.length ? [h("h3", { class: "subhead" }, "Log lines of its trace"), h("div", { class: "logbox short" }, d.trace_logs.map(logLine))] : null,
      );
    })
    .catch((e) => replace(cell, empty("Could not load: " + e.message)));
}
