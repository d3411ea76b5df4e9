// Shared fleet views: health, version/weight chips, deployment progress, circuit badges and problem detection.

import { h, badge, fmtAgo } from "./dom.js";

export function healthKind(healthy, total, desired) {
  if (total === 0 && desired === 0) return "muted";
  if (healthy === 0) return "critical";
  if (healthy < Math.max(total, desired)) return "warning";
  return "ok";
}

export function healthBadge(svc) {
  const kind = healthKind(svc.healthy, svc.instances, svc.desired);
  const text = `${svc.healthy}/${svc.instances}`;
  const title = `${svc.healthy} healthy of ${svc.instances} running; ${svc.desired} desired`;
  return h("span", { class: "health", title }, badge(text, kind, "health"), svc.desired !== svc.instances ? h("span", { class: "muted small" }, ` → ${svc.desired}`) : null);
}

export function circuitBadge(state) {
  if (!state) return h("span", { class: "muted", title: "no circuit breaker configured", test: "circuit" }, "—");
  const kind = state === "open" ? "critical" : state === "half-open" ? "warning" : "ok";
  return badge(state, kind, "circuit");
}

export function instanceHealthBadge(inst) {
  if (inst.crash_loop) return badge("crash loop", "critical", "instance-health");
  if (inst.state !== "running") return badge(inst.state, inst.state === "failed" ? "critical" : "warning", "instance-health");
  const kind = { passing: "ok", starting: "muted", warning: "warning", critical: "critical" }[inst.health] || "muted";
  return badge(inst.health, kind, "instance-health");
}

// The traffic share of each version: a running deployment's weights, else 100% to the current version.
export function versionWeights(svc, dep) {
  const out = [];
  const versions = new Set(svc.versions);
  if (svc.version) versions.add(svc.version);
  const weights = dep && dep.status === "running" && dep.weights && Object.keys(dep.weights).length ? dep.weights : null;
  for (const v of [...versions].sort(byVersion)) {
    const w = svc.external ? null : weights ? weights[v] ?? 0 : v === svc.version ? 100 : 0;
    out.push({ version: v, weight: w, current: v === svc.version });
  }
  return out;
}

function byVersion(a, b) {
  const na = Number(a);
  const nb = Number(b);
  return isFinite(na) && isFinite(nb) ? na - nb : String(a).localeCompare(String(b));
}

export function versionChips(svc, dep) {
  return h(
    "span",
    { class: "chips", test: "versions" },
    versionWeights(svc, dep).map((v) =>
      v.weight == null
        ? h("span", { class: "chip", title: "registered instance's tag", test: "version" }, v.version)
        : h("span", { class: ["chip", v.current && "current", v.weight === 0 && "idle"], title: v.weight === 0 ? "running, no default traffic (kept warm or selected by header)" : `${v.weight}% of traffic`, test: "version" }, "v" + v.version + " ", h("b", null, v.weight + "%")),
    ),
  );
}

// { fraction 0..1, text } for a running deployment.
export function deploymentProgress(dep) {
  const to = dep.to || {};
  const target = to.instances || 0;
  const ready = (dep.counts || {})[to.version] || 0;
  if (dep.strategy === "canary") {
    const steps = to.deploy?.canary?.steps || [];
    const w = (dep.weights || {})[to.version] ?? 0;
    const n = steps.length || 1;
    return { fraction: Math.min(1, (dep.step + (w >= 100 ? 1 : 0.5)) / n), text: `canary step ${Math.min(dep.step + 1, n)}/${n} · ${w}% to v${to.version}` };
  }
  return { fraction: target ? Math.min(1, ready / target) : 0, text: `${dep.strategy} ${ready}/${target} of v${to.version}` };
}

export function progressBar(fraction, test) {
  const fill = h("span", { class: "fill" });
  fill.style.width = Math.round(Math.max(0, Math.min(1, fraction)) * 100) + "%";
  return h("span", { class: "progress", test }, fill);
}

const BAD = new Set(["failed", "rolled_back", "aborted"]);

export function deploymentCell(dep) {
  if (!dep) return h("span", { class: "muted" }, "—");
  if (dep.status === "running") {
    const p = deploymentProgress(dep);
    return h("div", { class: "deploying", test: "deployment", title: dep.reason || "" }, h("div", { class: "small" }, p.text), progressBar(p.fraction));
  }
  const kind = BAD.has(dep.status) ? "critical" : dep.status === "succeeded" ? "ok" : "muted";
  return h("span", { test: "deployment", title: dep.reason || "" }, badge(dep.status.replace("_", " "), kind), h("span", { class: "muted small" }, " #" + dep.id + " " + fmtAgo(dep.ended_ms || dep.updated_ms)));
}

// Problems of one service, most severe first: [{severity: 2|1, text}].
export function problemsOf(svc, proxy, dep, errPct) {
  const out = [];
  if (svc.crash_loop) out.push({ severity: 2, text: "crash loop" });
  const circuit = proxy?.circuit;
  if (circuit === "open") out.push({ severity: 2, text: "circuit open" });
  if (circuit === "half-open") out.push({ severity: 1, text: "circuit half-open" });
  if (dep && BAD.has(dep.status)) out.push({ severity: 2, text: `deployment #${dep.id} ${dep.status.replace("_", " ")}: ${dep.reason}` });
  if (!svc.external && svc.desired > 0 && svc.healthy === 0) out.push({ severity: 2, text: "no healthy instance" });
  else if (svc.healthy < Math.max(svc.desired, svc.instances)) out.push({ severity: 1, text: `${svc.healthy} of ${Math.max(svc.desired, svc.instances)} healthy` });
  if (errPct != null && errPct >= 5) out.push({ severity: 1, text: `${errPct.toFixed(1)}% errors` });
  if (proxy?.instances?.some((i) => i.ejected_ms != null)) out.push({ severity: 1, text: "instance ejected" });
  return out.sort((a, b) => b.severity - a.severity);
}
