// Flags page (#/flags): every feature flag with its state, rollout, rules and last minute's evaluations; toggle and change rollout.

import { api } from "./api.js";
import { h, replace, table, badge, empty, fmtAgo, fmtDateTime } from "./dom.js";
import { progressBar } from "./fleet.js";
import { actionButton, confirmAction } from "./actions.js";

export const name = "flags";

function rules(f) {
  const out = [];
  if (f.user_header) out.push(`sticky by ${f.user_header}`);
  for (const r of f.force_on || []) out.push(`force on: ${r.header} ∈ {${(r.values || []).join(", ")}}`);
  if (f.allow?.length) out.push(`allow: ${f.allow.join(", ")}`);
  if (f.deny?.length) out.push(`deny: ${f.deny.join(", ")}`);
  for (const c of f.constraints || []) out.push("only if " + (c.path_prefix != null ? `path starts with ${c.path_prefix}` : c.equals != null ? `${c.header} = ${c.equals}` : `${c.header} ∈ {${(c.in || []).join(", ")}}`));
  if (f.variants?.length) out.push("variants: " + f.variants.map((v) => `${v.name} (${v.weight})`).join(", ") + `; off: ${f.off_variant}`);
  return out;
}

function evaluations(ev) {
  const entries = Object.entries(ev || {});
  if (!entries.length) return h("span", { class: "muted" }, "none");
  const total = entries.reduce((a, [, n]) => a + n, 0);
  return h("span", { class: "small" }, entries.map(([k, n]) => `${k === "1" ? "on" : k === "0" ? "off" : k}: ${n}`).join(" · "), h("span", { class: "muted" }, ` (${total})`));
}

export function mount(root, ctx) {
  document.title = "Flags · Shoal";
  const list = h("div", { test: "flags" }, empty("Loading…"));
  replace(root, h("div", { class: "page-head" }, h("h1", null, "Feature flags"), h("span", { class: "muted small" }, "evaluated once per request at the gateway; evaluations are the last minute's")), h("section", { class: "panel" }, list));
  const refresher = ctx.every(5000, async () => {
    const flags = await api("/api/v1/flags", { signal: ctx.signal });
    if (!flags.length) return replace(list, empty("No flags. Add [flags.NAME] to the service file or PUT /api/v1/flags/NAME."));
    replace(
      list,
      table(
        ["Flag", "State", "Rollout", "Rules", "Evaluations (1 min)", "Origin", "Updated", ""],
        flags.map((f) =>
          h(
            "tr",
            { test: "flag-row", data: { flag: f.name, enabled: f.enabled, rollout: f.rollout } },
            h("td", { class: "strong mono" }, f.name),
            h("td", null, badge(f.enabled ? "on" : "off", f.enabled ? "ok" : "muted", "flag-state")),
            h("td", null, h("span", { test: "flag-rollout" }, `${f.rollout}%`), progressBar(f.rollout / 100)),
            h("td", { class: "small" }, rules(f).map((r) => h("div", null, r))),
            h("td", null, evaluations(f.evaluations)),
            h("td", { class: "small" }, f.origin, f.version != null ? h("span", { class: "muted" }, " v" + f.version) : null),
            h("td", { class: "time", title: fmtDateTime(f.updated_ms) }, fmtAgo(f.updated_ms)),
            h(
              "td",
              { class: "num" },
              actionButton(f.enabled ? "Turn off" : "Turn on", () => toggle(f, refresher), { test: "action-flag-toggle", danger: f.enabled }),
              " ",
              actionButton("Rollout…", () => rollout(f, refresher), { test: "action-flag-rollout" }),
            ),
          ),
        ),
        { test: "flags-table" },
      ),
    );
  });
  ctx.onEvent((e) => e.kind === "flag" && refresher.soon());
}

const isFlagEvent = (f) => (e) => e.kind === "flag" && (e.message || "").includes(f.name);

function toggle(f, refresher) {
  confirmAction({
    title: `Turn ${f.name} ${f.enabled ? "off" : "on"}`,
    message: f.enabled ? `Every request will see ${f.name} off.` : `${f.name} will be on for ${f.rollout}% of users (and forced users).`,
    confirmLabel: f.enabled ? "Turn off" : "Turn on",
    danger: f.enabled,
    eventMatch: isFlagEvent(f),
    run: async () => {
      const r = await api("/api/v1/flags/" + encodeURIComponent(f.name), { method: "PATCH", body: { enabled: !f.enabled } });
      refresher.soon();
      return r;
    },
    done: () => `${f.name} turned ${f.enabled ? "off" : "on"}`,
  });
}

function rollout(f, refresher) {
  confirmAction({
    title: `Change the rollout of ${f.name}`,
    message: "Percent of users (sticky by " + (f.user_header || "X-User-Id") + ") who see the flag on while it is enabled.",
    fields: [{ name: "rollout", label: "Rollout %", type: "number", value: f.rollout, min: 0, max: 100, step: "any" }],
    confirmLabel: "Set rollout",
    eventMatch: isFlagEvent(f),
    run: async (v) => {
      if (!(v.rollout >= 0 && v.rollout <= 100)) throw new Error("a percentage from 0 to 100");
      const r = await api("/api/v1/flags/" + encodeURIComponent(f.name), { method: "PATCH", body: { rollout: v.rollout } });
      refresher.soon();
      return r;
    },
    done: (r) => `${f.name}: rollout ${r?.rollout ?? ""}%`,
  });
}
