// The window screen (窗口屏): the small LCD above one window. Window number and name,
// the clerk's photo, name and staff number, the ticket being called or served,
// "暂停服务" with its reason when paused, idle text when nobody is served.

import { $, Live, deviceToken, expose, frameBatcher, onLangChange, params, renderPhoto, setText, startPage, t, toast } from "./hallcall.js";

const number = params.window;
const root = $("#ws");
const headline = $("#ws-headline");
const detail = $("#ws-detail");
const clerkBox = $("#ws-clerk");
const photo = $("#ws-photo");
let win = null; // the window record as the server sends it
let ticket = null; // the ticket at the window now, if any

function pauseLabel(reason) {
  const key = `pause.${reason}`;
  const known = ["rest", "meeting", "consulting", "other"].includes(reason);
  return known ? t(key) : reason || "";
}

const render = frameBatcher(() => {
  const status = win ? win.status : "closed";
  root.dataset.status = status;
  root.dataset.ticket = ticket ? ticket.status : "";
  clerkBox.hidden = !win || status === "closed" || !win.clerk_name;
  if (win && win.clerk_name) {
    setText($("#ws-clerk-name"), win.clerk_name);
    setText($("#ws-clerk-no"), win.staff_no || "—");
    renderPhoto(photo, win.photo, win.clerk_name);
  }
  if (status === "closed") {
    setText(headline, t("ws.closed"));
    setText(detail, t("ws.closed_detail"));
  } else if (status === "paused") {
    setText(headline, t("ws.paused"));
    setText(detail, pauseLabel(win.pause_reason));
  } else if (ticket && ticket.status === "called") {
    setText(headline, t("ws.calling", { number: ticket.number }));
    setText(detail, t("ws.calling_detail"));
  } else if (ticket && ticket.status === "serving") {
    setText(headline, ticket.number);
    setText(detail, t("ws.serving"));
  } else {
    setText(headline, t("ws.idle"));
    setText(detail, t("ws.idle_detail"));
  }
});

function onSnapshot(state) {
  const view = (state.windows || []).find((w) => w.number === number) || null;
  win = view;
  ticket = view && view.ticket ? view.ticket : null;
  render();
}

function onEvent(msg) {
  const d = msg.data || {};
  if (d.window && d.window.number === number) {
    win = { ...(win || {}), ...d.window };
    if (!win.current) ticket = null;
    else if (d.ticket && d.ticket.id === win.current) ticket = d.ticket;
    else if (ticket && ticket.id !== win.current) ticket = null;
  } else if (d.ticket && ticket && d.ticket.id === ticket.id) {
    ticket = d.ticket;
  }
  if (msg.name === "day.started") {
    ticket = null;
  }
  render();
}

startPage();
const token = deviceToken();
const live = new Live({
  topics: [`window:${number}`],
  token,
  onSnapshot,
  onEvent,
  onRefused: (err) => toast(`${t("ws.token_refused")} (${err.code})`, "error", 60000),
}).start();
onLangChange(render);
expose("windowScreen", { live, state: () => ({ win, ticket }) });
