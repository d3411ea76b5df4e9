// Overview page (#/): every service with health, versions, deployment, traffic, resources and circuit; problems first; nodes; recent events.

import { api, metricNames } from "./api.js";
import { h, replace, route, table, badge, section, empty, fmtRate, fmtPct, fmtMs, fmtBytes, fmtDuration } from "./dom.js";
import { sparkline, lastValue } from "./charts.js";
import { traffic, recent as recentAvg } from "./metrics.js";
import { healthBadge, circuitBadge, versionChips, deploymentCell, problemsOf } from "./fleet.js";
import { recent, whenLoaded } from "./live.js";
import { eventRow } from "./page-events.js";

export const name = "overview";

export function mount(root, ctx) {
  document.title = "Overview · Shoal";
  const stats = h("div", { class: "stats", test: "stats" });
  const problems = h("div", { test: "problems" });
  const services = h("div", { test: "services" }, empty("Loading services…"));
  const nodes = h("div", { test: "nodes" });
  const eventsList = h("tbody", { test: "recent-events" });
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Overview"), h("span", { class: "muted small" }, "last 10 minutes · refreshes every 5 s and on every event")),
    stats,
    problems,
    section("Services", services),
    h("div", { class: "two" }, section("Nodes", nodes), section("Recent events", h("table", { class: "grid events" }, eventsList), h("p", null, h("a", { href: "#/events" }, "All events →")))),
  );

  const fillEvents = () => replace(eventsList, recent().slice(-12).reverse().map(eventRow));
  fillEvents();
  whenLoaded().then(() => ctx.signal.aborted || fillEvents());
  ctx.onEvent((e) => {
    eventsList.prepend(eventRow(e));
    while (eventsList.children.length > 12) eventsList.lastChild.remove();
    refresher.soon();
  });

  let known = null;
  let knownAt = 0;
  let drawn = false;
  const noTraffic = { times: [], groups: new Map() };
  const refresher = ctx.every(5000, async () => {
    // The fleet first, the numbers beside it: rows appear before the charts' queries end.
    const fleetP = Promise.all([
      api("/api/v1/services", { signal: ctx.signal }),
      api("/api/v1/proxy", { signal: ctx.signal }),
      api("/api/v1/deployments", { signal: ctx.signal }),
      api("/api/v1/nodes", { signal: ctx.signal }),
    ]);
    const trafficP = (async () => {
      if (!known || Date.now() - knownAt > 30000) {
        known = await metricNames();
        knownAt = Date.now();
      }
      return traffic({ by: "service", since: "10m", step: "10s", known });
    })();
    const [svcs, proxy, deps, cluster] = await fleetP;
    if (ctx.signal.aborted) return;
    if (!drawn) {
      draw(svcs, proxy, deps, cluster, noTraffic);
      drawn = true;
    }
    const t = await trafficP;
    if (ctx.signal.aborted) return;
    draw(svcs, proxy, deps, cluster, t);
    // For bench/ui.py: when the numbers were drawn too.
    if (!performance.getEntriesByName("shoal:overview-numbers").length) performance.mark("shoal:overview-numbers");
  });

  function draw(svcs, proxy, deps, cluster, t) {
    const depOf = new Map(deps.map((d) => [d.service, d]));
    const rows = svcs.map((svc) => {
      const g = t.groups.get(svc.name) || {};
      const p = proxy.services?.[svc.name];
      const errPct = recentAvg(g.errPct);
      return { svc, g, p, dep: depOf.get(svc.name), probs: problemsOf(svc, p, depOf.get(svc.name), errPct) };
    });
    rows.sort((a, b) => severity(b) - severity(a) || a.svc.name.localeCompare(b.svc.name));
    renderStats(stats, svcs, deps, t, rows);
    renderProblems(problems, rows);
    replace(services, rows.length ? servicesTable(rows) : empty("No services yet. Deploy a service file with `shoal deploy`."));
    // For bench/ui.py: when the overview first held every service's row.
    if (rows.length && !performance.getEntriesByName("shoal:overview").length) performance.mark("shoal:overview");
    replace(nodes, nodesTable(cluster));
  }
}

const severity = (r) => (r.probs.length ? r.probs[0].severity * 10 + r.probs.length : 0);

function sum(groups, key) {
  let total = null;
  for (const g of groups.values()) {
    const v = recentAvg(g[key]);
    if (v != null) total = (total || 0) + v;
  }
  return total;
}

function renderStats(el, svcs, deps, t, rows) {
  const total = svcs.reduce((a, s) => a + s.instances, 0);
  const healthy = svcs.reduce((a, s) => a + s.healthy, 0);
  const rps = sum(t.groups, "rps");
  const errs = sum(t.groups, "errors");
  const running = deps.filter((d) => d.status === "running").length;
  const problemCount = rows.filter((r) => r.probs.length).length;
  const stat = (label, value, test, kind) => h("div", { class: ["stat", kind && "s-" + kind] }, h("div", { class: "stat-value", test }, value), h("div", { class: "stat-label" }, label));
  replace(
    el,
    stat("services", String(svcs.length), "count-services"),
    stat("instances healthy", h("span", null, h("span", { test: "count-healthy" }, String(healthy)), " / ", h("span", { test: "count-instances" }, String(total))), "count-health", healthy < total ? "warning" : "ok"),
    stat("requests/s (all hops)", fmtRate(rps ?? 0), "count-rps"),
    stat("errors", rps ? fmtPct((100 * (errs || 0)) / rps) : "—", "count-errors", errs > 0 ? "warning" : null),
    stat("deployments running", String(running), "count-deployments", running ? "info" : null),
    stat("services with problems", String(problemCount), "count-problems", problemCount ? "critical" : "ok"),
  );
}

function renderProblems(el, rows) {
  const bad = rows.filter((r) => r.probs.length);
  if (!bad.length) return replace(el);
  replace(
    el,
    h(
      "section",
      { class: "panel problems" },
      h("h2", null, "Problems"),
      h(
        "ul",
        null,
        bad.map((r) =>
          h("li", { class: r.probs[0].severity > 1 ? "critical" : "warning", test: "problem" }, h("a", { href: route("service", r.svc.name) }, r.svc.name), ": ", r.probs.map((p) => p.text).join(" · ")),
        ),
      ),
    ),
  );
}

function servicesTable(rows) {
  return table(
    ["Service", "Healthy", "Versions · traffic", "Deployment", "Req/s", "Errors", "p50 / p99", "CPU · memory", "Circuit"],
    rows.map(({ svc, g, p, dep, probs }) => {
      const rps = recentAvg(g.rps);
      const errPct = recentAvg(g.errPct);
      const p50 = lastValue(g.p50 || []);
      const p99 = lastValue(g.p99 || []);
      const cpu = recentAvg(g.cpu);
      const mem = lastValue(g.mem || []);
      return h(
        "tr",
        { class: [probs.length && (probs[0].severity > 1 ? "row-critical" : "row-warning")], test: "service-row", data: { service: svc.name } },
        h("td", null, h("a", { href: route("service", svc.name), class: "strong", test: "service-link" }, svc.name), svc.external ? badge("external", "muted") : null, svc.scale ? h("div", { class: "muted small" }, svc.scale) : null),
        h("td", null, healthBadge(svc), svc.restarts ? h("div", { class: "muted small", title: "restarts" }, `${svc.restarts} restarts`) : null),
        h("td", null, versionChips(svc, dep)),
        h("td", null, deploymentCell(dep)),
        h("td", { class: "num" }, sparkline(g.rps || [], { text: fmtRate(rps), title: "requests per second, last 10 minutes", test: "rps" })),
        h("td", { class: "num" }, sparkline(g.errPct || [], { cls: "c3", text: fmtPct(errPct), title: "share of 5xx answers", test: "errors" })),
        h("td", { class: "num" }, sparkline(g.p99 || [], { cls: "c1", text: p50 == null && p99 == null ? "—" : `${fmtMs(p50).replace(" ms", "")} / ${fmtMs(p99)}`, title: "p99 latency trend; numbers are p50 / p99", test: "latency" })),
        h("td", { class: "num" }, sparkline(g.cpu || [], { cls: "c2", text: (cpu == null ? "—" : fmtPct(cpu * 100)) + " · " + fmtBytes(mem), title: "CPU (% of one core, all instances) and memory", test: "cpu" })),
        h("td", null, circuitBadge(p?.circuit)),
      );
    }),
    { test: "services-table" },
  );
}

const NODE_STATUS = { ready: "ok", draining: "warning", suspect: "warning", lost: "critical" };

// Every node (one with `shoal up`) from /api/v1/nodes, the leader marked.
function nodesTable(cluster) {
  const leader = cluster.leader && cluster.leader.node;
  const now = Date.now();
  return table(
    ["Node", "Status", "Address", "Healthy", "CPU · memory", "Up"],
    (cluster.nodes || []).map((n) =>
      h(
        "tr",
        { test: "node-row", data: { node: n.name } },
        h("td", { class: "strong" }, n.name, n.name === leader && cluster.mode === "cluster" ? badge("leader", "muted") : null),
        h("td", null, badge(n.status, NODE_STATUS[n.status] || "muted")),
        h("td", null, h("code", { title: n.gateway ? "gateway " + n.gateway : null }, n.address || n.api || "—")),
        h("td", { class: "num" }, `${n.healthy}/${n.instances}`),
        h("td", null, n.capacity ? `${(n.capacity.cpu_millis / 1000).toFixed(0)} CPU · ${fmtBytes(n.capacity.memory_mb * 1048576)}` : "—"),
        h("td", null, n.started_ms ? fmtDuration((now - n.started_ms) / 1000) : "—"),
      ),
    ),
  );
}
