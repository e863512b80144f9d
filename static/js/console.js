// The clerk console (窗口工作台): sign in, open one of the windows you may use, then one
// screen with the current ticket, the actions (F1–F9), the waiting list for the
// window's services (点号), the missed (过号重排) and held (回呼) tickets, its open 容缺受理
// records (materials still to come) and today's counts. One request at a time: while an
// action is in flight every action is disabled, so a double click or a held key never
// calls twice; and every ticket action carries the ticket shown (`expect`), so the
// server refuses one decided on an out-of-date screen.

import { $, $$, api, ApiError, explain, expose, fmtDuration, h, hall, Live, nameOf, onLangChange, partsList, secondsSince, setCsrf, setText, showAssist, signInForm, startPage, t, toast } from "./hallcall.js";

const windowsByNumber = new Map(hall.windows.map((w) => [w.number, w]));
const servicesById = new Map(hall.services.map((s) => [s.id, s]));
const KEYS = { F1: "call", F2: "recall", F3: "start", F4: "finish", F5: "noshow", F6: "transfer", F7: "pause", F8: "close", F9: "hold" };

let me = null;
let number = null; // the window signed in to
let win = null; // its record
let ticket = null; // the ticket at the window
let queue = { queue: [], missed: [], held: [], today: {} };
let pending = []; // the window's open 容缺受理 records, due soonest first
let busy = false;
let live = null;
let refreshTimer = 0;

// -- screens ----------------------------------------------------------------------------------

function screen(name) {
  $("#c-login").hidden = name !== "login";
  $("#c-choose").hidden = name !== "choose";
  $("#c-main").hidden = name !== "main";
  $("#c-logout").hidden = name === "login";
  $("#c-who").hidden = name === "login";
  document.body.dataset.screen = name;
}

async function whoAmI() {
  me = await api("GET", "/api/v1/me");
  // A session left by someone else on this PC still guards its cookie: sign-in must carry its token.
  setCsrf(me.csrf_token);
  if (!me.person) {
    screen("login");
    $("#c-user").focus();
    return;
  }
  if (!["clerk", "manager", "admin"].includes(me.role)) {
    // A guide's session (帮办) on this PC: the console is for window staff.
    const err = $("#c-login-error");
    err.textContent = t("console.need_staff");
    err.hidden = false;
    screen("login");
    return;
  }
  setCsrf(me.csrf_token);
  setText($("#c-who"), `${me.person.name}${me.person.staff_no ? ` · ${me.person.staff_no}` : ""}`);
  if (me.window) enter(me.window);
  else choose();
}

signInForm("c", {
  signedIn: whoAmI,
  signedOut: () => {
    if (live) live.stop();
    live = null;
    number = null;
    screen("login");
  },
});

// -- choosing a window -------------------------------------------------------------------------------

async function choose() {
  screen("choose");
  const box = $("#c-windows");
  box.replaceChildren();
  let live_state = null;
  try {
    live_state = (await api("GET", "/api/v1/hall")).live;
  } catch (ex) {
    toast(explain(ex));
  }
  const allowed = me.person.windows && me.person.windows.length ? me.person.windows : hall.windows.map((w) => w.number);
  for (const n of allowed) {
    const w = windowsByNumber.get(n);
    if (!w) continue;
    const state = live_state ? live_state.windows.find((x) => x.number === n) : null;
    const taken = state && state.status !== "closed" && state.clerk !== me.person.id;
    const btn = h("button", { type: "button", class: "c-win-choice", disabled: taken, dataset: { window: n } },
      h("span", { class: "c-win-n" }, t("console.window_n", { n })),
      h("span", { class: "c-win-name" }, nameOf(w)),
      h("span", { class: "c-win-state" }, taken ? t("console.taken_by", { name: state.clerk_name || "" }) : t("console.free")));
    btn.addEventListener("click", () => openWindow(n));
    box.append(btn);
  }
}

async function openWindow(n) {
  try {
    await api("POST", `/api/v1/windows/${n}/open`, {});
    enter(n);
  } catch (ex) {
    toast(explain(ex));
    choose();
  }
}

// -- the console ---------------------------------------------------------------------------------------

function enter(n) {
  number = n;
  const w = windowsByNumber.get(n);
  setText($("#c-window"), `${t("console.window_n", { n })} · ${nameOf(w)}`);
  screen("main");
  const zones = [...new Set(w.services.map((s) => (servicesById.get(s) || {}).zone).filter(Boolean))];
  if (live) live.stop();
  // "guides": 帮办 requests, so the console shows the guide looking after the ticket at the window.
  live = new Live({ topics: [`window:${n}`, ...zones.map((z) => `zone:${z}`), "guides"], onSnapshot, onEvent, onWelcome: scheduleRefresh }).start();
  expose("console", { live, state: () => ({ number, win, ticket, queue, busy, pending }) });
  pending = [];
  renderPending();
  refreshQueue();
}

let seenSeq = 0; // the newest hall state applied: a queue reply read before it is stale

function onSnapshot(state) {
  seenSeq = Math.max(seenSeq, state.seq || 0);
  const view = (state.windows || []).find((w) => w.number === number);
  if (view) {
    win = view;
    ticket = view.ticket || null;
  }
  render();
  refreshQueue();
  refreshPending(); // after a reconnect too: a record may have closed meanwhile
  refreshAssist();
}

function touchesMe(d) {
  const w = windowsByNumber.get(number);
  const mine = (s) => s && w.services.includes(s);
  const tk = d.ticket;
  return (tk && (mine(tk.service) || tk.pinned_window === number || tk.window === number)) || mine(d.from_service);
}

function onEvent(msg) {
  seenSeq = Math.max(seenSeq, msg.seq || 0);
  const d = msg.data || {};
  if (d.window && d.window.number === number) {
    win = { ...(win || {}), ...d.window };
    if (win.status === "closed" && msg.name === "window.closed") {
      // Closed elsewhere (an admin, the day's end): back to the window list.
      ticket = null;
      render();
      choose();
      return;
    }
    if (!win.current) ticket = null;
    else if (d.ticket && d.ticket.id === win.current) ticket = d.ticket;
  }
  if (touchesMe(d)) scheduleRefresh();
  if (msg.name.startsWith("pending.")) refreshPending();
  // The guide's name is read when the ticket at the window changes or a request moves, not on every event.
  if (msg.name.startsWith("assist.") || (ticket ? ticket.id : null) !== assistTicket) refreshAssist();
  render();
}

// 帮办: the request of the ticket at the window (the guide looking after the citizen), or none.
let assist = null;
let assistTicket = null; // the ticket at the window when the request was last read
let assistReads = 0; // only the newest read is shown

async function refreshAssist() {
  if (number == null) return;
  assistTicket = ticket ? ticket.id : null;
  const mine = ++assistReads;
  try {
    const body = await api("GET", `/api/v1/windows/${number}/assist`);
    if (mine !== assistReads) return;
    assist = body.assist;
  } catch (ex) {
    if (ex instanceof ApiError && ex.code !== "network") toast(explain(ex));
    return;
  }
  renderAssist();
}

function renderAssist() {
  const shown = assist && ticket && assist.ticket === ticket.id && assist.state !== "cancelled";
  showAssist($("#c-assist"), shown ? assist : null, "console");
}

async function refreshPending() {
  if (number == null) return;
  try {
    pending = (await api("GET", `/api/v1/windows/${number}/pending`)).pending;
  } catch (ex) {
    if (ex instanceof ApiError && ex.code !== "network") toast(explain(ex));
  }
  renderPending();
}

function renderPending() {
  const list = $("#c-pending");
  list.replaceChildren(...pending.map((r) => {
    const done = h("button", { type: "button", class: "hc-btn hc-btn-small" }, t("console.pending_done"));
    done.addEventListener("click", () => run(async () => {
      await api("POST", `/api/v1/pending/${encodeURIComponent(r.id)}/complete`, {});
      await refreshPending();
    }));
    return h("li", { class: r.overdue ? "overdue" : "", dataset: { pending: r.id } },
      h("span", { class: "c-q-number" }, r.number),
      h("span", { class: "c-pending-what" }, (r.materials || []).join("、") || t("console.pending_unlisted")),
      h("span", { class: "c-pending-due" }, t(r.overdue ? "console.pending_overdue" : "console.pending_due", { due: r.due })),
      done);
  }));
  $("#c-pending-title").hidden = !pending.length;
  setText($("#c-pending-count"), pending.length ? String(pending.length) : "");
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshQueue, 250); // one fetch for a burst of events
}

async function refreshQueue() {
  if (number == null) return;
  try {
    const fresh = await api("GET", `/api/v1/windows/${number}/queue`);
    if ((fresh.seq ?? Infinity) < seenSeq) {
      scheduleRefresh(); // read before an event already shown: ask again
      return;
    }
    seenSeq = Math.max(seenSeq, fresh.seq || 0);
    queue = fresh;
    if (queue.window) {
      win = { ...(win || {}), ...queue.window };
      ticket = queue.window.ticket || null;
    }
  } catch (ex) {
    if (ex instanceof ApiError && ex.code !== "network") toast(explain(ex));
  }
  render();
}

function statusKey(st) {
  return `status.${st}`;
}

function render() {
  if (number == null) return;
  const status = win ? win.status : "closed";
  const pill = $("#c-wstatus");
  pill.dataset.status = status;
  setText(pill, t(`wstatus.${status}`));
  const paused = $("#c-paused");
  paused.hidden = status !== "paused";
  if (status === "paused") setText(paused, `${t("wstatus.paused")} · ${pauseLabel(win.pause_reason)}`);

  const tk = ticket;
  setText($("#c-number"), tk ? tk.number : "—");
  const s = tk ? servicesById.get(tk.service) : null;
  // A route bundle's part is named with its bundle ("我要开超市 · 企业设立登记"), as on the citizen's phone.
  const bundle = tk && tk.parts && tk.parts.length && tk.origin_service !== tk.service ? servicesById.get(tk.origin_service) : null;
  const label = s ? (bundle ? `${nameOf(bundle)} · ${nameOf(s)}` : `${s.prefix} · ${nameOf(s)}`) : tk && tk.service;
  setText($("#c-service"), tk ? label : t("console.no_ticket"));
  const ts = $("#c-tstatus");
  ts.hidden = !tk;
  if (tk) {
    ts.dataset.status = tk.status;
    setText(ts, t(statusKey(tk.status)) + (tk.recalls && tk.status === "called" ? ` · ${t("console.recalled_n", { n: tk.recalls })}` : ""));
  }
  $("#c-prio").hidden = !tk || tk.priority !== "green";
  renderAssist();
  renderParts();
  renderTimer();
  setText($("#c-pause-label"), status === "paused" ? t("console.resume") : t("console.pause"));
  enableActions();

  const today = queue.today || {};
  setText($("#c-served"), today.served ?? 0);
  setText($("#c-mean"), today.mean_handling_seconds == null ? "–" : t("console.minutes", { n: (today.mean_handling_seconds / 60).toFixed(1) }));
  setText($("#c-noshows"), today.no_show ?? 0);
  setText($("#c-waiting"), (queue.queue || []).length);
  renderQueue();
}

/** A bundle's parts at the window: what is left; at a one-window bundle, buttons to tick each part. */
function renderParts() {
  const tk = ticket;
  const box = $("#c-parts");
  box.hidden = !(tk && tk.parts && tk.parts.length);
  if (box.hidden) return;
  const here = ["called", "serving"].includes(tk.status);
  const oneWindow = tk.service === tk.origin_service; // a route bundle's ticket is at one part's window
  const tick = oneWindow && here ? (part) => h("span", { class: "c-tick" },
    ...[["done", "console.tick_done"], ["pending_materials", "console.tick_pending"], ["not_done", "console.tick_not_done"]]
      .map(([outcome, key]) => h("button", { type: "button", class: "hc-btn c-tick-btn", dataset: { outcome },
        onclick: () => run(async () => takeTicket(await act("tick-part", { part, outcome }))) }, t(key)))) : null;
  $("#c-parts-list").replaceChildren(partsList(tk, servicesById, tick));
  setText($("#c-parts-left"), t("console.parts_left", { n: tk.parts.filter((p) => p.outcome == null).length }));
}

function renderTimer() {
  const tk = ticket;
  let text = "";
  if (tk && tk.status === "called") text = t("console.since_called", { d: fmtDuration(secondsSince(tk.called_at)) });
  else if (tk && tk.status === "serving") text = t("console.since_started", { d: fmtDuration(secondsSince(tk.started_at)) });
  setText($("#c-timer"), text);
}

function renderQueue() {
  const body = $("#c-queue");
  const free = !ticket && win && win.status === "open";
  const rows = (queue.queue || []).map((q, i) => {
    const s = servicesById.get(q.service);
    const badge = q.priority === "green" ? h("span", { class: "c-badge c-badge-green" }, t("prio.green_short"))
      : q.priority === "appointment" ? h("span", { class: "c-badge" }, t("prio.appointment_short")) : null;
    return h("tr", { class: q.priority !== "normal" ? "prio" : "", dataset: { ticket: q.number } },
      h("td", {}, String(i + 1)),
      h("td", { class: "c-q-number" }, q.number, badge ? " " : null, badge),
      h("td", {}, s ? nameOf(s) : q.service),
      h("td", {}, t("console.waited", { d: fmtDuration(secondsSince(q.queued_at)) })),
      h("td", {}, rowButton("console.pick", "pick", busy || !free, () => pickTicket(q))));
  });
  body.replaceChildren(...rows);
  $("#c-queue-empty").hidden = rows.length > 0;
  setText($("#c-queue-count"), rows.length ? t("console.people_n", { n: rows.length }) : "");
  const missed = queue.missed || [];
  $("#c-missed-title").hidden = !missed.length;
  $("#c-missed").replaceChildren(...missed.map((m) => h("li", { dataset: { ticket: m.number } },
    h("span", { class: "c-q-number" }, m.number),
    rowButton("console.requeue", "requeue", busy, () => run(async () => {
      await api("POST", "/api/v1/requeue", { ticket: m.number });
      toast(t("console.requeued", { number: m.number }), "info", 3000);
      scheduleRefresh();
    })))));
  const held = queue.held || [];
  $("#c-held-title").hidden = !held.length;
  $("#c-held").replaceChildren(...held.map((x) => h("li", { dataset: { ticket: x.number } },
    h("span", { class: "c-q-number" }, x.number),
    rowButton("console.call_back", "call-back", busy || !free, () => run(async () => {
      takeTicket(await act("call-back", { ticket: x.number }));
    })))));
}

function rowButton(key, kind, disabled, onClick) {
  const b = h("button", { type: "button", class: "hc-btn hc-btn-small c-row-act", disabled, dataset: { rowAct: kind } }, t(key));
  b.addEventListener("click", onClick);
  return b;
}

function pickTicket(q) {
  const dialog = $("#c-pick-dialog");
  dialog.dataset.ticket = q.number;
  setText($("#c-pick-number"), q.number);
  $("#c-pick-reason").value = "";
  dialog.showModal();
}

function pauseLabel(reason) {
  return ["rest", "meeting", "consulting", "other"].includes(reason) ? t(`pause.${reason}`) : reason || "";
}

function enableActions() {
  const status = win ? win.status : "closed";
  const st = ticket ? ticket.status : null;
  const open = status === "open";
  const can = {
    call: open,
    hold: open && (st === "called" || st === "serving"),
    recall: open && st === "called",
    start: open && st === "called",
    finish: open && (st === "called" || st === "serving"),
    noshow: open && st === "called",
    transfer: open && (st === "called" || st === "serving"),
    pause: open || status === "paused",
    close: status !== "closed" && st !== "called" && st !== "serving",
  };
  for (const btn of $$(".c-act")) {
    btn.disabled = busy || !can[btn.dataset.act];
    if (busy) btn.setAttribute("aria-busy", "true");
    else btn.removeAttribute("aria-busy");
  }
  document.body.dataset.busy = String(busy);
  return can;
}

// -- actions --------------------------------------------------------------------------------------------

/** Run one request with every action locked until it returns. */
async function run(fn) {
  if (busy) return;
  busy = true;
  enableActions();
  try {
    const result = await fn();
    return result;
  } catch (ex) {
    if (ex instanceof ApiError && ex.status === 401) return; // the sign-in form is shown already
    toast(explain(ex));
    // The window moved on (another click, a keypad): show it as it is now.
    if (ex instanceof ApiError && ex.status === 409) scheduleRefresh();
  } finally {
    busy = false;
    render();
  }
}

function post(path, body = {}) {
  return api("POST", `/api/v1/windows/${number}/${path}`, body);
}

/** A ticket action, with the ticket this screen shows at the window: the server refuses it if that is out of date. */
function act(path, body = {}) {
  return post(path, { ...body, expect: ticket ? ticket.number : null });
}

function takeTicket(result) {
  if (result && result.number) ticket = result;
  scheduleRefresh();
}

/** Ask for the outcome of the ticket at the window; `then` runs after it is given (a call-next). */
function askOutcome(then = null) {
  afterOutcome = then;
  const first = then !== null;
  $("#c-finish-first").hidden = !first;
  if (first) setText($("#c-finish-first"), t("console.outcome_first", { number: ticket ? ticket.number : "" }));
  $("#c-finish-noshow").hidden = !first || !ticket || ticket.status !== "called";
  $("#c-finish-dialog").showModal();
}

let afterOutcome = null;

const callNext = async () => {
  const res = await act("call-next");
  if (!res) toast(t("console.nobody_waiting"), "info", 3000);
  else takeTicket(res);
};

const actions = {
  // Never finishes a ticket by itself: with one still at the window, the clerk gives its outcome first.
  call: () => (ticket ? askOutcome(callNext) : run(callNext)),
  recall: () => run(async () => takeTicket(await act("recall"))),
  start: () => run(async () => takeTicket(await act("start"))),
  noshow: () => run(async () => {
    await act("no-show");
    ticket = null;
    scheduleRefresh();
  }),
  hold: () => run(async () => {
    await act("hold");
    ticket = null;
    scheduleRefresh();
  }),
  finish: () => askOutcome(),
  transfer: () => {
    $("#c-transfer-service").value = "";
    $("#c-transfer-window").value = "";
    $("#c-transfer-dialog").showModal();
  },
  pause: () => {
    if (win && win.status === "paused") run(async () => (win = { ...win, ...(await post("resume")) }));
    else $("#c-pause-dialog").showModal();
  },
  close: () => run(async () => {
    await post("close");
    number = null;
    if (live) live.stop();
    live = null;
    ticket = null;
    choose();
  }),
};

for (const btn of $$(".c-act")) btn.addEventListener("click", () => actions[btn.dataset.act]());

document.addEventListener("keydown", (e) => {
  const act = KEYS[e.key];
  if (!act) return;
  e.preventDefault(); // F1 is help, F5 reloads: not at a service window
  if (document.body.dataset.screen !== "main" || document.querySelector("dialog[open]") || e.repeat) return;
  const btn = $(`.c-act[data-act="${act}"]`);
  if (btn && !btn.disabled) actions[act]();
});

for (const b of $$("#c-finish-dialog [data-outcome]")) {
  b.addEventListener("click", () => {
    const outcome = b.dataset.outcome;
    const note = $("#c-finish-note").value.trim();
    const due = $("#c-finish-due").value;
    const then = afterOutcome;
    afterOutcome = null;
    $("#c-finish-dialog").close();
    $("#c-finish-note").value = "";
    $("#c-finish-due").value = "";
    const body = { outcome };
    if (note) body.details = outcome === "not_done" ? { reason: note } : outcome === "pending_materials" ? { materials: note.split(/[,，、;；]\s*/).filter(Boolean) } : { note };
    if (outcome === "pending_materials" && due) body.details = { ...(body.details || {}), due };
    run(async () => {
      if (outcome === "no_show") await act("no-show");
      else await act("finish", body);
      ticket = null;
      scheduleRefresh();
      if (then) await then();
    });
  });
}
// Cancelled: nothing follows. The close event is queued, so a key pressed at once (Esc, then F1) may have
// opened the dialog again before it arrives: then the new question stands.
$("#c-finish-dialog").addEventListener("close", (e) => {
  if (!e.target.open) afterOutcome = null;
});

$("#c-pick-go").addEventListener("click", () => {
  const dialog = $("#c-pick-dialog");
  const reason = $("#c-pick-reason").value.trim();
  if (!reason) {
    toast(t("console.pick_reason_needed"), "info", 4000);
    return;
  }
  dialog.close();
  run(async () => takeTicket(await act("call-ticket", { ticket: dialog.dataset.ticket, reason })));
});

$("#c-transfer-go").addEventListener("click", () => {
  const service = $("#c-transfer-service").value;
  const to = $("#c-transfer-window").value;
  if (!service === !to) {
    toast(t("console.transfer_pick_one"), "info", 4000);
    return;
  }
  $("#c-transfer-dialog").close();
  run(async () => {
    await act("transfer", service ? { service } : { to_window: Number(to) });
    ticket = null;
    scheduleRefresh();
  });
});
// Picking one target clears the other, so exactly one is sent.
$("#c-transfer-service").addEventListener("change", () => ($("#c-transfer-window").value = ""));
$("#c-transfer-window").addEventListener("change", () => ($("#c-transfer-service").value = ""));

for (const b of $$("#c-pause-dialog [data-reason]")) {
  b.addEventListener("click", () => {
    $("#c-pause-dialog").close();
    run(async () => (win = { ...win, ...(await post("pause", { reason: b.dataset.reason })) }));
  });
}

// -- start --------------------------------------------------------------------------------------------

startPage();
setInterval(() => {
  if (number != null) renderTimer();
}, 1000);
setInterval(() => {
  if (number != null) renderQueue();
}, 15000);
onLangChange(() => {
  if (number != null) {
    setText($("#c-window"), `${t("console.window_n", { n: number })} · ${nameOf(windowsByNumber.get(number))}`);
    render();
    renderPending();
  } else if (document.body.dataset.screen === "choose") choose();
});
whoAmI().catch((ex) => {
  screen("login");
  toast(explain(ex));
});
