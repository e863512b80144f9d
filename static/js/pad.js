// The evaluation pad (评价器): a tablet facing the citizen. It shows the clerk's card;
// when the clerk finishes a service it asks for one of the five national levels, with a
// reason required for the two lowest, thanks the citizen and goes back to the card.
// One rating per service: the pad sends at most one, and the server refuses a second.
// A route bundle rated by part ([policy] bundle_rating = "part") is asked for at each part's
// window as that part is done: the request names the part, shown under the ticket.

import { $, $$, Live, ApiError, api, deviceToken, explain, expose, nameOf, now, onLangChange, params, renderPhoto, resetLang, setText, startPage, t, toast } from "./hallcall.js";

const number = params.window;
const IDLE_MS = (params.idle || 90) * 1000; // an unrated service goes back to the card
const THANKS_MS = (params.thanks || 5) * 1000;
const pad = $("#pad");
const screens = { card: $("#pad-card"), rate: $("#pad-rate"), reasons: $("#pad-reasons"), thanks: $("#pad-thanks") };

let win = null;
let pending = null; // {id, number, part} of the finished service awaiting a rating
let services = new Map(); // id -> service, for a part's name
let chosen = 0;
let busy = false;
let timer = 0;
const rated = []; // keys of the last services rated here: a replayed request is not asked twice
const keyOf = (id, part) => (part ? `${id}.${part}` : id); // a ticket, or one part of a bundle rated by part

function show(name) {
  pad.dataset.screen = name;
  for (const [key, el] of Object.entries(screens)) el.hidden = key !== name;
  clearTimeout(timer);
  if (name === "rate" || name === "reasons") timer = setTimeout(backToCard, IDLE_MS);
  if (name === "thanks") timer = setTimeout(backToCard, THANKS_MS);
}

function backToCard() {
  pending = null;
  chosen = 0;
  resetLang(); // the next citizen starts in the hall's language
  show("card");
}

function renderCard() {
  const open = win && win.status !== "closed" && win.clerk_name;
  setText($("#pad-name"), open ? win.clerk_name : "");
  setText($("#pad-staff-no"), open ? win.staff_no || "—" : "—");
  setText($("#pad-dept"), open ? win.department || "—" : "—");
  $("#pad-closed").hidden = !!open;
  $("#pad-greet").hidden = !open;
  renderPhoto($("#pad-photo"), open ? win.photo : "", open ? win.clerk_name : "—");
}

function remember(id) {
  rated.push(id);
  if (rated.length > 50) rated.shift();
}

function renderPart() {
  const part = pending && pending.part ? services.get(pending.part) || { name: pending.part } : null;
  setText($("#pad-part"), part ? nameOf(part) : "");
  $("#pad-part").hidden = !part;
}

function ask(ticket, part) {
  pending = { id: ticket.id, number: ticket.number, part: part || null };
  chosen = 0;
  setText($("#pad-ticket"), ticket.number);
  renderPart();
  setText($("#pad-rate-clerk"), win && win.clerk_name ? `${win.clerk_name}${win.staff_no ? ` (${t("pad.staff_no")} ${win.staff_no})` : ""}` : "");
  for (const b of $$(".pad-reason")) b.setAttribute("aria-pressed", "false");
  $("#pad-submit").disabled = true;
  show("rate");
}

async function submit(level, reasons = []) {
  if (busy || !pending) return;
  busy = true;
  for (const b of $$("#pad button")) b.setAttribute("aria-busy", "true");
  try {
    await api("POST", "/api/v1/evaluations", { ticket: pending.id, level, reasons, source: "pad" }, { token });
    remember(keyOf(pending.id, pending.part));
    show("thanks");
  } catch (err) {
    if (err instanceof ApiError && err.code === "already_rated") show("thanks");
    else toast(explain(err));
  } finally {
    busy = false;
    for (const b of $$("#pad button")) b.removeAttribute("aria-busy");
  }
}

for (const btn of $$("#pad-levels .rate-level")) {
  btn.addEventListener("click", () => {
    const level = Number(btn.dataset.level);
    if (level <= 2) {
      chosen = level;
      setText($("#pad-chosen"), t(`rate.l${level}`));
      show("reasons");
    } else {
      submit(level);
    }
  });
}
for (const btn of $$(".pad-reason")) {
  btn.addEventListener("click", () => {
    btn.setAttribute("aria-pressed", btn.getAttribute("aria-pressed") === "true" ? "false" : "true");
    $("#pad-submit").disabled = !$$('.pad-reason[aria-pressed="true"]').length;
    show("reasons"); // any touch restarts the idle timer
  });
}
$("#pad-back").addEventListener("click", () => show("rate"));
$("#pad-submit").addEventListener("click", () => {
  const reasons = $$('.pad-reason[aria-pressed="true"]').map((b) => b.dataset.reason);
  if (reasons.length) submit(chosen, reasons);
});

function onSnapshot(state) {
  win = (state.windows || []).find((w) => w.number === number) || null;
  services = new Map((state.services || []).map((s) => [s.id, s]));
  renderCard();
}

function onEvent(msg) {
  const d = msg.data || {};
  if (d.window && d.window.number === number) {
    win = { ...(win || {}), ...d.window };
    renderCard();
  }
  const part = (msg.name === "evaluation.submitted" ? (d.evaluation || {}).part : d.part) || null;
  if (msg.name === "evaluation.submitted" && d.ticket) remember(keyOf(d.ticket.id, part));
  if (msg.name === "evaluation.requested" && d.ticket && d.ticket.window === number && (part || d.ticket.rating == null)
      && !rated.includes(keyOf(d.ticket.id, part))) {
    // A request replayed after a long outage is stale: the citizen has left.
    if (now().getTime() - Date.parse(msg.at) < IDLE_MS) ask(d.ticket, part);
  } else if (msg.name === "evaluation.submitted" && pending && d.ticket && d.ticket.id === pending.id && part === pending.part) {
    if (pad.dataset.screen !== "thanks") show("thanks"); // rated elsewhere (the phone)
  }
}

startPage();
const token = deviceToken();
if (!token) toast(t("pad.no_token"), "error", 3600000);
renderCard();
show("card");
const live = new Live({
  topics: [`window:${number}`],
  token,
  onSnapshot,
  onEvent,
  onRefused: (err) => toast(`${t("pad.token_refused")} (${err.code})`, "error", 60000),
}).start();
onLangChange(() => {
  renderCard();
  renderPart();
  if (chosen) setText($("#pad-chosen"), t(`rate.l${chosen}`));
});
expose("pad", { live, state: () => ({ win, pending, screen: pad.dataset.screen }) });
