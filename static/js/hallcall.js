// hallcall's one shared browser module: boot data, language switch, API helper,
// the WebSocket client (hello → snapshot or replay → live, reconnect with backoff,
// resync with `since`), the visible offline state and the hall's clock.
// Every page module imports from here; nothing here knows a particular page.

const bootEl = document.getElementById("hc-boot");
export const boot = bootEl ? JSON.parse(bootEl.textContent) : { strings: {}, params: {}, hall: {} };
export const hall = boot.hall;
export const params = boot.params || {};

// -- language ---------------------------------------------------------------------------

const LANG_KEY = "hallcall.lang";
const LANG_COOKIE = "hallcall_lang";
const langListeners = [];
// A shared page (kiosk, screens, pad) starts in the language the server chose for it: the
// hall's, or its URL's. A person's own pages remember their last choice.
let currentLang = (!boot.shared && localStorage.getItem(LANG_KEY)) || boot.lang || "zh";
if (!["zh", "en"].includes(currentLang)) currentLang = "zh";

export function lang() {
  return currentLang;
}

/** The string `key` in the current language, with {name} placeholders filled. */
export function t(key, vars) {
  const pair = boot.strings[key];
  let text = pair ? pair[currentLang] || pair.zh : key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return text;
}

/** A configured thing's name (hall, zone, service, window) in the current language. */
export function nameOf(obj) {
  if (!obj) return "";
  return currentLang === "en" ? obj.name_en || obj.name || "" : obj.name || "";
}

/**
 * A 帮办 request in one line (`assist.<view>_<state>` of the language table, naming the guide
 * and staff number), or the element hidden when there is none to show.
 */
export function showAssist(el, request, view) {
  el.hidden = !request;
  if (!request) return;
  el.dataset.state = request.state;
  const guide = request.guide_name ? `${request.guide_name}${request.staff_no ? ` (${request.staff_no})` : ""}` : "";
  setText(el, t(`assist.${view}_${request.state}`, { guide }));
}

export function onLangChange(fn) {
  langListeners.push(fn);
}

export function applyI18n(root = document) {
  document.documentElement.lang = currentLang === "zh" ? "zh-CN" : "en";
  document.documentElement.dataset.lang = currentLang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-name-zh]")) {
    el.textContent = currentLang === "en" ? el.dataset.nameEn || el.dataset.nameZh : el.dataset.nameZh;
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  if (boot.title) document.title = `${t(boot.title)} · ${nameOf(hall)}`;
}

/** Back to the page's starting language: the next citizen at a shared device starts there. */
export function resetLang() {
  if (currentLang !== (boot.lang || "zh")) setLang(boot.lang || "zh");
}

export function setLang(next) {
  currentLang = next === "en" ? "en" : "zh";
  if (!boot.shared) {
    localStorage.setItem(LANG_KEY, currentLang);
    // The server reads the cookie, so the next page load already comes in this language.
    document.cookie = `${LANG_COOKIE}=${currentLang}; path=/; max-age=31536000; SameSite=Lax`;
  }
  applyI18n();
  for (const fn of langListeners) fn(currentLang);
}

// -- small DOM helpers ----------------------------------------------------------------------

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Build an element; children are strings (as text, never HTML) or nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** A bundle ticket's parts (一件事) as a list: each part's name and where it stands (done, 容缺受理,
 *  办不成, now, to do); `tick(part)` gives an open part's extra controls (the console's tick buttons). */
export function partsList(ticket, services, tick = null) {
  const list = h("ol", { class: "hc-parts" });
  for (const p of (ticket && ticket.parts) || []) {
    const s = services.get(p.service);
    const current = p.outcome == null && p.service === ticket.service && ["called", "serving"].includes(ticket.status);
    const state = p.outcome || (current ? "current" : "todo");
    list.append(h("li", { dataset: { part: p.service, state } },
      h("span", { class: "hc-part-name" }, s ? nameOf(s) : p.service),
      h("span", { class: "hc-part-state" }, t(`part.${state}`)),
      p.outcome == null && tick ? tick(p.service) : null));
  }
  return list;
}

/** A clerk's photo, or the first character of the name on a coloured disc. */
export function renderPhoto(box, url, name) {
  const key = `${url || ""}|${name || ""}`;
  if (box.dataset.photo === key) return;
  box.dataset.photo = key;
  box.replaceChildren();
  // Photos live on the hall's intranet, under /, or inline as data:image (never javascript: and the like).
  if (url && /^(https?:\/\/|\/|data:image\/)/.test(url)) box.append(h("img", { src: url, alt: "" }));
  else box.append(h("span", { class: "hc-initial" }, (name || "?").slice(0, 1)));
}

export function setText(el, text) {
  const s = text == null ? "" : String(text);
  if (el && el.textContent !== s) el.textContent = s;
}

/**
 * Run `fn` once before the next frame however often it is asked for (bursts of events).
 * A page the browser does not paint (hidden, occluded, throttled) gets no frames, so a
 * timer stands in after 100 ms: screens stay current even when nobody is looking.
 */
export function frameBatcher(fn) {
  let queued = false;
  let timer = 0;
  let frame = 0;
  const run = () => {
    if (!queued) return;
    queued = false;
    clearTimeout(timer);
    cancelAnimationFrame(frame);
    fn();
  };
  return () => {
    if (queued) return;
    queued = true;
    frame = requestAnimationFrame(run);
    timer = setTimeout(run, 100);
  };
}

let toastTimer = 0;
/** Tell a person what went wrong, in their language, for a few seconds. */
export function toast(message, kind = "error", ms = 6000) {
  const el = document.getElementById("hc-toast");
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), ms);
}

// -- the hall's clock ---------------------------------------------------------------------------

// Screens show the server's time, not the box's: hall TVs often have wrong clocks.
let skew = boot.now ? Date.parse(boot.now) - Date.now() : 0;

export function setServerTime(iso) {
  const at = Date.parse(iso);
  if (!Number.isNaN(at)) skew = at - Date.now();
}

/** A live event happened at `iso` on the server: the server's clock is at least there. */
function noteEventTime(iso) {
  const at = Date.parse(iso);
  if (!Number.isNaN(at) && at - Date.now() > skew) skew = at - Date.now();
}

export function now() {
  return new Date(Date.now() + skew);
}

const fmtCache = new Map();
function fmt(options) {
  const key = currentLang + JSON.stringify(options);
  if (!fmtCache.has(key)) {
    fmtCache.set(key, new Intl.DateTimeFormat(currentLang === "zh" ? "zh-CN" : "en-GB", { timeZone: hall.timezone || "Asia/Shanghai", ...options }));
  }
  return fmtCache.get(key);
}

export function fmtTime(d = now(), seconds = true) {
  return fmt({ hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hourCycle: "h23" }).format(d);
}

/** A moment as "2026-12-01 09:00" on the hall's clock, whatever the browser's timezone. */
export function fmtDateTime(d = now()) {
  const parts = Object.fromEntries(fmt({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23" }).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

export function fmtDate(d = now()) {
  return fmt({ year: "numeric", month: "long", day: "numeric", weekday: "long" }).format(d);
}

/** Local minutes since midnight in the hall's timezone. */
export function hallMinutes(d = now()) {
  const [hh, mm] = fmt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d).split(":").map(Number);
  return hh * 60 + mm;
}

function hallSpans() {
  return (hall.hours || []).map((span) => {
    const [a, b] = span.split("-").map((x) => x.split(":").map(Number)).map(([hh, mm]) => hh * 60 + mm);
    return { a, b, start: span.split("-")[0] };
  });
}

/** Whether the hall's business hours ("08:30-12:00") include this moment. */
export function hallIsOpen(d = now()) {
  const m = hallMinutes(d);
  return hallSpans().some(({ a, b }) => a <= m && m < b);
}

/** "14:30" when this moment falls before one of today's spans (early morning, lunch), else "". */
export function nextOpening(d = now()) {
  const m = hallMinutes(d);
  if (hallIsOpen(d)) return "";
  const next = hallSpans().find(({ a }) => a > m);
  return next ? next.start : "";
}

/** What to say instead of a wait when no window serving the service is signed in. */
export function noWindowText(d = now()) {
  const opens = nextOpening(d);
  return opens ? t("common.no_window_until", { time: opens }) : t("common.no_window");
}

export function secondsSince(iso) {
  if (!iso) return 0;
  return Math.max(0, (now().getTime() - Date.parse(iso)) / 1000);
}

/**
 * A duration in words, never as a clock time: "12分34秒", "1小时02分05秒", "34秒"
 * ("12 min 34 s" in English). "12:34" would read as a time of day.
 */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (hh) return t("dur.hms", { h: hh, m: String(mm).padStart(2, "0"), s: String(ss).padStart(2, "0") });
  if (mm) return t("dur.ms", { m: mm, s: String(ss).padStart(2, "0") });
  return t("dur.s", { s: ss });
}

function tickClocks() {
  const d = now();
  for (const el of document.querySelectorAll('[data-clock="time"]')) setText(el, fmtTime(d));
  for (const el of document.querySelectorAll('[data-clock="date"]')) setText(el, fmtDate(d));
}

// -- device tokens, sessions and the API ----------------------------------------------------------

/**
 * The bearer token of a kiosk, screen or pad. It arrives once as ?token=… and is kept
 * in localStorage per page path, then taken out of the address bar so it is not
 * bookmarked or shown.
 */
export function deviceToken() {
  const key = `hallcall.token:${location.pathname}`;
  const url = new URL(location.href);
  const fresh = url.searchParams.get("token");
  if (fresh) {
    localStorage.setItem(key, fresh);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
  }
  return localStorage.getItem(key) || "";
}

export function forgetDeviceToken() {
  localStorage.removeItem(`hallcall.token:${location.pathname}`);
}

let csrf = "";
export function setCsrf(token) {
  csrf = token || "";
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A human sentence for an API error, from the language table when it knows the code. */
export function explain(err) {
  if (!(err instanceof ApiError)) return t("err.generic");
  const key = `err.${err.code}`;
  return boot.strings[key] ? t(key) : `${t("err.generic")} (${err.message})`;
}

/** JSON over HTTP with the device token or the session's CSRF header; errors become ApiError. */
export async function api(method, path, body, { token = "", headers = {}, timeout = 10000 } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = `Bearer ${token}`;
  if (csrf && method !== "GET") h["X-CSRF-Token"] = csrf;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin", signal: ctl.signal });
  } catch (e) {
    throw new ApiError(0, "network", String(e && e.message ? e.message : e));
  } finally {
    clearTimeout(timer);
  }
  if (resp.status === 204) return null;
  if (resp.status === 401 && !token && !path.endsWith("/login")) sessionGone();
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText);
  }
  return data;
}

// -- the offline banner ---------------------------------------------------------------------------

let netState = "connecting";
let bannerTimer = 0;
function showNet(state) {
  netState = state;
  document.documentElement.dataset.net = state;
  const el = document.getElementById("hc-net");
  if (!el) return;
  clearTimeout(bannerTimer);
  if (state === "online") {
    el.hidden = true;
  } else if (state === "connecting") {
    // The first connection normally takes milliseconds; do not flash the banner for it.
    bannerTimer = setTimeout(() => {
      if (netState === "connecting") el.hidden = false;
    }, 1500);
  } else {
    el.hidden = false;
  }
}

// A people page's reaction to its sign-in ending (signed out in another tab, expired,
// deactivated): set by signInForm, run when any request answers 401, when the live
// connection reports the session ended, or when the periodic check finds it gone.
let onSessionGone = null;
const SESSION_CHECK = 30000; // ms: an expired session shows the sign-in form within this

function sessionGone() {
  if (onSessionGone) onSessionGone();
}

// Sign-in and sign-out for the people pages (console, monitor, reports): the form
// #<prefix>-login-form with #<prefix>-user, #<prefix>-pass and #<prefix>-login-error,
// and the #<prefix>-logout button. The session cookie rides along; the CSRF token is kept.
// A session that ends while the page is open shows the sign-in form at once.
export function signInForm(prefix, { signedIn, signedOut }) {
  const signedInNow = () => !$(`#${prefix}-logout`).hidden;
  let leaving = false; // this page is signing out: its own ended session is no news
  onSessionGone = () => {
    if (leaving || !signedInNow()) return;
    setCsrf("");
    signedOut();
    toast(t("login.ended"), "info", 6000);
  };
  setInterval(async () => {
    if (!signedInNow() || document.hidden) return;
    try {
      const me = await api("GET", "/api/v1/me");
      if (!me.person) sessionGone();
    } catch {
      // offline: the live connection's banner says so; check again later
    }
  }, SESSION_CHECK);
  $(`#${prefix}-login-form`).addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $(`#${prefix}-login-error`);
    err.hidden = true;
    try {
      const res = await api("POST", "/api/v1/login", { login: $(`#${prefix}-user`).value.trim(), password: $(`#${prefix}-pass`).value });
      setCsrf(res.csrf_token);
      $(`#${prefix}-pass`).value = "";
      await signedIn();
    } catch (ex) {
      err.textContent = explain(ex);
      err.hidden = false;
    }
  });
  $(`#${prefix}-logout`).addEventListener("click", async () => {
    leaving = true;
    try {
      await api("POST", "/api/v1/logout", {});
    } catch (ex) {
      toast(explain(ex));
    }
    setCsrf("");
    signedOut();
    leaving = false;
  });
}

export function isOnline() {
  return netState === "online";
}

/** "connecting" (first attempt), "online" or "offline". */
export function connection() {
  return netState;
}

// -- the WebSocket client ---------------------------------------------------------------------------

// Reconnect delays, as the Python client's (queue_server/protocol/backoff.py): a restarted
// server is usually back within a second or two, so for the first BACKOFF_FAST_FOR ms of
// waiting a page tries again every 100–200 ms; then the delay doubles up to the cap.
// The jitter spreads a hall's screens over each delay, so they do not all knock at once.
const BACKOFF_FIRST = 200; // ms
const BACKOFF_FAST_FOR = 3000; // ms of waiting at the first delay before it grows
const BACKOFF_CAP = 5000; // a server that stays away is still found within ~5 s of its return
const PING_EVERY = 15000; // half-open connections (a pulled cable) show up as silence
const SILENCE_LIMIT = 40000;

/**
 * One live connection to /ws. It says hello with its topics (and `since`, once it has
 * seen a sequence number), hands snapshots, events and position updates to the page,
 * drops events it already has (seq <= last), and reconnects by itself with jittered,
 * capped exponential backoff. Commands are sent with an id and resolve on their result.
 */
export class Live {
  constructor({ topics, token = "", onSnapshot, onEvent, onPosition, onWelcome, onRefused, onStatus } = {}) {
    this.topics = topics;
    this.token = token;
    this.handlers = { onSnapshot, onEvent, onPosition, onWelcome, onRefused, onStatus };
    this.seq = null; // the last sequence number applied; null until the first snapshot
    this.ws = null;
    this.attempt = 0; // delays since the fast stretch ended
    this.waited = 0; // ms of delay since the last welcome
    this.nextId = 1;
    this.pending = new Map();
    this.lastHeard = 0;
    this.stopped = false;
    this.welcomed = false;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.welcomeWaiters = [];
    // Resolves once the page holds the hall's state (its first snapshot): tests and embedders await it.
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    window.addEventListener("online", () => this.reconnectNow());
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000, "page closed");
  }

  /** A promise of the next welcome: the socket is (again) connected and subscribed. */
  nextWelcome() {
    return new Promise((resolve) => this.welcomeWaiters.push(resolve));
  }

  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    if (!this.ws || this.ws.readyState > 1) {
      this.attempt = 0;
      this.waited = 0;
      this.connect();
    }
  }

  status(state) {
    showNet(state);
    if (this.handlers.onStatus) this.handlers.onStatus(state);
  }

  connect() {
    clearTimeout(this.retryTimer);
    // Only the very first attempt is "connecting"; a retry means we are offline until welcomed.
    if (!this.tried) this.status("connecting");
    this.tried = true;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    ws.onopen = () => {
      const hello = { type: "hello", topics: this.topics };
      if (this.token) hello.token = this.token;
      if (this.seq != null) hello.since = this.seq;
      ws.send(JSON.stringify(hello));
      this.lastHeard = Date.now();
    };
    ws.onmessage = (e) => {
      this.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      for (const [, p] of this.pending) p.reject(new ApiError(0, "network", "connection lost"));
      this.pending.clear();
      if (!this.stopped) {
        this.status("offline");
        this.scheduleRetry();
      }
    };
    ws.onerror = () => {}; // onclose follows and does the work
  }

  scheduleRetry(min = 0) {
    let base = BACKOFF_FIRST;
    if (this.waited >= BACKOFF_FAST_FOR) {
      base = Math.min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** this.attempt);
      this.attempt += 1;
    }
    const delay = Math.max(min, base / 2 + Math.random() * (base / 2)); // jitter: no stampede after a restart
    this.waited += delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  watchdog() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== 1) return;
      if (Date.now() - this.lastHeard > SILENCE_LIMIT) {
        ws.close(); // silence means a dead path; start over with since
        return;
      }
      ws.send('{"type":"ping"}');
    }, PING_EVERY);
  }

  dispatch(msg) {
    const h = this.handlers;
    switch (msg.type) {
      case "welcome":
        this.welcomed = true;
        this.attempt = 0;
        this.waited = 0;
        this.watchdog();
        this.status("online");
        if (h.onWelcome) h.onWelcome(msg);
        for (const resolve of this.welcomeWaiters.splice(0)) resolve(msg);
        break;
      case "snapshot":
        // A snapshot is the whole truth: it also resets `seq` (the store may have been replaced).
        this.seq = msg.seq;
        if (msg.state && msg.state.now) setServerTime(msg.state.now);
        if (h.onSnapshot) h.onSnapshot(msg.state, msg.seq);
        this.resolveReady(msg.seq);
        break;
      case "event":
        if (this.seq != null && msg.seq <= this.seq) return; // already applied (replay overlap)
        this.seq = msg.seq;
        noteEventTime(msg.at); // replayed events are older and change nothing
        if (h.onEvent) h.onEvent(msg);
        break;
      case "queues":
        // A shared screen's digest of new tickets: the counts only, with no seq of its own.
        if (h.onEvent) h.onEvent({ type: "event", name: "queues", at: msg.at, data: { queues: msg.queues } });
        break;
      case "position":
        if (h.onPosition) h.onPosition(msg);
        break;
      case "pong":
        // Every event up to the pong's seq for our topics came before it, in order: a quiet
        // screen moves its `since` forward, so a later reconnect replays instead of resnapshotting.
        if (this.seq != null && msg.seq > this.seq) this.seq = msg.seq;
        break;
      case "result": {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.data);
        else p.reject(new ApiError(400, msg.error.code, msg.error.message));
        break;
      }
      case "error":
        if (msg.error && msg.error.code === "session_ended") {
          sessionGone(); // signed out elsewhere: the page shows its sign-in form
          break;
        }
        if (!this.welcomed) {
          // The hello was refused (revoked token, forbidden topic): retry slowly, say so.
          if (h.onRefused) h.onRefused(msg.error);
          this.attempt = Math.max(this.attempt, 6);
          this.waited = Math.max(this.waited, BACKOFF_FAST_FOR);
        }
        break;
      default:
        break;
    }
  }

  /** Send a command over the socket; resolves with its data or rejects with ApiError. */
  command(name, args = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== 1 || !this.welcomed) {
        reject(new ApiError(0, "network", "not connected"));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ type: "command", id, name, ...args }));
    });
  }
}

// -- page start --------------------------------------------------------------------------------

/** Wire the language buttons and clocks; call once from each page module. */
export function startPage() {
  for (const btn of document.querySelectorAll("[data-lang-toggle]")) {
    btn.addEventListener("click", () => setLang(currentLang === "zh" ? "en" : "zh"));
  }
  if (currentLang !== boot.lang) applyI18n();
  onLangChange(() => {
    fmtCache.clear();
    tickClocks();
  });
  tickClocks();
  setInterval(tickClocks, 1000);
}

// For tests and the browser console: the page's live client and state.
export function expose(name, value) {
  window.hallcall = window.hallcall || {};
  window.hallcall[name] = value;
}
