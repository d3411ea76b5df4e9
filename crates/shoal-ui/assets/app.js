// Entry module: signs in when tokens are required, follows the event stream and routes #/... to the page modules.

import { api, session, token, setUnauthorizedHandler } from "./api.js";
import { h, replace } from "./dom.js";
import { startEvents, stopEvents, onEvent as subscribe } from "./live.js";
import * as overview from "./page-overview.js";
import * as service from "./page-service.js";
import * as logs from "./page-logs.js";
import * as traces from "./page-traces.js";
import * as errors from "./page-errors.js";
import * as events from "./page-events.js";
import * as kv from "./page-kv.js";
import * as flags from "./page-flags.js";

// [pattern on the hash path, nav entry to highlight, page module]
const ROUTES = [
  [/^\/?$/, "overview", overview],
  [/^\/service\/([^/?]+)$/, "overview", service],
  [/^\/logs$/, "logs", logs],
  [/^\/traces$/, "traces", traces],
  [/^\/trace\/([^/?]+)$/, "traces", traces.trace],
  [/^\/errors$/, "errors", errors],
  [/^\/events$/, "events", events],
  [/^\/kv$/, "kv", kv],
  [/^\/flags$/, "flags", flags],
];

const main = document.getElementById("main");
let current = null; // AbortController of the page on screen

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
  return { path, query };
}

// What a page gets: its parameters, an abort signal, a refresher and the event feed.
function context(signal, params, query) {
  const errorBox = h("div", { class: "page-error", test: "page-error", hidden: true });
  return {
    signal,
    params,
    query,
    errorBox,
    // Shows (or with null, hides) a load error above the page.
    error(e) {
      if (signal.aborted) return;
      errorBox.hidden = !e;
      errorBox.textContent = e ? "Could not load: " + (e.message || String(e)) + (e.path ? ` (${e.path})` : "") : "";
    },
    // Runs `fn` now and every `ms` while the tab is visible; `.soon()` runs it shortly (debounced).
    every(ms, fn) {
      let timer = null;
      let running = false;
      let again = false;
      const run = async () => {
        clearTimeout(timer);
        if (signal.aborted) return;
        if (document.hidden) return schedule(ms);
        if (running) {
          again = true;
          return;
        }
        running = true;
        try {
          await fn();
          this.error(null);
        } catch (e) {
          if (!signal.aborted && e.name !== "AbortError") this.error(e);
        } finally {
          running = false;
        }
        if (again) {
          again = false;
          return schedule(200);
        }
        schedule(ms);
      };
      const schedule = (delay) => {
        clearTimeout(timer);
        if (!signal.aborted) timer = setTimeout(run, delay);
      };
      const onVisible = () => !document.hidden && run();
      document.addEventListener("visibilitychange", onVisible);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        document.removeEventListener("visibilitychange", onVisible);
      });
      run();
      return { now: run, soon: () => schedule(300) };
    },
    // Every new platform event while this page is shown.
    onEvent(fn) {
      const off = subscribe(fn);
      signal.addEventListener("abort", off);
    },
  };
}

function render() {
  current?.abort();
  current = new AbortController();
  const { path, query } = parseHash();
  let match = null;
  let entry = null;
  for (const [re, nav, page] of ROUTES) {
    match = path.match(re);
    if (match) {
      entry = { nav, page };
      break;
    }
  }
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", entry && a.dataset.page === entry.nav);
  if (!entry) {
    replace(main, h("section", { class: "panel" }, h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, location.hash), ". ", h("a", { href: "#/" }, "Back to the overview"))));
    document.title = "Shoal";
    return;
  }
  const params = match.slice(1).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const ctx = context(current.signal, params, query);
  const root = h("div", { class: "page", test: "page-" + (entry.page.name || entry.nav) });
  replace(main, ctx.errorBox, root);
  window.scrollTo(0, 0);
  try {
    entry.page.mount(root, ctx);
  } catch (e) {
    ctx.error(e);
  }
}

// ---- signing in --------------------------------------------------------------------------

async function whoami() {
  try {
    // Public: with tokens on, a missing or unknown token comes back without a name.
    Object.assign(session, await api("/api/v1/auth/self", { quiet: true }));
    return !session.tokens || session.name != null;
  } catch (e) {
    // no token: 401; a token the server does not know: 403
    if (e.status === 401 || e.status === 403) return false;
    throw e;
  }
}

function askToken(message) {
  const dialog = document.getElementById("login");
  const input = document.getElementById("login-token");
  const ok = document.getElementById("login-ok");
  document.getElementById("login-error").textContent = message || "";
  input.value = "";
  return new Promise((resolve) => {
    const submit = () => {
      if (!input.value.trim()) return;
      token.set(input.value.trim());
      ok.onclick = null;
      input.onkeydown = null;
      dialog.close();
      resolve();
    };
    ok.onclick = submit;
    input.onkeydown = (ev) => {
      if (ev.key === "Enter") submit();
    };
    dialog.oncancel = (ev) => ev.preventDefault(); // no way around signing in
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

async function signIn() {
  let message = token.get() ? "The stored token was refused." : "";
  while (!(await whoami())) {
    token.clear();
    await askToken(message);
    message = "That token was refused.";
  }
  const who = document.getElementById("who");
  const rights = session.rights.join(", ");
  who.textContent = session.tokens ? `token ${session.name} (${rights})` : "open API (no tokens configured)";
  who.title = "rights: " + rights;
  document.getElementById("signout").hidden = !session.tokens;
  document.body.classList.toggle("readonly", !session.rights.includes("write"));
}

let reauth = null;
setUnauthorizedHandler(() => {
  if (reauth) return;
  reauth = (async () => {
    await signIn();
    reauth = null;
    startEvents(liveState);
    render();
  })();
});

function liveState(state) {
  const el = document.getElementById("live");
  el.className = "live " + (state === "live" ? "on" : state);
  el.title = state === "live" ? "event stream connected" : "event stream " + state;
}

async function boot() {
  document.getElementById("signout").addEventListener("click", () => {
    token.clear();
    location.reload();
  });
  try {
    await signIn();
  } catch (e) {
    replace(main, h("div", { class: "page-error", test: "page-error" }, "Cannot reach the Shoal API: " + e.message));
    return;
  }
  // The page does not wait for the event history: it draws, the history fills in.
  startEvents(liveState);
  window.addEventListener("hashchange", render);
  // Streams hold connections (a browser allows six per host): close them when the page is left,
  // even into the back/forward cache, and reopen them when it comes back.
  window.addEventListener("pagehide", () => {
    current?.abort();
    stopEvents();
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) startEvents(liveState).then(render);
  });
  render();
}

boot();
