// Traces pages: the recent traces list with filters (#/traces) and one trace's waterfall with its log lines (#/trace/ID).

import { api, qs } from "./api.js";
import { h, replace, route, routeQuery, table, badge, section, empty, kv, fmtUs, fmtTimeMs, fmtDateTime } from "./dom.js";
import { logLine } from "./page-logs.js";

export const name = "traces";

export function mount(root, ctx) {
  document.title = "Traces · Shoal";
  const q = ctx.query;
  const f = { service: q.get("service") || "", min_ms: q.get("min_ms") || "", errors: q.get("errors") === "true" };
  const service = h("input", { type: "text", placeholder: "service", value: f.service, test: "filter-service", size: 16 });
  const minMs = h("input", { type: "number", placeholder: "min ms", value: f.min_ms, min: 0, test: "filter-min-ms" });
  const errors = h("input", { type: "checkbox", checked: f.errors, test: "filter-errors" });
  const apply = () => {
    location.hash = routeQuery("traces", { service: service.value.trim(), min_ms: minMs.value, errors: errors.checked ? "true" : "" });
  };
  for (const el of [service, minMs]) el.addEventListener("keydown", (ev) => ev.key === "Enter" && apply());
  errors.addEventListener("change", apply);
  const list = h("div", { test: "traces" }, empty("Loading traces…"));
  const count = h("span", { class: "muted small" });
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Traces"), count),
    h("div", { class: "filters" }, service, minMs, h("label", { class: "check" }, errors, "only errors"), h("button", { type: "button", onclick: apply }, "Filter")),
    h("section", { class: "panel" }, list),
  );
  ctx.every(10000, async () => {
    const traces = await api("/api/v1/traces" + qs({ service: f.service, min_ms: f.min_ms, errors: f.errors ? "true" : "", limit: 200 }), { signal: ctx.signal });
    count.textContent = `${traces.length} most recent · refreshes every 10 s`;
    replace(
      list,
      traces.length
        ? table(
            ["Started", "Request", "Entry service", "Services", "Spans", "Duration", ""],
            traces.map((t) =>
              h(
                "tr",
                { test: "trace-row", data: { trace: t.trace_id } },
                h("td", { class: "time", title: fmtDateTime(t.start_us / 1000) }, fmtTimeMs(t.start_us / 1000)),
                h("td", null, h("a", { href: route("trace", t.trace_id), test: "trace-link" }, t.root_name || t.trace_id)),
                h("td", null, h("a", { href: route("service", t.root_service) }, t.root_service)),
                h("td", { class: "small" }, (t.services || []).join(", ")),
                h("td", { class: "num" }, String(t.span_count)),
                h("td", { class: "num" }, fmtUs(t.duration_us)),
                h("td", null, t.error ? badge("error", "critical") : null),
              ),
            ),
            { test: "traces-table" },
          )
        : empty("No traces match. Requests through the gateway or between services create them."),
    );
  });
}

// #/trace/ID: the waterfall.
export const trace = {
  name: "trace",
  mount(root, ctx) {
    const id = ctx.params[0];
    document.title = "Trace " + id.slice(0, 8) + " · Shoal";
    const headEl = h("div", { class: "page-head" }, h("h1", null, "Trace ", h("code", { test: "trace-id" }, id)));
    const summary = h("div");
    const wf = h("section", { class: "panel flush", test: "waterfall" }, empty("Loading…"));
    const logs = h("div", { class: "logbox short", test: "trace-logs" });
    replace(root, headEl, summary, wf, section("Log lines of this trace", h("div", { class: "panel flush" }, logs), h("p", null, h("a", { href: routeQuery("logs", { trace: id, since: "24h" }) }, "Open in the log search →"))));
    Promise.all([api("/api/v1/traces/" + encodeURIComponent(id), { signal: ctx.signal }), api("/api/v1/logs" + qs({ trace: id, since: "24h", limit: 500 }), { signal: ctx.signal })])
      .then(([t, lines]) => {
        replace(
          summary,
          h(
            "section",
            { class: "panel" },
            kv([
              ["started", fmtDateTime(t.start_us / 1000)],
              ["duration", fmtUs(t.duration_us)],
              ["services", (t.services || []).join(", ")],
              ["spans", String(t.spans.length)],
              ["status", t.error ? badge("error", "critical") : badge("ok", "ok")],
            ]),
          ),
        );
        replace(wf, waterfall(t));
        replace(logs, lines.length ? lines.map(logLine) : h("p", { class: "empty pad" }, "No log line carries this trace id."));
      })
      .catch((e) => {
        replace(wf, empty(e.status === 404 ? "No such trace (it may have aged out)." : "Could not load the trace."));
        if (e.status !== 404) ctx.error(e);
      });
  },
};

function waterfall(t) {
  const start = t.start_us;
  const total = Math.max(1, t.duration_us);
  const rows = t.spans.map((sp) => {
    const bar = h("span", { class: ["wf-bar", (sp.status >= 500 || sp.reason) && "err"], title: `${fmtUs(sp.duration_us)} starting at +${fmtUs(sp.start_us - start)}` });
    bar.style.left = ((100 * (sp.start_us - start)) / total).toFixed(2) + "%";
    bar.style.width = Math.max(0.3, (100 * sp.duration_us) / total).toFixed(2) + "%";
    const indent = h("span", { class: "indent" });
    indent.style.width = sp.depth * 18 + "px";
    const details = [sp.caller + " → " + sp.service, "v" + sp.version, sp.instance, sp.retries ? sp.retries + " retries" : null, sp.reason ? "reason: " + sp.reason : null, sp.flags ? "flags " + sp.flags : null].filter(Boolean).join(" · ");
    return h(
      "div",
      { class: "wf-row", test: "span", data: { span: sp.span_id, service: sp.service } },
      h(
        "div",
        { class: "wf-name", title: details },
        indent,
        h("a", { href: route("service", sp.service), class: "strong" }, sp.service),
        " ",
        h("span", { class: "mono small" }, `${sp.method} ${sp.path}`),
        " ",
        badge(String(sp.status), sp.status >= 500 ? "critical" : sp.status >= 400 ? "warning" : "ok"),
        h("div", { class: "muted small wf-detail" }, details),
      ),
      h("div", { class: "wf-track" }, bar),
      h("div", { class: "wf-dur" }, fmtUs(sp.duration_us)),
    );
  });
  return [h("div", { class: "wf-row head" }, h("div", null, "Span"), h("div", null, "Timeline (0 – " + fmtUs(total) + ")"), h("div", { class: "wf-dur" }, "Duration")), rows];
}
