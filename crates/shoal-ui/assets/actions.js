// Actions: confirmation dialog, action buttons (only with the `write` right) and result toasts with the resulting event.

import { can } from "./api.js";
import { h, replace, fmtTime } from "./dom.js";
import { nextEvent } from "./live.js";

// A button that runs an action; null (no button at all) without the `write` right.
export function actionButton(label, onclick, { test, danger = false, title } = {}) {
  if (!can("write")) return null;
  return h("button", { type: "button", class: ["action", danger && "danger"], test: test || "action", title, onclick }, label);
}

// Shows a message in the corner; returns the toast element (for follow-up lines).
export function toast(text, kind = "info", ms = 8000) {
  const el = h("div", { class: ["toast", "t-" + kind], test: "toast" }, h("div", null, text));
  document.getElementById("toasts").append(el);
  const close = () => el.remove();
  el.addEventListener("click", close);
  setTimeout(close, ms);
  return el;
}

// Asks for confirmation (with optional input fields), then runs `run(values)`.
// On success a toast says what happened, then shows the next event of `service` (or `eventMatch`).
export function confirmAction({ title, message, fields = [], confirmLabel = "Confirm", danger = false, run, done, service, eventMatch }) {
  const dialog = document.getElementById("confirm");
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  const errEl = document.getElementById("confirm-error");
  document.getElementById("confirm-title").textContent = title;
  const inputs = {};
  const body = [h("p", null, message)];
  for (const f of fields) {
    const input = h("input", { type: f.type || "text", name: f.name, value: f.value ?? "", min: f.min, max: f.max, step: f.step, test: "confirm-" + f.name });
    inputs[f.name] = input;
    body.push(h("label", { class: "field" }, f.label + " ", input));
  }
  replace(document.getElementById("confirm-body"), body);
  errEl.textContent = "";
  ok.textContent = confirmLabel;
  ok.className = danger ? "danger" : "primary";
  ok.disabled = false;

  const values = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.type === "number" ? Number(el.value) : el.value]));
  const finish = () => {
    ok.onclick = null;
    cancel.onclick = null;
    dialog.onkeydown = null;
    if (dialog.open) dialog.close();
  };
  ok.onclick = async () => {
    ok.disabled = true;
    errEl.textContent = "";
    const since = Date.now();
    const waitFor = nextEvent(eventMatch || ((e) => !service || e.service === service), 20000);
    try {
      const result = await run(values());
      finish();
      const t = toast(done ? done(result) : title + ": done", "ok", 15000);
      t.dataset.test = "action-result";
      const line = h("div", { class: "toast-event", test: "action-event" }, "waiting for the resulting event…");
      t.append(line);
      const e = await waitFor;
      line.textContent = e ? `event ${fmtTime(e.time_ms)} ${e.kind}: ${e.message}` : `no event within ${Math.round((Date.now() - since) / 1000)} s`;
    } catch (e) {
      ok.disabled = false;
      errEl.textContent = e.message + (e.detail ? ` (${typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail)})` : "");
    }
  };
  cancel.onclick = finish;
  dialog.onkeydown = (ev) => {
    if (ev.key === "Enter" && ev.target.tagName === "INPUT") ok.click();
  };
  dialog.showModal();
  (fields.length ? inputs[fields[0].name] : ok).focus();
}
