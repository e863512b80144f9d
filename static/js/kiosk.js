// The kiosk (取号机): zones and services as big touch targets with the waiting count
// and ETA, a confirmation step (with the green channel where staff enabled it on this
// kiosk's token), then the ticket on screen with a QR code to the tracking page while
// the kiosk's printer agent prints it (the server emits print.requested). Clear screens
// for a closed hall, exhausted tickets and an unreachable server; back to the start
// after a timeout. It shows nothing about anyone but the ticket just taken.

import { $, $$, ApiError, Live, api, boot, deviceToken, explain, expose, hall, connection, hallIsOpen, isOnline, nameOf, noWindowText, onLangChange, params, resetLang, setText, startPage, t } from "./hallcall.js";
import { qrSvg } from "./qr.js";

const IDLE_MS = (params.idle || 60) * 1000;
const DONE_S = params.done || 30;
const services = new Map(hall.services.map((s) => [s.id, { ...s, waiting: null, eta_minutes: null, remaining: s.daily_limit }]));
const firstZone = hall.zones.length ? hall.zones[0].id : "";

let zone = firstZone;
let chosen = null; // service id on the confirmation sheet
let ticket = null; // the ticket on screen
let busy = false;
let requestKey = "";
let green = false;
let blocked = ""; // a reason this kiosk cannot issue at all: no_token, bad_token
let idleTimer = 0;
let meLoaded = false;
let countdown = 0;
let wantsHelp = false; // 需要帮办 pressed on the confirmation: ask for a guide with the ticket
const printers = new Map(); // this kiosk's printers (device id -> last health report), over printer:<kiosk>
const PRINTING = ["online", "paper_near_end"];

// -- screens ------------------------------------------------------------------------------

function showOnly(which) {
  $("#k-start").hidden = which !== "start" && which !== "confirm" && which !== "checkin";
  $("#k-confirm").hidden = which !== "confirm";
  $("#k-checkin").hidden = which !== "checkin";
  $("#k-ticket").hidden = which !== "ticket";
  $("#k-message").hidden = which !== "message";
  document.body.dataset.screen = which;
}

function resetToStart() {
  chosen = null;
  ticket = null;
  resetLang(); // the next citizen starts in the hall's language
  $("#k-checkin-input").value = ""; // an ID number never stays on the page
  clearInterval(countdown);
  selectZone(firstZone);
  if (blocked) showMessage(blocked);
  else showOnly("start");
  renderTiles();
}

function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (document.body.dataset.screen !== "ticket") resetToStart();
  }, IDLE_MS);
}

function showMessage(code) {
  const titles = {
    hall_closed: "kiosk.closed_title",
    tickets_exhausted: "kiosk.exhausted_title",
    network: "kiosk.offline_title",
    unavailable: "kiosk.offline_title",
    no_token: "kiosk.no_token_title",
    bad_token: "kiosk.bad_token_title",
  };
  setText($("#k-message-title"), t(titles[code] || "kiosk.error_title"));
  let text;
  if (code === "hall_closed") text = t("kiosk.closed_text", { hours: (hall.hours || []).join("、") });
  else if (code === "tickets_exhausted") text = t("kiosk.exhausted_text");
  else if (code === "network" || code === "unavailable") text = t("kiosk.offline_text");
  else if (code === "no_token" || code === "bad_token") text = t("kiosk.token_text");
  else text = explain(new ApiError(0, code, code));
  setText($("#k-message-text"), text);
  $("#k-message-ok").hidden = code === "no_token" || code === "bad_token";
  $("#k-message").dataset.code = code;
  showOnly("message");
}

// -- zones and service tiles --------------------------------------------------------------------

function selectZone(id) {
  zone = id;
  for (const b of $$(".k-zone")) b.setAttribute("aria-pressed", String(b.dataset.zone === id));
  for (const tile of $$(".k-service")) tile.hidden = tile.dataset.zone !== id;
}

// A null ETA for a waiting queue means no window serving it is signed in: say so, never a guess.
function etaText(minutes) {
  if (minutes == null) return noWindowText();
  return minutes <= 1 ? t("kiosk.eta_soon") : t("kiosk.eta_minutes", { n: minutes });
}

function closedNow() {
  return !boot.issue_outside_hours && !hallIsOpen();
}

function renderTiles() {
  const closed = closedNow();
  const offline = connection() === "offline";
  const ready = isOnline();
  document.body.dataset.closed = String(closed);
  for (const tile of $$(".k-service")) {
    const s = services.get(tile.dataset.service);
    const out = s.remaining != null && s.remaining <= 0;
    tile.disabled = out || closed || !ready || !!blocked;
    // (check-in stays open while the hall is closed: a booked citizen may arrive early)
    tile.classList.toggle("out", out);
    const waiting = $("[data-waiting]", tile);
    const eta = $("[data-eta]", tile);
    if (out) {
      setText(waiting, t("kiosk.exhausted_short"));
      setText(eta, "");
    } else if (s.waiting == null) {
      setText(waiting, "–");
      setText(eta, "");
    } else {
      setText(waiting, t("kiosk.waiting_n", { n: s.waiting }));
      setText(eta, s.eta_minutes == null ? noWindowText() : s.eta_minutes <= 1 ? t("kiosk.eta_soon") : t("kiosk.eta_tile", { n: s.eta_minutes }));
      tile.classList.toggle("no-window", s.eta_minutes == null);
    }
  }
  $("#k-checkin-open").disabled = !ready || !!blocked;
  const banner = $("#k-banner") || makeBanner();
  if (blocked) banner.hidden = true;
  else if (offline) {
    banner.hidden = false;
    banner.dataset.kind = "offline";
    setText(banner, t("kiosk.offline_banner"));
  } else if (closed) {
    banner.hidden = false;
    banner.dataset.kind = "closed";
    setText(banner, t("kiosk.closed_text", { hours: (hall.hours || []).join("、") }));
  } else banner.hidden = true;
  if (chosen) renderConfirm();
}

function makeBanner() {
  const b = document.createElement("p");
  b.id = "k-banner";
  b.className = "k-banner";
  b.setAttribute("role", "status");
  $("#k-start").prepend(b);
  return b;
}

function renderConfirm() {
  const s = services.get(chosen);
  setText($("#k-confirm-name"), nameOf(s));
  setText($("#k-confirm-waiting"), s.waiting == null ? "–" : t("kiosk.people_n", { n: s.waiting }));
  setText($("#k-confirm-eta"), s.waiting == null ? "–" : etaText(s.eta_minutes));
  $("#k-confirm-eta").classList.toggle("no-window", s.waiting != null && s.eta_minutes == null);
  $("#k-take-green").hidden = !green;
}

function setWantsHelp(on) {
  wantsHelp = on;
  const b = $("#k-assist");
  if (b) b.setAttribute("aria-pressed", String(on));
}

function openConfirm(id) {
  chosen = id;
  setWantsHelp(false);
  requestKey = crypto.randomUUID(); // one ticket per confirmation, even if the request is retried
  renderConfirm();
  showOnly("confirm");
  $("#k-take").focus();
}

// -- taking a ticket --------------------------------------------------------------------------

async function take(priority) {
  if (busy || !chosen) return;
  busy = true;
  document.body.dataset.busy = "true";
  const body = { service: chosen };
  if (priority) body.priority = priority;
  try {
    let result;
    try {
      result = await api("POST", "/api/v1/tickets", body, { token, headers: { "Idempotency-Key": requestKey } });
    } catch (err) {
      // One quiet retry for a blip: the idempotency key makes it the same ticket.
      if (!(err instanceof ApiError) || err.code !== "network") throw err;
      result = await api("POST", "/api/v1/tickets", body, { token, headers: { "Idempotency-Key": requestKey } });
    }
    showTicket(result);
    if (wantsHelp) askForHelp(result.token);
  } catch (err) {
    showMessage(err instanceof ApiError ? err.code : "network");
  } finally {
    busy = false;
    delete document.body.dataset.busy;
  }
}

// The guides see the request at once; the ticket screen says a guide is coming, or where to go instead.
async function askForHelp(tok) {
  const note = $("#k-assist-note");
  let key = "kiosk.assist_sent";
  try {
    await api("POST", "/api/v1/assist", { token: tok }, { token });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "assist_exists") key = "kiosk.assist_failed";
  }
  if (!ticket || ticket.token !== tok) return; // the next citizen is at the kiosk already
  note.dataset.i18n = key;
  note.dataset.state = key === "kiosk.assist_sent" ? "sent" : "failed";
  setText(note, t(key));
  note.hidden = false;
}

// -- appointment check-in (预约签到) --------------------------------------------------------------
// The ID card reader and the QR scanner type into one field and press Enter. An 18-character
// resident ID number goes to the server as such (it hashes it); anything else is a booking code.

const ID_NUMBER = /^\s*\d{17}[\dXx]\s*$/;

function openCheckin() {
  $("#k-checkin-input").value = "";
  showOnly("checkin");
  $("#k-checkin-input").focus();
}

async function checkIn(event) {
  event.preventDefault();
  const input = $("#k-checkin-input");
  const value = input.value.trim();
  input.value = "";
  if (busy || !value) return;
  busy = true;
  document.body.dataset.busy = "true";
  const body = ID_NUMBER.test(value) ? { id_number: value } : { code: value };
  try {
    const result = await api("POST", "/api/v1/appointments/check-in", body, { token });
    showTicket(result.ticket);
  } catch (err) {
    const code = err instanceof ApiError ? err.code : "network";
    showMessage(code);
    const opens = code === "too_early" && /(\d{1,2}:\d{2})/.exec(err.message);
    if (opens) setText($("#k-message-text"), t("kiosk.checkin_early", { time: opens[1] }));
  } finally {
    busy = false;
    delete document.body.dataset.busy;
  }
}

function trackingUrl(tok) {
  const base = (boot.public_url || location.origin).replace(/\/+$/, "");
  return `${base}/t/${tok}`;
}

function renderTicket() {
  if (!ticket) return;
  const s = services.get(ticket.service) || { name: ticket.service_name, name_en: ticket.service_name_en };
  setText($("#k-ticket-number"), ticket.number);
  setText($("#k-ticket-service"), nameOf(s));
  setText($("#k-ticket-ahead"), t("kiosk.people_n", { n: ticket.ahead ?? 0 }));
  setText($("#k-ticket-eta"), etaText(ticket.eta_minutes));
  $("#k-ticket-eta").classList.toggle("no-window", ticket.eta_minutes == null);
  $("#k-ticket-green").hidden = ticket.priority !== "green";
  $("#k-ticket-appt").hidden = ticket.priority !== "appointment";
  // "Printing" only when a printer bound to this kiosk says it is ready; otherwise the
  // citizen must not walk away expecting a slip.
  const printing = [...printers.values()].some((p) => PRINTING.includes(p.status));
  const note = $("#k-print");
  setText(note, t(printing ? "kiosk.printing" : "kiosk.no_printer"));
  note.dataset.printing = String(printing);
}

function applyPrinters(list) {
  for (const d of list || []) if (d.kind === "printer") printers.set(d.device, d);
  renderTicket();
}

function showTicket(result) {
  ticket = result;
  $("#k-assist-note").hidden = true;
  renderTicket();
  const box = $("#k-qr");
  box.replaceChildren(qrSvg(trackingUrl(result.token), { label: t("kiosk.scan") }));
  showOnly("ticket");
  let left = DONE_S;
  const tick = () => setText($("#k-countdown"), t("kiosk.countdown", { n: left }));
  tick();
  clearInterval(countdown);
  countdown = setInterval(() => {
    left -= 1;
    if (left <= 0) resetToStart();
    else tick();
  }, 1000);
}

// -- live counts ----------------------------------------------------------------------------------

function applyQueues(list) {
  for (const q of list || []) {
    const s = services.get(q.id);
    if (s) Object.assign(s, { waiting: q.waiting, eta_minutes: q.eta_minutes, remaining: q.remaining });
  }
  renderTiles();
}

// -- start --------------------------------------------------------------------------------------

startPage();
const token = deviceToken();

for (const b of $$(".k-zone")) b.addEventListener("click", () => selectZone(b.dataset.zone));
for (const tile of $$(".k-service")) tile.addEventListener("click", () => openConfirm(tile.dataset.service));
$("#k-take").addEventListener("click", () => take(""));
$("#k-take-green").addEventListener("click", () => take("green"));
if ($("#k-assist")) $("#k-assist").addEventListener("click", () => setWantsHelp(!wantsHelp));
$("#k-cancel").addEventListener("click", () => {
  chosen = null;
  showOnly("start");
});
$("#k-done").addEventListener("click", resetToStart);
$("#k-checkin-open").addEventListener("click", openCheckin);
$("#k-checkin-form").addEventListener("submit", checkIn);
$("#k-checkin-cancel").addEventListener("click", () => {
  $("#k-checkin-input").value = "";
  showOnly("start");
});
$("#k-message-ok").addEventListener("click", resetToStart);
document.addEventListener("pointerdown", touched, { capture: true });
setInterval(renderTiles, 30000); // business hours end while the kiosk stands there

const live = new Live({
  topics: ["hall"],
  token,
  onSnapshot: (state) => {
    printers.clear();
    applyPrinters(state.printers);
    applyQueues(state.services);
  },
  onEvent: (msg) => {
    if (msg.data && msg.data.queues) applyQueues(msg.data.queues);
    if (msg.name === "device.status") applyPrinters(((msg.data && msg.data.docs) || []).map((doc) => doc.data));
  },
  onStatus: () => renderTiles(),
  onWelcome: () => {
    if (!meLoaded) loadMe(); // the server was down when the kiosk started
  },
  onRefused: (err) => {
    if (err.code === "unauthorized") {
      blocked = "bad_token";
      showMessage(blocked);
    }
  },
});

async function loadMe() {
  try {
    const me = await api("GET", "/api/v1/me", undefined, { token });
    if (me.role !== "kiosk") {
      blocked = "bad_token";
      showMessage(blocked);
      return;
    }
    green = !!me.green;
    if (me.kiosk) live.topics = ["hall", `printer:${me.kiosk}`]; // its printers' health
    meLoaded = true;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      blocked = "bad_token";
      showMessage(blocked);
    }
  }
}

async function init() {
  if (!token) {
    blocked = "no_token";
    showMessage(blocked);
    return;
  }
  await loadMe();
  if (blocked) return;
  live.start();
}

resetToStart();
init();
onLangChange(() => {
  renderTiles();
  renderTicket();
});
expose("kiosk", { live, services, state: () => ({ zone, chosen, ticket, green, blocked }) });
