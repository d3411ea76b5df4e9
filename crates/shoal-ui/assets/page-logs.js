// Logs page (#/logs): search the central log and tail it live; filters by service, instance, level, text and field.

import { api, follow, qs } from "./api.js";
import { h, replace, route, routeQuery, fmtTimeMs, fmtDateTime } from "./dom.js";

export const name = "logs";

const MAX_LINES = 2000;

function levelOf(l) {
  const f = l.fields || {};
  const lv = f.level ?? f.lvl ?? f.severity;
  if (lv != null) return String(lv).toLowerCase();
  if (l.stream === "system") return f.kind === "access" ? "access" : "system";
  return l.stream === "stderr" ? "stderr" : "";
}

// The line's text with its trace id (when it carries one) as a link to the waterfall.
function lineText(l) {
  const text = l.line ?? "";
  const id = l.trace_id;
  if (!id) return [text];
  const at = text.indexOf(id);
  const link = h("a", { href: route("trace", id), class: "tracelink", test: "trace-link", title: "open the trace waterfall" }, id);
  if (at < 0) return [text, " ", h("span", { class: "muted" }, "trace "), link];
  return [text.slice(0, at), link, text.slice(at + id.length)];
}

// One log line as a row (also used by the trace and error pages).
export function logLine(l) {
  const lv = levelOf(l);
  return h(
    "div",
    { class: "logline", test: "log-line", data: { seq: l.seq } },
    h("span", { class: "time", title: fmtDateTime(l.time_ms) }, fmtTimeMs(l.time_ms)),
    h("span", { class: "src", title: `${l.service} v${l.version} ${l.instance}` }, h("a", { href: route("service", l.service) }, l.service), " ", l.instance),
    h("span", { class: ["lvl", lv && "lvl-" + lv.replace(/[^a-z]/g, "")] }, lv),
    h("span", { class: "text" }, lineText(l)),
  );
}

export function mount(root, ctx) {
  document.title = "Logs · Shoal";
  const q = ctx.query;
  const f = {
    service: q.get("service") || "",
    instance: q.get("instance") || "",
    level: q.get("level") || "",
    grep: q.get("grep") || "",
    field: q.get("field") || "",
    trace: q.get("trace") || "",
    since: q.get("since") || "1h",
  };
  const service = h("select", { test: "filter-service" }, h("option", { value: "" }, "all services"));
  if (f.service) service.append(h("option", { value: f.service, selected: true }, f.service));
  const instance = h("input", { type: "text", placeholder: "instance", value: f.instance, test: "filter-instance", size: 18 });
  const level = h("select", { test: "filter-level" }, ["", "debug", "info", "warn", "error"].map((v) => h("option", { value: v, selected: v === f.level }, v || "any level")));
  const grep = h("input", { type: "search", placeholder: "text contains…", value: f.grep, test: "filter-grep", size: 24 });
  const field = h("input", { type: "text", placeholder: "field KEY=VALUE", value: f.field, test: "filter-field", size: 18 });
  const since = h("select", { test: "filter-since" }, ["5m", "15m", "1h", "6h", "24h"].map((v) => h("option", { value: v, selected: v === f.since }, "last " + v)));
  const apply = () => {
    location.hash = routeQuery("logs", { service: service.value, instance: instance.value.trim(), level: level.value, grep: grep.value, field: field.value.trim(), trace: f.trace, since: since.value });
  };
  for (const el of [instance, grep, field]) el.addEventListener("keydown", (ev) => ev.key === "Enter" && apply());
  for (const el of [service, level, since]) el.addEventListener("change", apply);

  const box = h("div", { class: "logbox", test: "log-lines" });
  const status = h("span", { class: "muted small", test: "tail-status" }, "loading…");
  let paused = false;
  const held = [];
  const pause = h("button", { type: "button", test: "tail-pause" }, "Pause");
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      for (const l of held.splice(0)) add(l);
      scrollDown(true);
    }
    showStatus();
  });
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Logs"), status, h("div", { class: "actions" }, pause)),
    h("div", { class: "filters" }, service, instance, level, grep, field, since, h("button", { type: "button", onclick: apply, test: "filter-apply" }, "Search"), f.trace ? h("span", { class: "chip" }, "trace " + f.trace + " ", h("a", { href: routeQuery("logs", { ...f, trace: "" }) }, "×")) : null),
    h("section", { class: "panel flush" }, box),
  );

  api("/api/v1/services", { signal: ctx.signal })
    .then((list) => {
      for (const s of list) if (s.name !== f.service) service.append(h("option", { value: s.name }, s.name));
    })
    .catch(() => {});

  // The level goes to the server as `field=level=…` unless a field filter is set; then it is checked here.
  const serverField = f.field || (f.level ? "level=" + f.level : "");
  const localLevel = f.field && f.level ? f.level : "";
  const params = { service: f.service, instance: f.instance, grep: f.grep, field: serverField, trace: f.trace };
  let lastSeq = 0;
  let count = 0;
  let live = "connecting";
  const showStatus = () => {
    status.textContent = `${count} lines · ${paused ? `paused (${held.length} new)` : "live tail: " + (live === "live" ? "connected" : live)}`;
  };
  const nearBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const scrollDown = (force) => {
    if (force || nearBottom()) box.scrollTop = box.scrollHeight;
  };
  const add = (l) => {
    if (l.seq <= lastSeq) return;
    lastSeq = l.seq;
    if (localLevel && levelOf(l) !== localLevel) return;
    box.append(logLine(l));
    count++;
    while (box.children.length > MAX_LINES) box.firstChild.remove();
  };
  // local: this node's lines, as the live tail is; in cluster mode the API would gather
  // every node's, whose sequence numbers (each node's own) the tail cannot resume after.
  api("/api/v1/logs" + qs({ ...params, since: f.since, limit: 500, local: "true" }), { signal: ctx.signal })
    .then((lines) => {
      for (const l of lines) add(l);
      if (!count) box.append(h("p", { class: "empty pad", test: "no-lines" }, "No lines match yet; new ones appear here as they are written."));
      showStatus();
      scrollDown(true);
      follow(
        () => "/api/v1/logs/stream" + qs({ ...params, after: lastSeq || null }),
        (l) => {
          box.querySelector("[data-test=no-lines]")?.remove();
          if (paused) {
            if (l.seq > lastSeq && held.length < MAX_LINES) held.push(l);
          } else {
            const stick = nearBottom();
            add(l);
            if (stick) box.scrollTop = box.scrollHeight;
          }
          showStatus();
        },
        { signal: ctx.signal, onState: (s) => ((live = s), showStatus()) },
      );
    })
    .catch((e) => ctx.error(e));
}
