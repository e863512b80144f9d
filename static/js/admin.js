// The live monitor (/admin) for managers: every window (status, clerk, current ticket,
// for how long), every service (waiting, longest wait, highlighted over its target),
// the health of the hall's devices (with a reprint form for tickets), the notice on
// the hall screens, people, device tokens and the webhooks' delivery log. Sign-in required; the live part comes
// over the WebSocket's admin topic.

import { $, $$, api, ApiError, explain, expose, fmtDateTime, fmtDuration, fmtTime, frameBatcher, h, hall, Live, nameOf, onLangChange, secondsSince, setText, signInForm, startPage, t, toast } from "./hallcall.js";
import { signedInManager } from "./manager.js";

const servicesById = new Map(hall.services.map((s) => [s.id, s]));
const windows = new Map(); // number -> window view
const tickets = new Map(); // number -> the ticket at that window
const queues = new Map(); // service id -> service view
const devices = new Map(); // device id -> its last health report
let notice = { text: "", text_en: "" };
let live = null;
let tab = "monitor";

// -- sign-in -----------------------------------------------------------------------------------

function screen(name) {
  $("#a-login").hidden = name !== "login";
  $("#a-main").hidden = name !== "main";
  $("#a-tabs").hidden = name !== "main";
  $("#a-logout").hidden = name !== "main";
  $("#a-who").hidden = name !== "main";
  document.body.dataset.screen = name;
}

async function whoAmI() {
  const me = await signedInManager("a");
  if (!me) {
    screen("login");
    return;
  }
  setText($("#a-who"), `${me.person.name} · ${t(`role.${me.role}`)}`);
  screen("main");
  if (!live) live = new Live({ topics: ["admin"], onSnapshot, onEvent }).start();
  expose("admin", { live, windows, queues, tickets, devices, assist });
  showTab(tab);
}

signInForm("a", {
  signedIn: whoAmI,
  signedOut: () => {
    if (live) live.stop();
    live = null;
    screen("login");
  },
});

// -- tabs ------------------------------------------------------------------------------------------

function showTab(name) {
  tab = name;
  for (const b of $$(".a-tab")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of $$(".a-panel")) p.hidden = p.dataset.panel !== name;
  if (name === "people") loadPeople();
  if (name === "tokens") loadTokens();
  if (name === "webhooks") loadHooks();
}
for (const b of $$(".a-tab")) b.addEventListener("click", () => showTab(b.dataset.tab));

// -- live monitor ------------------------------------------------------------------------------------

function onSnapshot(state) {
  countAlerts();
  loadDevices();
  loadAssist();
  windows.clear();
  tickets.clear();
  for (const w of state.windows || []) {
    windows.set(w.number, w);
    if (w.ticket) tickets.set(w.number, w.ticket);
  }
  queues.clear();
  for (const q of state.services || []) queues.set(q.id, q);
  notice = state.notice || notice;
  fillNotice();
  schedule();
}

function onEvent(msg) {
  const d = msg.data || {};
  if (d.window) {
    const w = { ...(windows.get(d.window.number) || {}), ...d.window };
    windows.set(w.number, w);
    if (!w.current) tickets.delete(w.number);
    else if (d.ticket && d.ticket.id === w.current) tickets.set(w.number, d.ticket);
  }
  for (const q of d.queues || []) queues.set(q.id, q);
  if (msg.name === "notice.changed" && d.notice) {
    notice = d.notice;
    fillNotice();
  }
  if (msg.name === "day.started") tickets.clear();
  if (msg.name.startsWith("alert.")) countAlerts();
  if (msg.name === "device.status") {
    for (const doc of d.docs || []) devices.set(doc.id, doc.data);
    renderDevices();
  }
  if (msg.name.startsWith("assist.")) {
    for (const doc of d.docs || []) {
      if (doc.live) assist.set(doc.id, doc.data);
      else assist.delete(doc.id);
    }
    renderAssist();
  }
  schedule();
}

// -- 帮办 requests ------------------------------------------------------------------------------------
// Read once per snapshot; every step then arrives as an assist.* event with the record.

const assist = new Map(); // request id -> the live request (open or accepted)

async function loadAssist() {
  try {
    const { assist: list } = await api("GET", "/api/v1/assist");
    assist.clear();
    for (const r of list) assist.set(r.id, r);
    renderAssist();
  } catch (ex) {
    toast(explain(ex));
  }
}

function renderAssist() {
  const list = [...assist.values()].sort((a, b) => (a.state !== "open") - (b.state !== "open") || b.green - a.green
    || a.requested_at.localeCompare(b.requested_at));
  $("#a-assist").replaceChildren(...list.map((r) => h("tr", { class: r.overdue && r.state === "open" ? "fault" : "", dataset: { assist: r.id, state: r.state } },
    h("td", {}, r.number), h("td", {}, nameOf({ name: r.service_name, name_en: r.service_name_en })),
    h("td", { "data-astate": "" }, t(`assist.state_${r.state}`)), h("td", {}, r.guide_name || "–"),
    h("td", {}, fmtTime(new Date(r.requested_at), false)))));
  $("#a-assist-none").hidden = list.length > 0;
}

// Open alerts, counted when the board changes (alert events), never polled.
async function countAlerts() {
  try {
    const { counts } = await api("GET", "/api/v1/alerts");
    const open = Object.values(counts).reduce((a, b) => a + b, 0);
    setText($("#a-k-alerts"), String(open));
    $("#a-k-alerts-card").classList.toggle("alert", open > 0);
  } catch (ex) {
    toast(explain(ex));
  }
}

function overTarget(q) {
  return q.oldest_since && secondsSince(q.oldest_since) > (q.target_wait_minutes || 0) * 60;
}

const schedule = frameBatcher(render);

function render() {
  let open = 0;
  let paused = 0;
  for (const tile of $$(".a-win")) {
    const n = Number(tile.dataset.window);
    const w = windows.get(n) || { status: "closed" };
    const tk = tickets.get(n);
    tile.dataset.status = w.status;
    if (w.status === "open") open += 1;
    if (w.status === "paused") paused += 1;
    setText($("[data-wstatus]", tile), t(`wstatus.${w.status}`));
    setText($("[data-clerk]", tile), w.status === "closed" ? "" : `${w.clerk_name || ""}${w.staff_no ? ` · ${w.staff_no}` : ""}`);
    const what = tk ? `${tk.number} ${t(`status.${tk.status}`)}` : w.status === "paused" ? pauseLabel(w.pause_reason || "") : "";
    setText($("[data-ticket]", tile), what);
    const since = tk ? (tk.status === "serving" ? tk.started_at : tk.called_at) : w.status !== "closed" ? w.since : null;
    // A duration with its units ("7分50秒"), after the ticket's status; a window's own state says what it counts.
    const d = since ? fmtDuration(secondsSince(since)) : "";
    setText($("[data-since]", tile), !since ? "" : tk ? d : t(`admin.since_${w.status}`, { d }));
    tile.classList.toggle("long", !!(tk && secondsSince(since) > 20 * 60));
  }
  let waiting = 0;
  let over = 0;
  let issued = 0;
  for (const row of $$(".a-services tbody tr")) {
    const q = queues.get(row.dataset.service);
    if (!q) continue;
    waiting += q.waiting;
    issued += q.issued || 0;
    const isOver = q.waiting > 0 && overTarget(q);
    if (isOver) over += 1;
    row.classList.toggle("over", isOver);
    setText($("[data-waiting]", row), q.waiting);
    setText($("[data-longest]", row), q.oldest_since && q.waiting ? t("admin.minutes", { n: Math.floor(secondsSince(q.oldest_since) / 60) }) : "–");
    setText($("[data-open]", row), q.windows_open);
  }
  setText($("#a-k-open"), open);
  setText($("#a-k-paused"), paused);
  setText($("#a-k-waiting"), waiting);
  setText($("#a-k-over"), over);
  setText($("#a-k-issued"), issued);
  $("#a-k-over").parentElement.classList.toggle("alert", over > 0);
}

function pauseLabel(reason) {
  return ["rest", "meeting", "consulting", "other"].includes(reason) ? t(`pause.${reason}`) : reason;
}

// -- devices ---------------------------------------------------------------------------------------
// Health comes with device.status events; the list is read once per snapshot (the
// server's view after a reconnect), never polled.

async function loadDevices() {
  try {
    const { devices: list } = await api("GET", "/api/v1/devices");
    devices.clear();
    for (const d of list) devices.set(d.device, d);
    renderDevices();
  } catch (ex) {
    toast(explain(ex));
  }
}

function placeOf(d) {
  if (d.window != null) return t("admin.window_n", { n: d.window });
  if (d.kiosk) return `${t("admin.kiosk")} ${d.kiosk}`;
  return "";
}

function renderDevices() {
  const list = [...devices.values()].sort((a, b) => (a.status === "online") - (b.status === "online") || a.device.localeCompare(b.device));
  $("#a-devices").replaceChildren(...list.map((d) => h("tr", { class: d.status === "online" ? "" : "fault", dataset: { device: d.device, status: d.status } },
    h("td", {}, h("code", {}, d.device)), h("td", {}, t(`dkind.${d.kind}`)), h("td", {}, placeOf(d)),
    h("td", { "data-dstatus": "" }, t(`dstatus.${d.status}`), d.detail ? h("span", { class: "a-note" }, ` ${d.detail}`) : null),
    h("td", {}, d.since ? fmtTime(new Date(d.since), false) : ""))));
  $("#a-devices-none").hidden = list.length > 0;
  // The reprint form offers the kiosks whose printers have reported.
  const select = $("#a-reprint-kiosk");
  const chosen = select.value;
  const kiosks = [...new Set(list.filter((d) => d.kind === "printer" && d.kiosk).map((d) => d.kiosk))].sort();
  select.replaceChildren(h("option", { value: "" }, t("admin.reprint_own")),
    ...kiosks.map((k) => h("option", { value: k, selected: k === chosen }, `${t("admin.kiosk")} ${k}`)));
}

$("#a-reprint-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = $("button", e.target);
  if (button.disabled) return;
  button.disabled = true; // one reprint per click, however impatient
  try {
    const body = { ticket: $("#a-reprint-number").value.trim().toUpperCase() };
    if ($("#a-reprint-kiosk").value) body.kiosk = $("#a-reprint-kiosk").value;
    const done = await api("POST", "/api/v1/reprint", body);
    toast(t("admin.reprinted", { number: done.number, kiosk: done.printed_at }), "info", 4000);
    $("#a-reprint-number").value = "";
  } catch (ex) {
    toast(explain(ex));
  } finally {
    button.disabled = false;
  }
});

// -- notice ------------------------------------------------------------------------------------------

let noticeEdited = false; // a manager typing is not overwritten by live updates
for (const id of ["#a-notice-zh", "#a-notice-en"]) $(id).addEventListener("input", () => (noticeEdited = true));

function fillNotice(force = false) {
  if (noticeEdited && !force) return;
  $("#a-notice-zh").value = notice.text || "";
  $("#a-notice-en").value = notice.text_en || "";
  setText($("#a-notice-meta"), notice.at ? t("admin.notice_at", { at: fmtDateTime(new Date(notice.at)) }) : "");
}

$("#a-notice-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    notice = await api("PUT", "/api/v1/notice", { text: $("#a-notice-zh").value.trim(), text_en: $("#a-notice-en").value.trim() });
    noticeEdited = false;
    fillNotice(true);
    toast(t("admin.saved"), "info", 3000);
  } catch (ex) {
    toast(explain(ex));
  }
});

// -- people ---------------------------------------------------------------------------------------------

function parseWindows(text) {
  const out = new Set();
  for (const part of text.split(/[,，\s]+/).filter(Boolean)) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) throw new ApiError(422, "bad_windows", part);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    for (let n = Math.min(a, b); n <= Math.max(a, b); n++) out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}

async function loadPeople() {
  try {
    const { people } = await api("GET", "/api/v1/people");
    $("#a-people").replaceChildren(...people.map((p) => {
      const toggle = h("button", { type: "button", class: `hc-btn hc-btn-small ${p.active ? "hc-btn-danger-outline" : "hc-btn-plain"}` },
        t(p.active ? "admin.deactivate" : "admin.activate"));
      toggle.addEventListener("click", async () => {
        toggle.disabled = true;
        try {
          await api("PATCH", `/api/v1/people/${encodeURIComponent(p.id)}`, { active: !p.active });
          loadPeople();
        } catch (ex) {
          toggle.disabled = false;
          toast(explain(ex));
        }
      });
      return h("tr", { class: p.active ? "" : "revoked", dataset: { person: p.id } },
        h("td", {}, p.name), h("td", {}, p.login), h("td", {}, t(`role.${p.role}`)), h("td", {}, p.staff_no || ""),
        h("td", {}, p.department || ""), h("td", {}, p.windows.length ? p.windows.join(",") : t("admin.any_window")),
        h("td", {}, t(p.active ? "admin.active" : "admin.inactive")), h("td", {}, toggle));
    }));
  } catch (ex) {
    toast(explain(ex));
  }
}

$("#a-person-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await api("POST", "/api/v1/people", {
      name: $("#p-name").value.trim(), login: $("#p-login").value.trim(), role: $("#p-role").value,
      password: $("#p-password").value, staff_no: $("#p-staff").value.trim(), department: $("#p-dept").value.trim(),
      windows: parseWindows($("#p-windows").value),
    });
    e.target.reset();
    toast(t("admin.saved"), "info", 3000);
    loadPeople();
  } catch (ex) {
    toast(explain(ex));
  }
});

// -- device tokens -----------------------------------------------------------------------------------------

function pageFor(row, secret) {
  const q = `?token=${encodeURIComponent(secret)}`;
  if (row.role === "kiosk") return `${location.origin}/kiosk${q}`;
  if (row.role === "pad") return `${location.origin}/pad/${row.windows[0] || 1}${q}`;
  if (row.role === "display") return row.windows.length ? `${location.origin}/display/window/${row.windows[0]}${q}` : `${location.origin}/display/hall${q}`;
  return `hallcall devices --server ${location.origin} --token ${secret}`;
}

async function loadTokens() {
  try {
    const { tokens } = await api("GET", "/api/v1/tokens");
    $("#a-tokens").replaceChildren(...tokens.map((tk) => {
      const bound = [tk.windows.length ? t("admin.windows_list", { list: tk.windows.join(",") }) : "", tk.kiosk ? `${t("admin.kiosk")} ${tk.kiosk}` : "", tk.green ? t("prio.green_short") : ""].filter(Boolean).join(" · ");
      const revoke = h("button", { type: "button", class: "hc-btn hc-btn-danger-outline hc-btn-small", disabled: !!tk.revoked_at }, t("admin.revoke"));
      let armed = false;
      revoke.addEventListener("click", async () => {
        if (!armed) {
          armed = true;
          revoke.textContent = t("admin.revoke_confirm");
          return;
        }
        try {
          await api("DELETE", `/api/v1/tokens/${encodeURIComponent(tk.id)}`);
          loadTokens();
        } catch (ex) {
          toast(explain(ex));
        }
      });
      return h("tr", { class: tk.revoked_at ? "revoked" : "", dataset: { token: tk.id } },
        h("td", {}, h("code", {}, tk.id)), h("td", {}, t(`role.${tk.role}`)), h("td", {}, tk.label), h("td", {}, bound),
        h("td", {}, tk.revoked_at ? t("admin.revoked") : t("admin.active")), h("td", {}, revoke));
    }));
  } catch (ex) {
    toast(explain(ex));
  }
}

$("#a-token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const body = { role: $("#tk-role").value, label: $("#tk-label").value.trim(), windows: parseWindows($("#tk-windows").value), green: $("#tk-green").checked };
    const kiosk = $("#tk-kiosk").value.trim();
    if (kiosk) body.kiosk = kiosk;
    const row = await api("POST", "/api/v1/tokens", body);
    setText($("#a-secret-token"), row.token);
    setText($("#a-secret-url"), pageFor(row, row.token));
    $("#a-secret").hidden = false;
    e.target.reset();
    loadTokens();
  } catch (ex) {
    toast(explain(ex));
  }
});

// -- webhooks: the last deliveries of each endpoint, and replay -------------------------------------------

async function replayHook(endpoint, seq) {
  try {
    const { replayed } = await api("POST", `/api/v1/webhooks/${encodeURIComponent(endpoint)}/replay`, seq ? { seq } : {});
    toast(t("admin.hooks_replayed", { n: replayed }), "info");
    loadHooks();
  } catch (ex) {
    toast(explain(ex));
  }
}

function hookCard(ep) {
  const rows = ep.deliveries.map((d) => {
    const answer = d.last_status ? `HTTP ${d.last_status}` : d.last_error;
    const replay = d.status === "pending" ? "" : h("button", { type: "button", class: "hc-btn hc-btn-small" }, t("admin.hooks_replay"));
    if (replay) replay.addEventListener("click", () => replayHook(ep.name, d.seq));
    return h("tr", { class: d.status === "failed" ? "revoked" : "", dataset: { seq: String(d.seq), status: d.status } },
      h("td", {}, String(d.seq)), h("td", {}, h("code", {}, d.event)), h("td", {}, t(`admin.hook_${d.status}`)),
      h("td", {}, String(d.attempts)), h("td", { title: d.last_error }, answer || ""),
      h("td", {}, d.updated_at ? fmtTime(new Date(d.updated_at * 1000)) : ""), h("td", {}, replay));
  });
  const all = h("button", { type: "button", class: "hc-btn hc-btn-danger-outline hc-btn-small", dataset: { replayFailed: ep.name } }, t("admin.hooks_replay_failed"));
  all.addEventListener("click", () => replayHook(ep.name, null));
  const head = ["hooks_col_seq", "hooks_col_event", "col_state", "hooks_col_attempts", "hooks_col_answer", "hooks_col_at"];
  return h("section", { class: "hc-card", dataset: { endpoint: ep.name } },
    h("h2", {}, ep.name, " ", h("code", {}, ep.url)),
    h("p", {}, `${t("admin.hooks_events")}: ${ep.events.join(", ")} `, all),
    rows.length
      ? h("table", { class: "a-table" }, h("thead", {}, h("tr", {}, ...head.map((k) => h("th", {}, t(`admin.${k}`))), h("th", {}))), h("tbody", {}, ...rows))
      : h("p", {}, t("admin.hooks_none_yet")));
}

async function loadHooks() {
  try {
    const { endpoints } = await api("GET", "/api/v1/webhooks/deliveries");
    $("#a-hooks-none").hidden = endpoints.length > 0;
    $("#a-hooks").replaceChildren(...endpoints.map(hookCard));
  } catch (ex) {
    toast(explain(ex));
  }
}

// -- start ------------------------------------------------------------------------------------------------

startPage();
setInterval(() => {
  if (live) render(); // the "how long" and "longest wait" columns move with the clock
  if (live && tab === "webhooks") loadHooks(); // retries and replays land in the background
}, 5000);
onLangChange(() => {
  if (live) render();
  if (live) renderDevices();
  if (live) renderAssist();
  if (tab === "people") loadPeople();
  if (tab === "tokens") loadTokens();
  if (tab === "webhooks") loadHooks();
});
whoAmI().catch((ex) => {
  screen("login");
  toast(explain(ex));
});
