// KV page (#/kv): the Consul-compatible key/value store (keys and values as text) and secret names (never values).

import { api } from "./api.js";
import { h, replace, routeQuery, table, section, empty, fmtDateTime } from "./dom.js";

export const name = "kv";

export function mount(root, ctx) {
  document.title = "KV · Shoal";
  const prefix = ctx.query.get("prefix") || "";
  const selected = ctx.query.get("key");
  const filter = h("input", { type: "search", placeholder: "key prefix", value: prefix, test: "kv-prefix", size: 30 });
  filter.addEventListener("keydown", (ev) => ev.key === "Enter" && (location.hash = routeQuery("kv", { prefix: filter.value })));
  const keys = h("div", { test: "kv-keys" }, empty("Loading…"));
  const value = h("div", { test: "kv-value" }, empty("Select a key to see its value."));
  const secrets = h("div", { test: "secrets" }, empty("Loading…"));
  replace(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Key/value store")),
    h("div", { class: "filters" }, filter, h("button", { type: "button", onclick: () => (location.hash = routeQuery("kv", { prefix: filter.value })) }, "Filter")),
    h("div", { class: "two" }, section("Keys", keys), section("Value", value)),
    section("Secrets", h("p", { class: "muted small" }, "Names and versions only: values are encrypted and never shown here."), secrets),
  );

  const show = (entry) => {
    const text = entry.binary ? null : entry.value;
    for (const tr of keys.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    replace(
      value,
      h("div", { class: "mono strong kv-key", test: "kv-selected-key" }, entry.key),
      h("p", { class: "muted small" }, `modify index ${entry.modify_index} · create index ${entry.create_index} · ${entry.size} bytes${entry.cut ? " (first 4 KiB shown)" : ""}`),
      text == null ? empty(`binary value (${entry.size} bytes)`) : h("pre", { test: "kv-value-text" }, text === "" ? "(empty)" : text),
    );
  };

  api("/api/v1/kv?prefix=" + encodeURIComponent(prefix), { signal: ctx.signal })
    .then((answer) => {
      const entries = answer.entries || [];
      if (answer.truncated) ctx.error(new Error("Only the first 1000 keys are listed: filter by a prefix to see the rest."));
      if (!entries.length) return replace(keys, empty(prefix ? "No key starts with " + prefix + "." : "The store holds no keys."));
      const rows = entries.map((entry) => {
        const text = entry.binary ? null : entry.value;
        const tr = h(
          "tr",
          { test: "kv-row", class: entry.key === selected ? "selected" : null },
          h("td", { class: "key" }, h("button", { type: "button", class: "link-like mono", test: "kv-key", onclick: () => (show(entry), tr.classList.add("selected")) }, entry.key)),
          h("td", { class: "small muted" }, text == null ? "binary" : text.length > 60 ? text.slice(0, 60) + "…" : text),
          h("td", { class: "num small" }, String(entry.modify_index)),
        );
        if (entry.key === selected) show(entry);
        return tr;
      });
      replace(keys, table(["Key", "Value", "Index"], rows, { class: "kvtree", test: "kv-table" }));
    })
    .catch((e) => ctx.error(e));

  api("/api/v1/secrets", { signal: ctx.signal })
    .then((list) =>
      replace(
        secrets,
        list.length
          ? table(["Name", "Current version", "Live versions", "Updated"], list.map((s) => h("tr", { test: "secret-row" }, h("td", { class: "mono" }, s.name), h("td", { class: "num" }, String(s.version)), h("td", null, (s.versions || []).join(", ")), h("td", { class: "time" }, fmtDateTime(s.updated_ms)))), { test: "secrets-table" })
          : empty("No secrets. `shoal secret put NAME` stores one; services reference it as ${secret:NAME}."),
      ),
    )
    .catch((e) => ctx.error(e));
}
