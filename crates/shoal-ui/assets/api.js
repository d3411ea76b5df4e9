// API access: fetch JSON with the session's token (X-Consul-Token), SSE streams read with fetch(), and who we are.

const TOKEN_KEY = "shoal.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (v) => sessionStorage.setItem(TOKEN_KEY, v),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// The presented token's name and rights, from /api/v1/auth/self (filled by app.js).
export const session = { tokens: false, name: null, rights: [] };

export function can(right) {
  return session.rights.includes(right);
}

export class ApiError extends Error {
  constructor(status, body, path) {
    const msg = body && typeof body === "object" && body.error ? body.error : `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.body = body;
    this.path = path;
    this.detail = body && typeof body === "object" ? body.detail : undefined;
  }
}

// Called on a 401 so the app can ask for a token again.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function headers(extra) {
  const hs = { Accept: "application/json", ...extra };
  const t = token.get();
  if (t) hs["X-Consul-Token"] = t;
  return hs;
}

// api("/api/v1/services") -> parsed JSON; throws ApiError on a non-2xx answer.
// `quiet`: a 401 is only thrown, not reported to the sign-in handler (for the sign-in itself).
export async function api(path, { method = "GET", body, signal, quiet = false } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }), signal, cache: "no-store" };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!resp.ok) {
    if (resp.status === 401 && !quiet) onUnauthorized();
    throw new ApiError(resp.status, data, path);
  }
  return data;
}

// Query string from an object, dropping empty values.
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) q.set(k, v);
  const str = q.toString();
  return str ? "?" + str : "";
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

// Follows a server-sent event stream until `signal` aborts, reconnecting with backoff.
// `pathFn` is called on every (re)connect so the caller can resume with `after=<last seq>`.
// Each `data:` payload is parsed as JSON and handed to `onData`; `onState("live"|"retrying"|"denied")`.
export async function follow(pathFn, onData, { signal, onState = () => {} } = {}) {
  let delay = 500;
  while (!signal?.aborted) {
    try {
      const resp = await fetch(pathFn(), { headers: headers({ Accept: "text/event-stream" }), signal, cache: "no-store" });
      if (resp.status === 401 || resp.status === 403) {
        if (resp.status === 401) onUnauthorized();
        onState("denied");
        return;
      }
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      onState("live");
      delay = 500;
      await readEvents(resp.body, onData);
    } catch (e) {
      if (signal?.aborted) return;
    }
    onState("retrying");
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 10000);
  }
}

async function readEvents(body, onData) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data.length) {
          const payload = data.join("\n");
          data = [];
          let parsed;
          try {
            parsed = JSON.parse(payload);
          } catch {
            continue;
          }
          onData(parsed);
        }
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      } // comments (":"), event:, id: and retry: lines are not used
    }
  }
}

// Metric query helper: returns the series list ([] when the metric has no series yet).
export async function metric(name, params, known) {
  if (known && !known.has(name)) return [];
  const r = await api("/api/v1/metrics/query" + qs({ name, ...params }));
  return r.series || [];
}

// Names of the stored metric series, as a Set.
export async function metricNames() {
  const r = await api("/api/v1/metrics/names");
  return new Set((r.names || []).map((n) => n.name));
}
