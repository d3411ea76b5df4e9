// The one shared event stream (/api/v1/events/stream): pages and action toasts subscribe to it.

import { api, follow } from "./api.js";

const listeners = new Set();
let lastSeq = 0;
let controller = null;
const recentEvents = [];
const RECENT = 200;
let loaded = Promise.resolve();

// Resolves once the recent history of the current stream is loaded.
export function whenLoaded() {
  return loaded;
}

// Starts (or restarts, after signing in) following the platform's events.
// Resolves once the recent history is loaded (the stream then keeps running).
export function startEvents(onState) {
  loaded = follows(onState);
  return loaded;
}

async function follows(onState) {
  controller?.abort();
  controller = new AbortController();
  const signal = controller.signal;
  try {
    const initial = await api("/api/v1/events?limit=50", { signal });
    recentEvents.length = 0;
    for (const e of initial) remember(e);
  } catch {
    if (signal.aborted) return;
  }
  follow(() => "/api/v1/events/stream" + (lastSeq ? "?after=" + lastSeq : ""), (e) => {
    if (e.seq <= lastSeq) return;
    remember(e);
    for (const fn of [...listeners]) {
      try {
        fn(e);
      } catch (err) {
        console.warn("event listener failed", err);
      }
    }
  }, { signal, onState });
}

export function stopEvents() {
  controller?.abort();
}

function remember(e) {
  lastSeq = Math.max(lastSeq, e.seq);
  recentEvents.push(e);
  if (recentEvents.length > RECENT) recentEvents.shift();
}

// Subscribes to every new event; returns the unsubscribe function.
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// The newest events seen so far (oldest first).
export function recent() {
  return recentEvents.slice();
}

// Resolves with the first event after now that matches, or null after `ms`.
export function nextEvent(match, ms = 15000) {
  return new Promise((resolve) => {
    const off = onEvent((e) => {
      if (match(e)) {
        off();
        clearTimeout(timer);
        resolve(e);
      }
    });
    const timer = setTimeout(() => {
      off();
      resolve(null);
    }, ms);
  });
}
