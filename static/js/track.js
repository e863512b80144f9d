// The phone tracking page (/t/{token}, the QR code's target): live position and ETA,
// a full-screen "请到 3 号窗口" with a chime and vibration when called, a cancel button
// while waiting, and the rating after the service. It subscribes to its own ticket's
// topic only, so it never learns anything about other citizens.

import { $, $$, ApiError, Live, api, explain, expose, hall, nameOf, noWindowText, onLangChange, params, setText, showAssist, startPage, t, toast } from "./hallcall.js";

const token = params.token;
const windowsByNumber = new Map(hall.windows.map((w) => [w.number, w]));
const servicesById = new Map(hall.services.map((s) => [s.id, s]));

let ticket = null;
let missing = false;
let level = 0;
let busy = false;
let cancelArmed = 0;
let audio = null;

// -- sound and vibration -------------------------------------------------------------------------

// Browsers only let a page make sound after a touch, so the first touch unlocks it.
function unlockSound() {
  if (!audio) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = new Ctx();
  }
  if (audio.state === "suspended") audio.resume();
  // Say so in place: hiding the button would move the page under the finger mid-tap.
  const btn = $("#tr-sound");
  btn.disabled = true;
  btn.dataset.i18n = "track.sound_on";
  setText(btn, t("track.sound_on"));
}

/** A two-note chime (ding-dong) made with WebAudio: no sound files to ship. */
function chime() {
  if (!audio || audio.state !== "running") return;
  const t0 = audio.currentTime + 0.02;
  [[659.25, 0], [523.25, 0.45], [659.25, 1.3], [523.25, 1.75]].forEach(([freq, at]) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t0 + at);
    gain.gain.exponentialRampToValueAtTime(0.6, t0 + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.9);
    osc.connect(gain).connect(audio.destination);
    osc.start(t0 + at);
    osc.stop(t0 + at + 1);
  });
}

function alertCitizen() {
  chime();
  if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 400]);
}

// -- rendering ----------------------------------------------------------------------------------

function windowText(n) {
  const w = windowsByNumber.get(n);
  return w ? nameOf(w) : "";
}

function render() {
  if (missing) {
    setText($("#tr-number"), "—");
    setText($("#tr-status"), t("track.unknown"));
    $("#tr-status").dataset.status = "unknown";
    $("#tr-stats").hidden = true;
    $("#tr-cancel").hidden = true;
    $("#tr-alerts").hidden = true;
    return;
  }
  if (!ticket) return;
  const st = ticket.status;
  setText($("#tr-number"), ticket.number);
  const s = servicesById.get(ticket.service);
  setText($("#tr-service"), s ? nameOf(s) : ticket.service_name || "");
  $("#tr-status").dataset.status = st;
  $("#tr-prio").hidden = ticket.priority !== "green";
  const statusText = {
    waiting: t("status.waiting"),
    called: t("track.go_to", { n: ticket.window }),
    serving: t("track.serving", { n: ticket.window }),
    held: t("status.held"),
    done: t("status.done"),
    no_show: t("track.no_show"),
    cancelled: t("status.cancelled"),
    expired: t("status.expired"),
  }[st] || st;
  setText($("#tr-status"), statusText);
  $("#tr-stats").hidden = st !== "waiting";
  if (st === "waiting") {
    setText($("#tr-ahead"), t("track.people_n", { n: ticket.ahead ?? 0 }));
    const eta = ticket.eta_minutes;
    // A waiting ticket without an ETA: no window serving its service is signed in.
    setText($("#tr-eta"), eta == null ? noWindowText() : eta <= 1 ? t("track.eta_soon") : t("track.eta_minutes", { n: eta }));
    $("#tr-eta").dataset.noWindow = String(eta == null);
  }
  const where = $("#tr-where");
  where.hidden = !["called", "serving"].includes(st);
  if (!where.hidden) setText(where, windowText(ticket.window));
  $("#tr-alerts").hidden = st !== "waiting" && st !== "called";
  const cancel = $("#tr-cancel");
  cancel.hidden = !["waiting", "no_show"].includes(st);
  setText(cancel, cancelArmed ? t("track.cancel_confirm") : t("track.cancel"));
  cancel.classList.toggle("armed", !!cancelArmed);
  const rateable = st === "done" && ticket.rating == null;
  $("#tr-rate").hidden = !rateable;
  $("#tr-thanks").hidden = !(st === "done" && ticket.rating != null);
  if (st !== "called") $("#tr-called").hidden = true;
}

function showCalled(sound) {
  if (!ticket || ticket.status !== "called") return;
  // One overlay per call: a dismissed call stays dismissed across reloads.
  const key = `hallcall.seen:${token}`;
  const callId = `${ticket.called_at}|${ticket.recalls || 0}`;
  if (!sound && sessionStorage.getItem(key) === callId) return;
  setText($("#tr-called-number"), ticket.number);
  setText($("#tr-called-where"), t("track.go_to", { n: ticket.window }));
  setText($("#tr-called-name"), windowText(ticket.window));
  $("#tr-called").hidden = false;
  $("#tr-called").dataset.call = callId;
  $("#tr-called-ok").focus();
  if (sound) alertCitizen();
}

// -- live updates --------------------------------------------------------------------------------

let seenSeq = 0; // the newest hall state applied: an HTTP reply read before it is stale

function merge(next) {
  ticket = { ...(ticket || {}), ...next };
  missing = false;
}

function onSnapshot(state) {
  seenSeq = Math.max(seenSeq, state.seq || 0);
  const mine = state.tickets && state.tickets[token];
  if (mine) {
    merge(mine);
    render();
    showCalled(false);
  }
}

// 帮办: the request of this ticket, as the citizen sees it (its state and the guide who took it).
let assist = null;

function renderAssist() {
  showAssist($("#tr-assist"), assist, "citizen");
}

async function loadAssist() {
  try {
    assist = (await api("GET", `/api/v1/tickets/${encodeURIComponent(token)}/assist`)).assist;
  } catch {
    return; // the ticket's own read says what is wrong
  }
  renderAssist();
}

function onEvent(msg) {
  seenSeq = Math.max(seenSeq, msg.seq || 0);
  const d = msg.data || {};
  if (msg.name.startsWith("assist.") && d.docs && d.docs.length) {
    assist = d.docs[0].data;
    renderAssist();
    return;
  }
  if (!d.ticket) return;
  const wasWaiting = ticket && ticket.status === "waiting";
  merge(d.ticket);
  if (msg.name === "ticket.called" || msg.name === "ticket.recalled") {
    render();
    showCalled(true);
    return;
  }
  if (msg.name === "ticket.transferred" || (!wasWaiting && ticket.status === "waiting")) load(); // new queue: fresh position
  render();
}

function onPosition(msg) {
  if (!ticket || msg.ticket !== ticket.number) return;
  ticket.ahead = msg.ahead;
  ticket.eta_minutes = msg.eta_minutes;
  render();
}

let loads = 0; // finished reads of the ticket, for tests
const loadWaiters = [];

function untilLoads(n) {
  return loads >= n ? Promise.resolve() : new Promise((resolve) => loadWaiters.push([n, resolve]));
}

async function load() {
  try {
    const fresh = await api("GET", `/api/v1/tickets/${encodeURIComponent(token)}`);
    // A reply read before an event already applied (a call, say) would turn the clock back.
    if ((fresh.seq ?? Infinity) >= seenSeq) {
      merge(fresh);
      seenSeq = Math.max(seenSeq, fresh.seq || 0);
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) missing = true;
    else if (!ticket) toast(explain(err));
  }
  loads += 1;
  render();
  for (const [n, resolve] of loadWaiters.splice(0)) {
    if (loads >= n) resolve();
    else loadWaiters.push([n, resolve]);
  }
}

// -- actions -------------------------------------------------------------------------------------

async function cancel() {
  if (busy) return;
  if (!cancelArmed) {
    cancelArmed = setTimeout(() => {
      cancelArmed = 0;
      render();
    }, 5000);
    render();
    return;
  }
  clearTimeout(cancelArmed);
  cancelArmed = 0;
  busy = true;
  try {
    merge(await api("DELETE", `/api/v1/tickets/${encodeURIComponent(token)}`));
  } catch (err) {
    toast(explain(err));
  } finally {
    busy = false;
    render();
  }
}

function updateRateForm() {
  for (const b of $$("#tr-levels .rate-level")) b.setAttribute("aria-pressed", String(Number(b.dataset.level) === level));
  const needReason = level > 0 && level <= 2;
  $("#tr-reasons").hidden = !needReason;
  const reasons = $$("#tr-reasons input:checked").length;
  $("#tr-submit").disabled = !level || (needReason && !reasons);
}

async function submitRating() {
  if (busy || !level) return;
  const reasons = level <= 2 ? $$("#tr-reasons input:checked").map((i) => i.value) : [];
  if (level <= 2 && !reasons.length) return;
  busy = true;
  $("#tr-submit").disabled = true;
  try {
    const comment = $("#tr-comment").value.trim();
    await api("POST", "/api/v1/evaluations", { ticket: token, level, reasons, comment: comment || null });
    ticket.rating = level;
  } catch (err) {
    if (err instanceof ApiError && err.code === "already_rated") ticket.rating = ticket.rating || level;
    else toast(explain(err));
  } finally {
    busy = false;
    updateRateForm();
    render();
  }
}

// -- start ----------------------------------------------------------------------------------------

startPage();
$("#tr-sound").addEventListener("click", unlockSound);
document.addEventListener("pointerdown", unlockSound, { once: true });
$("#tr-called-ok").addEventListener("click", () => {
  $("#tr-called").hidden = true;
  sessionStorage.setItem(`hallcall.seen:${token}`, $("#tr-called").dataset.call || "");
});
$("#tr-cancel").addEventListener("click", cancel);
for (const b of $$("#tr-levels .rate-level")) {
  b.addEventListener("click", () => {
    level = Number(b.dataset.level);
    updateRateForm();
  });
}
for (const i of $$("#tr-reasons input")) i.addEventListener("change", updateRateForm);
$("#tr-submit").addEventListener("click", submitRating);

// Positions are sent live only, never replayed: after a reconnect, ask for ours again.
const live = new Live({ topics: [`ticket:${token}`], onSnapshot, onEvent, onPosition, onWelcome: () => {
  load();
  loadAssist();
} }).start();
onLangChange(() => {
  render();
  renderAssist();
});
expose("track", { live, state: () => ticket, untilLoads });
