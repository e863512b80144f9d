// The live monitor's advice card: per zone, the windows to open or close now and in the next
// hour (GET /api/v1/advice), each with one button that sends the advice to the windows'
// departments (POST /api/v1/advice/notify, carried by webhooks subscribed to advice.*).
// Asked again when windows sign in or out, as tickets come (at most every half minute) and
// each minute, never on every event.

import { $, api, explain, h, hall, lang, nameOf, t, toast } from "./hallcall.js";

const zones = new Map(hall.zones.map((z) => [z.id, z]));
const REFRESH_MS = 60000;
const SOON_MS = 30000;
let advice = { zones: [] };
let timer = null;
let last = 0;
let pending = null;

export async function loadAdvice() {
  last = Date.now();
  try {
    advice = await api("GET", "/api/v1/advice", undefined, { timeout: 30000 });
  } catch (ex) {
    toast(explain(ex));
    return;
  }
  renderAdvice();
}

/** Ask again soon: at once after a window's change, else within half a minute of the last answer. */
export function adviceChanged(urgent) {
  if (pending) return;
  const wait = urgent ? 0 : Math.max(0, SOON_MS - (Date.now() - last));
  pending = setTimeout(() => {
    pending = null;
    loadAdvice();
  }, wait);
}

export function startAdvice() {
  if (!timer) timer = setInterval(loadAdvice, REFRESH_MS);
  return loadAdvice();
}

export function stopAdvice() {
  clearInterval(timer);
  timer = null;
}

async function notify(zone, button) {
  button.disabled = true;
  try {
    const sent = await api("POST", "/api/v1/advice/notify", { zone });
    toast(t("admin.advice_sent", { zone: nameOf(zones.get(zone) || { name: zone }), seq: sent.seq }), "info", 4000);
  } catch (ex) {
    toast(explain(ex));
  } finally {
    button.disabled = false;
  }
}

export function renderAdvice() {
  const body = $("#a-advice tbody");
  if (!body) return;
  const rows = advice.zones.map((z) => {
    const act = z.to_open.length || z.to_close.length || z.next_open.length || z.next_close.length;
    const button = h("button", { type: "button", class: "hc-btn hc-btn-small a-advice-notify", hidden: !act }, t("admin.advice_notify"));
    button.addEventListener("click", () => notify(z.zone, button));
    const level = z.short ? "red" : z.to_open.length ? "orange" : "";
    return h("tr", { dataset: { zone: z.zone, level } },
      h("td", {}, nameOf(zones.get(z.zone) || { name: z.zone_name })),
      h("td", { class: "a-advice-text" }, lang() === "en" ? z.instruction_en : z.instruction),
      h("td", {}, button));
  });
  body.replaceChildren(...rows);
  $("#a-advice-none").hidden = rows.length > 0;
  $("#a-advice-source").textContent = advice.zones.length ? t(advice.forecast ? "admin.advice_forecast" : "admin.advice_pace") : "";
}

export const adviceNow = () => advice;
