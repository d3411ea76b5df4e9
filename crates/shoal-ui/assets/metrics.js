// Traffic and resource series for charts: req/s, errors, error %, p50/p99, CPU and memory, grouped by a label.

import { metric } from "./api.js";

// Values of `series` (from /api/v1/metrics/query) on the time grid `times`, summed per group key.
function collect(series, keyOf, times, index, { nullAsZero = false, filter = () => true } = {}) {
  const out = new Map();
  for (const x of series) {
    if (!filter(x.labels)) continue;
    const key = keyOf(x.labels);
    if (!out.has(key)) out.set(key, new Array(times.length).fill(nullAsZero ? 0 : null));
    const vs = out.get(key);
    for (const [t, v] of x.points) {
      const i = index.get(t);
      if (i == null || v == null) continue;
      vs[i] = (vs[i] ?? 0) + v;
    }
  }
  return out;
}

// Fetches the five metric queries (one request each, never one per service) and
// returns { times, groups: Map(key -> {rps, errors, errPct, p50, p99, cpu, mem}) }.
// Latencies are in milliseconds, CPU in cores, memory in bytes.
export async function traffic({ by = "service", labels = "", since = "10m", step = "10s", resourceBy, known }) {
  const rb = resourceBy || by;
  const common = { labels, since, step };
  const [req, p50, p99, cpu, mem] = await Promise.all([
    metric("shoal_requests_total", { ...common, agg: "rate", by: by + ",code" }, known),
    metric("shoal_request_duration_seconds", { ...common, agg: "p50", by }, known),
    metric("shoal_request_duration_seconds", { ...common, agg: "p99", by }, known),
    metric("shoal_instance_cpu_seconds_total", { ...common, agg: "rate", by: rb }, known),
    metric("shoal_instance_memory_bytes", { ...common, agg: "sum", by: rb }, known),
  ]);
  const ts = new Set();
  for (const list of [req, p50, p99, cpu, mem]) for (const x of list) for (const [t] of x.points) ts.add(t);
  const times = [...ts].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const key = (l) => l[by] ?? "";
  const rkey = (l) => l[rb] ?? "";
  const rps = collect(req, key, times, index, { nullAsZero: true });
  const errors = collect(req, key, times, index, { nullAsZero: true, filter: (l) => Number(l.code) >= 500 });
  const q50 = collect(p50, key, times, index);
  const q99 = collect(p99, key, times, index);
  const cpus = collect(cpu, rkey, times, index);
  const mems = collect(mem, rkey, times, index);
  const groups = new Map();
  const group = (k) => {
    if (!groups.has(k)) groups.set(k, { rps: [], errors: [], errPct: [], p50: [], p99: [], cpu: [], mem: [] });
    return groups.get(k);
  };
  const ms = (vs) => vs.map((v) => (v == null ? null : v * 1000));
  for (const [k, vs] of rps) {
    const g = group(k);
    g.rps = vs;
    const es = errors.get(k) || new Array(times.length).fill(0);
    g.errors = es;
    g.errPct = vs.map((v, i) => (v > 0 ? (100 * es[i]) / v : null));
  }
  for (const [k, vs] of q50) group(k).p50 = ms(vs);
  for (const [k, vs] of q99) group(k).p99 = ms(vs);
  for (const [k, vs] of cpus) group(k).cpu = vs;
  for (const [k, vs] of mems) group(k).mem = vs;
  return { times, groups };
}

// Sum of the latest `n` values (null as 0) divided by n: a short average for headline numbers.
export function recent(values, n = 3) {
  if (!values || !values.length) return null;
  const tail = values.slice(-n - 1, -1).length ? values.slice(-n - 1, -1) : values.slice(-n);
  const vs = tail.filter((v) => v != null);
  if (!vs.length) return null;
  return vs.reduce((a, b) => a + b, 0) / vs.length;
}
