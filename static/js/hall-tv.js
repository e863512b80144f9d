// The hall TV (综合屏): newest call large and flashing, recent calls per zone, waiting
// counts per service, the manager's notice, date and clock. Everything is pushed over
// the WebSocket. State is bounded (a fixed number of calls per zone) and the DOM is a
// fixed set of slots written at most once per animation frame, so a burst of 50 calls
// a second costs one render per frame and 10,000 calls cost no more memory than ten.

import { $, $$, Live, deviceToken, expose, frameBatcher, h, hall, lang, nameOf, onLangChange, params, setText, startPage, t, toast } from "./hallcall.js";

const zoneFilter = params.zone || null;
const slotsPerZone = $$(".tv-zone")[0] ? $$(".tv-zone")[0].querySelectorAll(".tv-call").length : 5;

const windowsByNumber = new Map(hall.windows.map((w) => [w.number, w]));
const servicesById = new Map(hall.services.map((s) => [s.id, s]));

// -- bounded state --------------------------------------------------------------------------

const model = {
  latest: null, // {number, window, zone, service, at, recall}
  latestIsNew: false,
  zones: new Map(hall.zones.map((z) => [z.id, []])), // newest first, at most slotsPerZone each
  waiting: new Map(), // service id -> count
  notice: { text: "", text_en: "" },
  calls: 0, // how many calls this page has shown: a counter, not a list
};

function addCall(call, fresh) {
  if (zoneFilter && call.zone !== zoneFilter) return;
  const list = model.zones.get(call.zone);
  if (!list) return;
  // A recall of the number already on top moves nothing; a new call goes to the top.
  const same = list.findIndex((c) => c.number === call.number && c.window === call.window);
  if (same >= 0) list.splice(same, 1);
  list.unshift(call);
  if (list.length > slotsPerZone) list.length = slotsPerZone;
  model.latest = call;
  model.latestIsNew = model.latestIsNew || fresh;
  model.calls += 1;
}

function applyQueues(queues) {
  for (const q of queues || []) model.waiting.set(q.id, q.waiting);
}

function onSnapshot(state) {
  for (const list of model.zones.values()) list.length = 0;
  model.latest = null;
  for (const call of state.recent_calls || []) addCall(call, false);
  model.latestIsNew = false;
  model.waiting.clear();
  applyQueues(state.services);
  model.notice = state.notice || { text: "", text_en: "" };
  dirty.all = true;
  schedule();
}

function onEvent(msg) {
  const d = msg.data || {};
  switch (msg.name) {
    case "ticket.called":
    case "ticket.recalled": {
      const tk = d.ticket;
      addCall({ number: tk.number, window: tk.window, zone: tk.zone, service: tk.service, at: msg.at, recall: msg.name === "ticket.recalled" }, true);
      dirty.calls = true;
      break;
    }
    case "notice.changed":
      model.notice = d.notice || { text: "", text_en: "" };
      dirty.notice = true;
      break;
    case "day.started":
      for (const list of model.zones.values()) list.length = 0;
      model.latest = null;
      dirty.calls = true;
      break;
    default:
      break;
  }
  if (d.queues) {
    applyQueues(d.queues);
    dirty.waiting = true;
  }
  schedule();
}

// -- rendering, once per frame ------------------------------------------------------------------

const dirty = { all: true, calls: false, waiting: false, notice: false };
const hero = $("#tv-hero");
const heroNumber = $("#tv-hero-number");
const heroWhere = $("#tv-hero-where");
const heroWindow = $("#tv-hero-window");
const heroRecall = $("#tv-hero-recall");
const noticeText = $("#tv-notice-text");
const zoneEls = new Map($$(".tv-zone").map((el) => [el.dataset.zone, $$(".tv-call", el)]));
const serviceEls = new Map($$(".tv-service").map((el) => [el.dataset.service, $("[data-waiting]", el)]));
hero.addEventListener("animationend", () => hero.classList.remove("flash"));
let renderedCalls = 0;

function windowLabel(n) {
  return t("tv.win_short", { n });
}

function renderHero() {
  const c = model.latest;
  if (!c) {
    setText(heroNumber, "—");
    setText(heroWhere, t("tv.waiting_for_call"));
    setText(heroWindow, "");
    heroRecall.hidden = true;
    return;
  }
  setText(heroNumber, c.number);
  setText(heroWhere, t("tv.go_to", { n: c.window }));
  const w = windowsByNumber.get(c.window);
  const s = servicesById.get(c.service);
  const names = [w ? nameOf(w) : "", s ? nameOf(s) : ""].filter(Boolean);
  setText(heroWindow, [...new Set(names)].join(" · "));
  heroRecall.hidden = !c.recall;
  if (model.latestIsNew) {
    model.latestIsNew = false;
    // Restart the CSS flash (6 × 1 s) from its first frame: drop the class, reflow, add it.
    hero.classList.remove("flash");
    void hero.offsetWidth;
    hero.classList.add("flash");
  }
}

function renderCalls() {
  for (const [zone, slots] of zoneEls) {
    const list = model.zones.get(zone) || [];
    slots.forEach((li, i) => {
      const c = list[i];
      setText(li.firstElementChild, c ? c.number : "");
      setText(li.lastElementChild, c ? windowLabel(c.window) : "");
      li.classList.toggle("empty", !c);
    });
  }
}

function renderWaiting() {
  for (const [id, el] of serviceEls) setText(el, model.waiting.get(id) ?? 0);
}

function renderNotice() {
  const text = (lang() === "en" && model.notice.text_en) || model.notice.text || t("tv.no_notice", { hall: nameOf(hall) });
  if (noticeText.dataset.text === text) return;
  noticeText.dataset.text = text;
  noticeText.classList.remove("scrolling");
  noticeText.replaceChildren(h("span", {}, text));
  const track = noticeText.parentElement;
  const width = noticeText.firstElementChild.getBoundingClientRect().width;
  if (width <= track.clientWidth) return; // short enough to stand still
  noticeText.append(h("span", { "aria-hidden": "true" }, text));
  // Scroll at a constant reading speed whatever the length.
  const copy = noticeText.firstElementChild.getBoundingClientRect().width;
  noticeText.style.animationDuration = `${Math.max(10, copy / (track.clientHeight * 2.2))}s`;
  noticeText.classList.add("scrolling");
}

const schedule = frameBatcher(() => {
  if (dirty.all || dirty.calls) {
    renderHero();
    renderCalls();
  }
  if (dirty.all || dirty.waiting) renderWaiting();
  if (dirty.all || dirty.notice) renderNotice();
  dirty.all = dirty.calls = dirty.waiting = dirty.notice = false;
  renderedCalls = model.calls;
});

// -- start ---------------------------------------------------------------------------------

startPage();
const token = deviceToken();
const live = new Live({
  topics: [zoneFilter ? `zone:${zoneFilter}` : "hall"],
  token,
  onSnapshot,
  onEvent,
  onRefused: (err) => toast(t("tv.token_refused") + ` (${err.code})`, "error", 60000),
}).start();

onLangChange(() => {
  noticeText.dataset.text = "";
  dirty.all = true;
  schedule();
});

expose("tv", { live, model, rendered: () => renderedCalls, token });
