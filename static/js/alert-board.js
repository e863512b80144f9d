// The alert board (/admin/alerts): supervision alerts worst first, live over the admin
// topic; a manager acknowledges an alert (once) and closes it with a note. Below them,
// follow-up cases, 办不成事 cases and 容缺受理 records near or past their deadline (each
// is handled in its own flow), then today's alerts, closed ones included.

import { $, Live, api, explain, expose, frameBatcher, h, nameOf, onLangChange, params, setText, startPage, t, toast } from "./hallcall.js";
import { managerSession } from "./manager.js";

let board = { alerts: [], counts: {}, departments: [] };
let history = [];
let deadlines = [];
let live = null;
const drafts = new Map(); // alert id -> the note being typed: a live update must not wipe it

async function load() {
  try {
    board = await api("GET", "/api/v1/alerts");
    history = (await api("GET", `/api/v1/alerts/history?period=${params.today}`)).alerts;
    deadlines = (await api("GET", "/api/v1/alerts/deadlines")).items;
  } catch (ex) {
    toast(explain(ex));
    return;
  }
  schedule();
}

const reload = frameBatcher(load);
const schedule = frameBatcher(render);

function message(a) {
  return document.documentElement.dataset.lang === "en" ? a.message_en : a.message;
}

function clock(iso) {
  return iso ? iso.slice(11, 19) : "";
}

function status(a) {
  let text = t(`al.${a.status}`);
  if (a.status === "closed") text += ` · ${t("al.closed_by", { who: a.closed_by || "", note: a.close_note || "" })}`;
  else if (a.acknowledged_by) text += ` · ${t("al.acked_by", { who: a.acknowledged_by })}`;
  return text;
}

function departmentName(d) {
  return d.department ? nameOf(d) : t("al.no_department");
}

function cells(a, withDepartment) {
  return [
    h("td", {}, h("span", { class: "r-lv", dataset: { level: a.level } }, t(`al.l_${a.level}`))),
    h("td", {}, t(`al.t_${a.type}`)),
    ...(withDepartment ? [h("td", { class: "al-dept" }, a.department ? a.department_name : "")] : []),
    h("td", {}, message(a)),
    h("td", {}, clock(a.raised_at)),
    h("td", { class: "al-status" }, status(a)),
  ];
}

function actions(a) {
  const note = h("input", { type: "text", maxlength: "500", class: "al-note", placeholder: t("al.note"), value: drafts.get(a.id) || "" });
  note.addEventListener("input", () => drafts.set(a.id, note.value));
  const ack = h("button", { type: "button", class: "hc-btn hc-btn-small al-ack", disabled: !!a.acknowledged_at }, t("al.ack"));
  const close = h("button", { type: "button", class: "hc-btn hc-btn-small al-close", disabled: !!a.closed_at }, t("al.close"));
  ack.addEventListener("click", () => act(a, "ack", note.value));
  close.addEventListener("click", () => act(a, "close", note.value));
  return h("td", { class: "al-actions" }, note, ack, close);
}

async function act(a, what, note) {
  try {
    await api("POST", `/api/v1/alerts/${encodeURIComponent(a.id)}/${what}`, note.trim() ? { note: note.trim() } : {});
    drafts.delete(a.id);
  } catch (ex) {
    toast(explain(ex));
  }
  await load();
}

function deadlineRow(i) {
  const what = i.kind === "ledger" ? i.matter
    : [i.service_name, i.window != null ? t("al.window_n", { n: i.window }) : "", (i.materials || []).join("、")].filter(Boolean).join(" · ");
  return h("tr", { dataset: { item: `${i.kind}:${i.id}`, overdue: String(i.overdue) } },
    h("td", {}, h("span", { class: "r-lv", dataset: { level: i.overdue ? "red" : "orange" } }, t(i.overdue ? "al.overdue" : "al.near"))),
    h("td", {}, t(`al.k_${i.kind}`)), h("td", {}, i.number ? `${i.number} · ${i.id}` : i.id), h("td", {}, what || ""), h("td", {}, i.due || ""));
}

// The board by 窗口单位: "*" shows every alert, "" those of no one department.
function departmentOptions() {
  const select = $("#al-dept");
  const chosen = select.value;
  const options = board.departments.map((d) =>
    h("option", { value: d.department || "" }, t("al.dept_option", { name: departmentName(d), n: d.alerts })));
  select.replaceChildren(h("option", { value: "*" }, t("al.all_departments")), ...options);
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "*";
  return select.value;
}

function render() {
  const dept = departmentOptions();
  const shown = board.alerts.filter((a) => dept === "*" || (a.department || "") === dept);
  const counts = dept === "*" ? board.counts : (board.departments.find((d) => (d.department || "") === dept) || {}).counts || {};
  for (const level of ["red", "orange", "yellow"]) setText($(`#al-n-${level}`), counts[level] || 0);
  // Rows are rebuilt on every change; whoever was typing a note keeps the cursor in it.
  const typing = document.activeElement && document.activeElement.classList.contains("al-note")
    ? document.activeElement.closest("tr").dataset.alert : null;
  $("#al-live").tBodies[0].replaceChildren(
    ...shown.map((a) => h("tr", { dataset: { alert: a.id, status: a.status } }, cells(a, true), actions(a))));
  if (typing) {
    const input = $("#al-live").querySelector(`tr[data-alert="${CSS.escape(typing)}"] .al-note`);
    if (input) input.focus();
  }
  $("#al-none").hidden = shown.length > 0;
  $("#al-deadlines").tBodies[0].replaceChildren(...deadlines.map(deadlineRow));
  $("#al-deadlines-none").hidden = deadlines.length > 0;
  $("#al-history").tBodies[0].replaceChildren(...history.map((a) => h("tr", { dataset: { alert: a.id } }, cells(a))));
}

startPage();
onLangChange(schedule);
$("#al-dept").addEventListener("change", schedule);
managerSession(async () => {
  if (!live) {
    live = new Live({
      topics: ["admin"],
      onSnapshot: () => reload(),
      onEvent: (msg) => /^(alert|case|ledger|pending)\./.test(msg.name) && reload(),
    }).start();
  }
  await load();
}, () => {
  if (live) live.stop();
  live = null;
});
expose("alerts", { load, board: () => board, deadlines: () => deadlines });
