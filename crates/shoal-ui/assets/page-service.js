// Service page (#/service/NAME): instances, traffic by version, resilience, scaling, deployments, config and actions.

import { api, metricNames, metric, can } from "./api.js";
import { h, replace, route, routeQuery, table, badge, section, empty, kv, fmtRate, fmtPct, fmtMs, fmtBytes, fmtDuration, fmtDateTime, fmtAgo, fmtTime } from "./dom.js";
import { lineChart, lastValue } from "./charts.js";
import { traffic, recent as recentAvg } from "./metrics.js";
import { healthBadge, circuitBadge, instanceHealthBadge, versionChips, deploymentProgress, progressBar, deploymentCell } from "./fleet.js";
import { actionButton, confirmAction } from "./actions.js";
import { eventRow } from "./page-events.js";

export const name = "service";

export function mount(root, ctx) {
  const svcName = ctx.params[0];
  document.title = svcName + " · Shoal";
  const head = h("div", { class: "page-head" }, h("h1", { test: "service-name" }, svcName));
  const rollout = h("div", { test: "rollout" });
  const instances = h("div", { test: "instances" }, empty("Loading instances…"));
  const charts = h("div", { class: "charts", test: "charts" });
  const resilience = h("div", { test: "resilience" });
  const scale = h("div", { test: "scale" });
  const history = h("div", { test: "history" });
  const config = h("div", { test: "config" });
  const eventsBody = h("tbody", { test: "service-events" });
  replace(
    root,
    head,
    rollout,
    section("Instances", instances),
    h("h2", { class: "subhead" }, "Traffic and resources · last 15 minutes"),
    charts,
    h("div", { class: "two" }, section("Resilience", resilience), section("Scaling", scale)),
    section("Deployments", history),
    h("div", { class: "two" }, section("Configuration", config), section("Events", h("table", { class: "grid events" }, eventsBody))),
  );

  let eventsLoaded = false;
  const addEvent = (e) => {
    eventsBody.prepend(eventRow(e));
    while (eventsBody.children.length > 20) eventsBody.lastChild.remove();
  };
  ctx.onEvent((e) => {
    if (e.service !== svcName) return;
    if (eventsLoaded) addEvent(e);
    refresher.soon();
  });

  let known = null;
  let lastSpec = null;
  const refresher = ctx.every(5000, async () => {
    if (!known) known = await metricNames();
    const enc = encodeURIComponent(svcName);
    const show = await api("/api/v1/services/" + enc, { signal: ctx.signal });
    const [proxy, hist, t, sheds, events] = await Promise.all([
      api("/api/v1/proxy", { signal: ctx.signal }),
      show.service.external ? [] : api("/api/v1/deployments/" + enc + "/history", { signal: ctx.signal }).catch(() => []),
      traffic({ by: "version", resourceBy: "instance", labels: "service=" + svcName, since: "15m", step: "10s", known }),
      metric("shoal_shed_total", { labels: "service=" + svcName, agg: "last", since: "1h", step: "1h", by: "caller,reason" }, known),
      eventsLoaded ? null : api("/api/v1/events?limit=20&service=" + enc, { signal: ctx.signal }),
    ]);
    if (ctx.signal.aborted) return;
    if (events) {
      for (const e of events) addEvent(e);
      eventsLoaded = true;
    }
    const p = proxy.services?.[svcName];
    const dep = hist[0];
    renderHead(head, show, dep, svcName);
    renderRollout(rollout, dep, svcName);
    replace(instances, instancesTable(show.instances, p, t));
    replace(charts, chartsFor(t, show));
    replace(resilience, resilienceView(p, show.spec, sheds));
    replace(scale, scaleView(show));
    replace(history, historyTable(hist));
    const specJson = JSON.stringify(show.spec);
    if (specJson !== lastSpec) {
      lastSpec = specJson;
      replace(config, configView(show.spec));
    }
  });
}

function renderHead(head, show, dep, svcName) {
  const svc = show.service;
  const running = dep && dep.status === "running";
  const actions = h(
    "div",
    { class: "actions" },
    h("a", { href: routeQuery("logs", { service: svcName }) }, "Logs"),
    h("a", { href: routeQuery("traces", { service: svcName }) }, "Traces"),
    h("a", { href: routeQuery("errors", { service: svcName }) }, "Errors"),
    svc.external ? null : actionButton("Scale…", () => scaleDialog(svcName, svc.desired, show.autoscaler), { test: "action-scale" }),
    svc.external ? null : actionButton("Roll back…", () => rollbackDialog(svcName, dep), { test: "action-rollback", danger: true }),
    running && dep.strategy === "canary" ? actionButton("Promote", () => orderDialog(svcName, "promote"), { test: "action-promote" }) : null,
    running ? actionButton("Abort", () => orderDialog(svcName, "abort"), { test: "action-abort", danger: true }) : null,
  );
  replace(
    head,
    h("h1", { test: "service-name" }, svcName),
    healthBadge(svc),
    versionChips(svc, dep),
    svc.external ? badge("registered through the Consul API", "muted") : null,
    actions,
  );
}

function renderRollout(el, dep, svcName) {
  if (!dep || dep.status !== "running") return replace(el);
  const p = deploymentProgress(dep);
  const weights = Object.entries(dep.weights || {}).map(([v, w]) => `v${v}: ${w}%`).join(", ");
  replace(
    el,
    h(
      "section",
      { class: "panel rollout" },
      h("h2", null, `Deployment #${dep.id} in progress`),
      h("div", null, p.text),
      progressBar(p.fraction, "rollout-progress"),
      kv([["reason", dep.reason], ["weights", weights || null], ["started", fmtAgo(dep.started_ms)], ["deadline", fmtDateTime(dep.deadline_ms)]]),
      stepsList(dep.steps),
    ),
  );
}

// ---- actions ------------------------------------------------------------------------------

function scaleDialog(svcName, current, autoscaler) {
  confirmAction({
    title: `Scale ${svcName}`,
    message: autoscaler ? `Sets the instance count of the current version (bounds ${autoscaler.min}..${autoscaler.max}); the autoscaler is held off for 10 minutes.` : "Sets the instance count of the current version.",
    fields: [{ name: "instances", label: "Instances", type: "number", value: current, min: 0, max: 10000 }],
    confirmLabel: "Scale",
    service: svcName,
    run: (v) => {
      if (!Number.isInteger(v.instances) || v.instances < 0) throw new Error("enter a whole number of instances");
      return api(`/api/v1/services/${encodeURIComponent(svcName)}/scale`, { method: "POST", body: { instances: v.instances } });
    },
    done: (r) => `Scaling ${svcName} to ${r.instances}`,
  });
}

function rollbackDialog(svcName, dep) {
  confirmAction({
    title: `Roll back ${svcName}`,
    message: `Returns ${svcName} to its previous version${dep?.from?.version ? " (v" + dep.from.version + ")" : ""}: a traffic switch while the old instances are still warm, a rolling deployment otherwise.`,
    confirmLabel: "Roll back",
    danger: true,
    service: svcName,
    run: () => api(`/api/v1/rollback/${encodeURIComponent(svcName)}`, { method: "POST", body: {} }),
    done: (d) => `Rollback of ${svcName}: deployment #${d.id} to v${d.to?.version} (${d.status})`,
  });
}

function orderDialog(svcName, order) {
  confirmAction({
    title: `${order === "promote" ? "Promote" : "Abort"} the deployment of ${svcName}`,
    message: order === "promote" ? "Skips the canary's remaining steps: all traffic goes to the new version." : "Stops the deployment and returns to the previous spec.",
    confirmLabel: order === "promote" ? "Promote" : "Abort",
    danger: order === "abort",
    service: svcName,
    run: () => api(`/api/v1/deployments/${encodeURIComponent(svcName)}/${order}`, { method: "POST" }),
    done: (d) => `Deployment #${d.id} of ${svcName}: ${order} ordered`,
  });
}

function restartDialog(inst) {
  confirmAction({
    title: `Restart ${inst.id}`,
    message: `Stops instance ${inst.id} of ${inst.service} (v${inst.version}) gracefully and starts it again in place.`,
    confirmLabel: "Restart",
    danger: true,
    service: inst.service,
    run: () => api(`/api/v1/instances/${encodeURIComponent(inst.id)}/restart`, { method: "POST" }),
    done: () => `Restarting ${inst.id}`,
  });
}

// ---- views --------------------------------------------------------------------------------

function instancesTable(list, p, t) {
  if (!list.length) return empty("No instances.");
  const proxyOf = new Map((p?.instances || []).map((i) => [i.id, i]));
  const now = Date.now();
  const write = can("write");
  return table(
    ["Instance", "Version", "Node", "Health", "Restarts", "Up", "CPU", "Memory", "Port", "Load", write ? "" : null].filter((x) => x !== null),
    list.map((inst) => {
      const g = t.groups.get(inst.id) || {};
      const pi = proxyOf.get(inst.id);
      const cpu = recentAvg(g.cpu);
      const mem = lastValue(g.mem || []);
      return h(
        "tr",
        { test: "instance-row", data: { instance: inst.id, health: inst.health, state: inst.state, version: inst.version } },
        h("td", null, h("a", { href: routeQuery("logs", { service: inst.service, instance: inst.id }), class: "mono", title: "logs of this instance" }, inst.id), inst.pid ? h("div", { class: "muted small" }, "pid " + inst.pid) : null),
        h("td", null, "v" + inst.version),
        h("td", null, inst.node),
        h("td", { title: inst.health_output || "" }, instanceHealthBadge(inst), pi?.ejected_ms != null ? badge("ejected " + Math.round(pi.ejected_ms / 1000) + "s", "warning") : null, inst.last_exit ? h("div", { class: "muted small" }, "last exit: " + inst.last_exit) : null),
        h("td", { class: "num" }, String(inst.restarts)),
        h("td", { class: "num" }, inst.started_ms ? fmtDuration((now - inst.started_ms) / 1000) : "—"),
        h("td", { class: "num" }, cpu == null ? "—" : fmtPct(cpu * 100)),
        h("td", { class: "num" }, fmtBytes(mem)),
        h("td", { class: "num mono" }, inst.external ? inst.address + ":" + inst.port : String(inst.port)),
        h("td", { class: "num small" }, pi ? `${pi.inflight} in flight · ${fmtMs(pi.latency_ewma_ms)}` : "—"),
        write ? h("td", null, inst.external ? null : actionButton("Restart", () => restartDialog(inst), { test: "action-restart", danger: true })) : null,
      );
    }),
    { test: "instances-table" },
  );
}

function chartsFor(t, show) {
  const versions = [...t.groups.keys()].filter((k) => !show.instances.some((i) => i.id === k) && t.groups.get(k).rps.length);
  const instanceIds = show.instances.map((i) => i.id);
  const byVersion = (key, mult = 1) => versions.map((v, i) => ({ name: "v" + v, cls: "c" + (i % 6), values: t.groups.get(v)[key].map((x) => (x == null ? null : x * mult)) }));
  const byInstance = (key, mult = 1) =>
    instanceIds.filter((id) => t.groups.get(id)?.[key]?.length).map((id, i) => ({ name: id, cls: "c" + (i % 6), values: t.groups.get(id)[key].map((x) => (x == null ? null : x * mult)) }));
  const latency = [];
  versions.forEach((v, i) => {
    latency.push({ name: `v${v} p50`, cls: "c" + ((2 * i) % 6), values: t.groups.get(v).p50 });
    latency.push({ name: `v${v} p99`, cls: "c" + ((2 * i + 1) % 6), values: t.groups.get(v).p99 });
  });
  if (!t.times.length) return [empty("No metrics yet.")];
  return [
    lineChart({ title: "Requests/s by version", times: t.times, series: byVersion("rps"), format: fmtRate, test: "chart-rps" }),
    lineChart({ title: "Errors (5xx) by version", times: t.times, series: byVersion("errPct"), format: fmtPct, test: "chart-errors" }),
    lineChart({ title: "Latency p50 / p99", times: t.times, series: latency, format: fmtMs, test: "chart-latency" }),
    lineChart({ title: "CPU by instance (% of a core)", times: t.times, series: byInstance("cpu", 100), format: fmtPct, test: "chart-cpu" }),
    lineChart({ title: "Memory by instance", times: t.times, series: byInstance("mem"), format: fmtBytes, test: "chart-memory" }),
  ];
}

function dur(d) {
  if (d == null) return null;
  if (typeof d === "string" || typeof d === "number") return String(d);
  const ms = (d.secs || 0) * 1000 + (d.nanos || 0) / 1e6;
  return ms < 1000 ? `${Math.round(ms)}ms` : ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

function resilienceView(p, spec, sheds) {
  if (!p) return empty("The proxy does not route this service (yet).");
  const counters = [
    ["circuit", circuitBadge(p.circuit)],
    ["in flight", String(p.inflight)],
    ["requests", String(p.requests)],
    ["retries", String(p.retries)],
    ["timeouts", String(p.timeouts)],
    ["shed", String(p.shed)],
    ["rate limited", String(p.rate_limited)],
    ["rejected by circuit", String(p.circuit_rejected)],
    ["fallbacks", String(p.fallbacks)],
    ["ejections", String(p.ejections)],
  ];
  const ejected = (p.instances || []).filter((i) => i.ejected_ms != null);
  const r = spec?.resilience;
  return [
    kv(counters, "resilience-counters"),
    h("h3", { class: "subhead" }, "Ejected instances"),
    ejected.length ? table(["Instance", "Ejected for"], ejected.map((i) => h("tr", null, h("td", { class: "mono" }, i.id), h("td", null, fmtDuration(i.ejected_ms / 1000))))) : empty("None."),
    h("h3", { class: "subhead" }, "Shed by caller"),
    sheds.length
      ? table(["Caller", "Reason", "Shed"], sheds.map((x) => h("tr", null, h("td", null, x.labels.caller || "—"), h("td", null, x.labels.reason || "—"), h("td", { class: "num" }, fmtRate(lastValue(x.points.map((pt) => pt[1])))))), { test: "sheds" })
      : empty("Nothing shed."),
    r ? h("details", null, h("summary", null, "Policy"), h("pre", null, JSON.stringify(r, null, 2))) : h("p", { class: "muted small" }, "No resilience policy: no circuit, retries or limits configured."),
  ];
}

function scaleView(show) {
  const a = show.autoscaler;
  const svc = show.service;
  const pairs = [
    ["desired", String(svc.desired)],
    ["running", String(svc.instances)],
    ["healthy", String(svc.healthy)],
    ["set by", svc.scale || (a ? null : "the service file")],
  ];
  if (!a) return [kv(pairs, "scale-state"), h("p", { class: "muted small" }, "No autoscaler ([services.X.scale] is not set): the count changes only by deploys and Scale.")];
  const target = a.target ? Object.entries(a.target).filter(([, v]) => v != null).map(([k, v]) => `${k} ${v}`).join(", ") : null;
  const last = a.last;
  pairs.push(
    ["bounds", `${a.min} .. ${a.max}`],
    ["target", target],
    ["held", a.held ? "yes, until " + fmtTime(a.held_until_ms) : "no"],
    ["last decision", last ? describeDecision(last) : "none yet"],
  );
  return kv(pairs, "scale-state");
}

function describeDecision(last) {
  if (typeof last !== "object") return String(last);
  const parts = [];
  if (last.from != null && last.to != null) parts.push(`${last.from} → ${last.to}`);
  if (last.reason) parts.push(last.reason);
  if (last.at_ms) parts.push(fmtAgo(last.at_ms));
  return parts.length ? parts.join(" · ") : JSON.stringify(last);
}

function stepsList(steps) {
  if (!steps?.length) return null;
  return h("ol", { class: "steps" }, steps.map((s) => h("li", null, h("span", { class: "time" }, fmtTime(s.at_ms)), " ", s.message)));
}

function historyTable(hist) {
  if (!hist.length) return empty("No deployments recorded.");
  return table(
    ["#", "Status", "Strategy", "Version", "Instances", "Started", "Took", "Reason"],
    hist.map((d) =>
      h(
        "tr",
        { test: "deployment-row", data: { id: d.id, status: d.status } },
        h("td", { class: "num" }, String(d.id), d.revert_of != null ? h("div", { class: "muted small" }, "reverts #" + d.revert_of) : null),
        h("td", null, deploymentCell(d)),
        h("td", null, d.strategy),
        h("td", null, d.from ? `v${d.from.version} → v${d.to?.version}` : `v${d.to?.version}`),
        h("td", { class: "num" }, d.from ? `${d.from.instances} → ${d.to?.instances}` : String(d.to?.instances ?? "—")),
        h("td", { class: "time" }, fmtDateTime(d.started_ms)),
        h("td", { class: "num" }, d.ended_ms ? fmtDuration((d.ended_ms - d.started_ms) / 1000) : "running"),
        h("td", { class: "msg" }, h("details", null, h("summary", null, d.reason || "steps"), stepsList(d.steps))),
      ),
    ),
    { test: "history-table" },
  );
}

// `${secret:NAME}` and `${kv:KEY}` references are shown as written (the spec holds no resolved values).
function envValue(v) {
  const str = v && typeof v === "object" ? v.raw ?? JSON.stringify(v) : String(v);
  const parts = [];
  let last = 0;
  for (const m of str.matchAll(/\$\{(secret|kv):[^}]*\}/g)) {
    if (m.index > last) parts.push(str.slice(last, m.index));
    parts.push(h("span", { class: "ref", title: m[1] === "secret" ? "secret reference: the value is never shown" : "KV reference" }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < str.length) parts.push(str.slice(last));
  return h("span", { class: "mono" }, parts);
}

function configView(spec) {
  if (!spec) return empty("Registered through the Consul API: no spec.");
  const cmd = spec.command?.argv ? spec.command.argv.join(" ") : spec.command?.shell ?? JSON.stringify(spec.command);
  const check = spec.health?.check;
  const checkText = !check ? "none" : typeof check === "string" ? check : check.http ? "http " + check.http.path : check.exec ? "exec " + JSON.stringify(check.exec) : JSON.stringify(check);
  const env = Object.entries(spec.env || {});
  return [
    kv(
      [
        ["command", h("code", null, cmd)],
        ["version", spec.version],
        ["instances", String(spec.instances)],
        ["routes", (spec.routes || []).join(", ") || null],
        ["health", `${checkText} every ${dur(spec.health?.interval)}, timeout ${dur(spec.health?.timeout)}, grace ${dur(spec.health?.grace)}`],
        ["deploy", `${spec.deploy?.strategy}, surge ${spec.deploy?.max_surge}, unavailable ${spec.deploy?.max_unavailable}, drain ${dur(spec.deploy?.drain)}, keep previous ${dur(spec.deploy?.keep_previous)}`],
        ["other versions", Object.keys(spec.versions || {}).map((v) => "v" + v).join(", ") || null],
      ],
      "config-summary",
    ),
    h("h3", { class: "subhead" }, "Environment"),
    env.length ? table(["Name", "Value"], env.map(([k, v]) => h("tr", { test: "env-row" }, h("td", { class: "mono" }, k), h("td", null, envValue(v)))), { test: "env" }) : empty("No variables besides Shoal's own (PORT, SHOAL_*)."),
    h("details", null, h("summary", null, "Full spec (JSON)"), h("pre", { test: "spec-json" }, JSON.stringify(spec, null, 2))),
  ];
}
