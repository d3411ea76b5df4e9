// Events page (#/events): the platform's ordered event stream, history plus live tail, filtered by service, kind and text.

import { api, qs } from "./api.js";
import { h, replace, route, routeQuery, fmtTime, fmtDateTime } from "./dom.js";

export const name = "events";

const KINDS = ["instance_started", "instance_exited", "instance_stopped", "start_failed", "health_changed", "restart", "scaled", "rollout", "config_waiting", "platform", "circuit_changed", "instance_ejected", "deployment", "flag", "chaos"];

function kindClass(e) {
  const m = (e.message || "").toLowerCase();
  if (e.kind === "start_failed" || e.kind === "instance_exited" || m.includes("failed") || m.includes("crash") || m.includes("open")) return "k-bad";
  if (e.kind === "health_changed" && m.includes("critical")) return "k-bad";
  if (e.kind === "scaled" || e.kind === "deployment" || e.kind === "rollout") return "k-info";
  return "k-plain";
}

// One event as a table row (used by the overview and the service page too).
export function eventRow(e) {
  return h(
    "tr",
    { test: "event", data: { kind: e.kind, seq: e.seq } },
    h("td", { class: "time", title: fmtDateTime(e.time_ms) }, fmtTime(e.time_ms)),
    h("td", null, h("span", { class: ["kind", kindClass(e)] }, e.kind)),
    h("td", null, e.service ? h("a", { href: route("service", e.service) }, e.service) : ""),
    h("td", { class: "msg" }, e.message, e.instance ? h("span", { class: "muted small" }, " · " + e.instance) : null),
  );
}

export function mount(root, ctx) {
  document.title = "Events · Shoal";
  const f = { service: ctx.query.get("service") || "", kind: ctx.query.get("kind") || "", text: ctx.query.get("text") || "" };
  const service = h("input", { type: "text", placeholder: "service", value: f.service, test: "filter-service" });
  const kind = h("select", { test: "filter-kind" }, h("option", { value: "" }, "any kind"), KINDS.map((k) => h("option", { value: k, selected: k === f.kind }, k)));
  const text = h("input", { type: "search", placeholder: "text", value: f.text, test: "filter-text" });
  const apply = () => {
    location.hash = routeQuery("events", { service: service.value.trim(), kind: kind.value, text: text.value.trim() });
  };
  for (const el of [service, text]) el.addEventListener("keydown", (ev) => ev.key === "Enter" && apply());
  kind.addEventListener("change", apply);
  const body = h("tbody", { test: "events" });
  const count = h("span", { class: "muted small" });
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Events"), count),
    h("div", { class: "filters" }, service, kind, text, h("button", { type: "button", onclick: apply }, "Filter")),
    h("section", { class: "panel flush" }, h("table", { class: "grid events" }, h("thead", null, h("tr", null, h("th", null, "Time"), h("th", null, "Kind"), h("th", null, "Service"), h("th", null, "What"))), body)),
  );
  const matches = (e) =>
    (!f.service || e.service === f.service) && (!f.kind || e.kind === f.kind) && (!f.text || (e.message + " " + (e.instance || "")).toLowerCase().includes(f.text.toLowerCase()));
  let lastSeq = 0;
  const add = (e) => {
    if (e.seq <= lastSeq || !matches(e)) return;
    lastSeq = e.seq;
    body.prepend(eventRow(e));
    while (body.children.length > 1000) body.lastChild.remove();
    count.textContent = `${body.children.length} shown · live`;
  };
  const buffered = [];
  let loaded = false;
  ctx.onEvent((e) => (loaded ? add(e) : buffered.push(e)));
  api("/api/v1/events" + qs({ service: f.service, kind: f.kind, limit: 500 }), { signal: ctx.signal })
    .then((list) => {
      for (const e of list) add(e);
      loaded = true;
      for (const e of buffered) add(e);
      count.textContent = `${body.children.length} shown · live`;
    })
    .catch((e) => ctx.error(e));
}
