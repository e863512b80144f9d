// The reports page (/admin/reports): a report, a period and a grouping; the figures as a
// table, the server's SVG charts, and CSV or XLSX downloads of exactly these figures.
// In a month's assessment a manager sets a corrected score and a note beside the
// computed score, which never changes.

import { $, api, explain, expose, h, lang, nameOf, onLangChange, startPage, t, toast } from "./hallcall.js";
import { managerSession, minutes, percent } from "./manager.js";

let last = null; // { report, q, by (the assessment's page-side grouping), data }
let charted = null; // the period query of the charts shown

const dash = (v) => (v == null ? "–" : v);
/** An assessment row's 窗口单位 in the page's language. */
const department = (r) => nameOf({ name: r.department_name, name_en: r.department_name_en });
const FIGURES = [
  ["rp.col_name", nameOf],
  ["rp.col_issued", (r) => dash(r.issued)],
  ["rp.col_called", (r) => r.called],
  ["rp.col_served", (r) => r.served],
  ["rp.col_no_show", (r) => r.no_show],
  ["rp.col_closed_by_next", (r) => r.closed_by_next],
  ["rp.col_closed_unstarted", (r) => r.closed_unstarted],
  ["rp.col_parts", (r) => r.parts],
  ["rp.col_wait_mean", (r) => minutes(r.wait.mean)],
  ["rp.col_wait_p90", (r) => minutes(r.wait.p90)],
  ["rp.col_wait_max", (r) => minutes(r.wait.max)],
  ["rp.col_over", (r) => r.wait.over_standard],
  ["rp.col_handling", (r) => minutes(r.handling.mean)],
  ["rp.col_rate", (r) => percent(r.satisfaction.rate)],
  ["rp.col_bad", (r) => r.satisfaction.bad],
];
const PER_VISIT = { "rp.col_called": "rp.col_called_visits", "rp.col_no_show": "rp.col_no_show_visits" };
const ATTENDANCE = [
  ["rp.col_days", (a) => a.days_present],
  ["rp.col_late", (a) => a.late],
  ["rp.col_early", (a) => a.early],
  ["rp.col_absent", (a) => a.absent_spans],
  ["rp.col_pauses", (a) => a.pauses],
  ["rp.col_pause_min", (a) => a.pause_minutes],
  ["rp.col_on_post", (a) => a.on_post_hours],
  ["rp.col_idle", (a) => a.idle_hours],
  ["rp.col_util", (a) => percent(a.utilization)],
  ["rp.col_overtime", (a) => a.overtime_tickets],
  ["rp.col_overtime_min", (a) => a.overtime_minutes],
];
const MONTH = [
  ["rp.col_rank", (r) => r.rank],
  ["rp.col_name", nameOf],
  ["rp.col_staff_no", (r) => r.staff_no],
  ["rp.col_department", department],
  ["rp.col_served", (r) => r.served],
  ["rp.col_volume", (r) => dash(r.components.volume)],
  ["rp.col_efficiency", (r) => dash(r.components.efficiency)],
  ["rp.col_satisfaction", (r) => dash(r.components.satisfaction)],
  ["rp.col_attendance", (r) => dash(r.components.attendance)],
  ["rp.col_plus", (r) => r.plus_points || ""],
  ["rp.col_deductions", (r) => r.deduction_points || ""],
  ["rp.col_computed", (r) => r.computed],
  ["rp.col_final", (r) => r.final],
];
const PERIOD_SCORES = [
  ["rp.col_rank", (r) => r.rank],
  ["rp.col_name", nameOf],
  ["rp.col_staff_no", (r) => r.staff_no],
  ["rp.col_department", department],
  ["rp.col_served", (r) => r.served],
  ["rp.col_final", (r) => r.final],
];
const TIME_LIMITS = [
  ["rp.col_name", nameOf],
  ["rp.col_judged", (r) => r.judged],
  ["rp.col_on_time", (r) => r.on_time],
  ["rp.col_late", (r) => r.late],
  ["rp.col_on_time_rate", (r) => percent(r.on_time_rate)],
  ["rp.col_used_mean", (r) => dash(r.used_mean_minutes)],
  ["rp.col_used_max", (r) => dash(r.used_max_minutes)],
];
// The groupings each report offers (the figures offer every one).
const DEPARTMENT_SCORES = [
  ["rp.col_rank", (r) => r.rank],
  ["rp.col_department", nameOf],
  ["rp.col_clerks", (r) => r.clerks],
  ["rp.col_served", (r) => r.served],
  ["rp.col_final", (r) => r.final],
];
// The groupings each report offers (the figures offer every one). The assessment comes whole
// from the server; by department the page shows its departments' table.
const GROUPINGS = {
  assessment: ["clerk", "department"],
  attendance: ["clerk", "window"],
  "time-limits": ["hall", "service", "department", "window", "clerk", "day", "month"],
  assist: ["guide", "service"],
};
const GROUPED = ["figures", "attendance", "time-limits", "assessment", "assist"];
const QUERIED = ["figures", "attendance", "time-limits", "assist"]; // the reports whose query names the grouping
const RED_FLAGS = [
  ["rp.col_name", nameOf],
  ["rp.col_candidate", (r) => (r.candidate ? t("rp.yes") : "")],
  ["rp.col_served", (r) => r.served],
  ["rp.col_rate", (r) => percent(r.satisfaction_rate)],
  ["rp.col_bad", (r) => r.bad_reviews],
  ["rp.col_over_handling", (r) => percent(r.over_handling_rate)],
  ["rp.col_faults", (r) => r.attendance_faults],
  ["rp.col_misses", (r) => (lang() === "en" ? r.misses_en.join("; ") : r.misses.join("；"))],
];
const ASSIST = [
  ["rp.col_name", nameOf],
  ["rp.col_requests", (r) => r.requests],
  ["rp.col_accepted", (r) => r.accepted],
  ["rp.col_done", (r) => r.done],
  ["rp.col_cancelled", (r) => r.cancelled],
  ["rp.col_overdue", (r) => r.overdue],
  ["rp.col_green", (r) => r.green],
  ["rp.col_accept_wait", (r) => minutes(r.wait_to_accept.mean)],
  ["rp.col_help_minutes", (r) => r.help_minutes],
  ["rp.col_mean_help", (r) => dash(r.mean_help_minutes)],
];
// 一件事: each bundle's tickets by how they ended, 一次办结率, time from the ticket to the last part.
const BUNDLES = [
  ["rp.col_name", nameOf],
  ["rp.col_issued", (r) => r.issued],
  ["rp.col_handled", (r) => r.handled],
  ["rp.col_completed", (r) => r.completed],
  ["rp.col_partly", (r) => r.partly],
  ["rp.col_abandoned", (r) => r.abandoned],
  ["rp.col_first_time", (r) => percent(r.first_time_rate)],
  ["rp.col_elapsed", (r) => minutes(r.elapsed.mean)],
  ["rp.col_steps", (r) => dash(r.steps)],
  ["rp.col_materials", (r) => dash(r.materials)],
];

// -- the query ---------------------------------------------------------------------------------

function periodQuery() {
  const kind = $("#r-kind").value;
  if (kind === "day") return `period=${$("#r-day").value}`;
  if (kind === "month") return `period=${$("#r-month").value}`;
  if (kind === "quarter") return `period=${$("#r-year").value}-Q${$("#r-quarter").value}`;
  if (kind === "year") return `period=${$("#r-year").value}`;
  return `from=${$("#r-from").value}&to=${$("#r-to").value}`;
}

function showInputs() {
  const kind = $("#r-kind").value;
  const report = $("#r-report").value;
  $("#r-day").hidden = kind !== "day";
  $("#r-month").hidden = kind !== "month";
  $("#r-quarter").hidden = kind !== "quarter";
  $("#r-year").hidden = !["quarter", "year"].includes(kind);
  $("#r-range").hidden = kind !== "range";
  $("#r-by-box").hidden = !GROUPED.includes(report);
  const offered = GROUPINGS[report];
  const allowed = (by) => (offered ? offered.includes(by) : by !== "guide");
  for (const opt of $("#r-by").options) opt.hidden = !allowed(opt.value);
  if (!allowed($("#r-by").value)) $("#r-by").value = offered ? (offered.includes("service") ? "service" : offered[0]) : "service";
}

async function show() {
  const report = $("#r-report").value;
  let q = periodQuery();
  if (QUERIED.includes(report)) q += `&by=${$("#r-by").value}`;
  const by = report === "assessment" ? $("#r-by").value : null;
  const base = `/api/v1/reports/${report}?${q}`;
  $("#r-csv").href = `${base}&format=csv`;
  $("#r-xlsx").href = `${base}&format=xlsx`;
  charted = periodQuery();
  drawCharts();
  try {
    last = { report, q, by, data: await api("GET", base, undefined, { timeout: 60000 }) };
  } catch (ex) {
    toast(explain(ex));
    return;
  }
  render();
}

/** The server's charts of the period shown, in the page's language. */
function drawCharts() {
  const p = `${charted}&lang=${lang()}`;
  $("#r-chart-waits").src = `/api/v1/reports/charts/waits-by-hour.svg?${p}`;
  $("#r-chart-satisfaction").src = `/api/v1/reports/charts/satisfaction-trend.svg?${p}`;
  $("#r-chart-windows").src = `/api/v1/reports/charts/windows.svg?${p}&measure=wait`;
}

// -- the table ----------------------------------------------------------------------------------

function render() {
  if (!last) return;
  const { report, data } = last;
  const table = $("#r-table");
  let columns;
  let rows;
  let total = null;
  let note = null;
  if (report === "figures") {
    const people = ["clerk", "window"].includes(data.by);
    // By department, window or clerk a call, a no-show and a transfer are counted per visit (人次), elsewhere per ticket (号).
    const visits = people || data.by === "department";
    const figures = FIGURES.map(([k, f]) => [PER_VISIT[k] && visits ? PER_VISIT[k] : k, f]);
    columns = people ? [...figures, ...ATTENDANCE.map(([k, f]) => [k, (r) => (r.attendance ? f(r.attendance) : "–")])] : figures;
    rows = data.rows;
    total = { ...data.hall, name: t("rp.total") };
    note = visits ? "rp.note_visits" : "rp.note_tickets";
  } else if (report === "time-limits") {
    columns = TIME_LIMITS;
    rows = data.rows;
    total = { ...data.hall, name: t("rp.total") };
    const en = lang() === "en";
    const limits = data.limits.map((l) => `${nameOf(l)} ${en ? l.limit_en : l.limit}`);
    note = ["rp.note_time_limits", { limits: limits.join("、") || "–" }];
  } else if (report === "attendance") {
    columns = [["rp.col_name", nameOf], ...ATTENDANCE];
    rows = data.rows;
  } else if (report === "assist") {
    columns = ASSIST;
    rows = data.rows;
    total = { ...data.total, name: t("rp.total") };
  } else if (report === "assessment") {
    const single = Object.keys(data.months).length <= 1 && data.period.kind !== "quarter" && data.period.kind !== "year";
    columns = last.by === "department" ? DEPARTMENT_SCORES : single ? MONTH : PERIOD_SCORES;
    rows = last.by === "department" ? data.departments : data.rows;
  } else if (report === "bundles") {
    columns = BUNDLES;
    rows = data.rows;
    total = { ...data.hall, name: t("rp.total") };
  } else {
    columns = RED_FLAGS;
    rows = data.windows;
  }
  const editable = report === "assessment" && columns === MONTH;
  const heads = columns.map(([k]) => h("th", {}, t(k)));
  if (editable) heads.push(h("th", {}, t("rp.col_corrected")), h("th", {}, t("rp.col_note")), h("th"));
  table.tHead.replaceChildren(h("tr", {}, heads));
  table.tBodies[0].replaceChildren(...rows.map((r) => row(columns, r, editable)));
  table.tFoot.replaceChildren(...(total && rows.length ? [row(columns, total, false)] : []));
  $("#r-empty").hidden = rows.length > 0;
  $("#r-legend").hidden = !note;
  $("#r-legend").textContent = !note ? "" : Array.isArray(note) ? t(...note) : t(note);
  const grouping = data.by || (last.by === "department" ? "department" : null);
  const by = grouping ? ` · ${t(`rp.by_${grouping}`)}` : "";
  $("#r-heading").textContent = `${t(`rp.r_${report.replace("-", "_")}`)} · ${data.period.label}${by}`;
  for (const r of rows) if (r.candidate) table.querySelector(`tr[data-key="${r.window}"]`)?.classList.add("r-flag");
}

function row(columns, r, editable) {
  const key = r.clerk || r.window || r.key || "";
  const tr = h("tr", { dataset: { key: String(key) } }, columns.map(([, f]) => h("td", {}, String(f(r)))));
  if (editable) {
    const score = h("input", { type: "number", min: "0", max: "200", step: "0.01", class: "r-corrected", value: r.corrected ?? "" });
    const note = h("input", { type: "text", maxlength: "500", class: "r-note", value: r.note ?? "" });
    const save = h("button", { type: "button", class: "hc-btn hc-btn-small" }, t("rp.save"));
    save.addEventListener("click", () => correct(r, score.value, note.value));
    tr.append(h("td", {}, score), h("td", {}, note), h("td", {}, save));
  }
  return tr;
}

async function correct(r, score, note) {
  const body = {
    corrected: score === "" ? null : Number(score),
    note: note.trim() || null,
    deductions: (r.deductions || []).map((d) => ({ points: d.points, reason: d.reason })),
  };
  try {
    await api("PUT", `/api/v1/reports/assessment/${r.month}/${encodeURIComponent(r.clerk)}`, body);
    toast(t("rp.saved"), "info", 2500);
    await show();
  } catch (ex) {
    toast(explain(ex));
  }
}

// -- start ----------------------------------------------------------------------------------------

startPage();
$("#r-kind").addEventListener("change", showInputs);
$("#r-report").addEventListener("change", showInputs);
$("#r-form").addEventListener("submit", (e) => {
  e.preventDefault();
  show();
});
onLangChange(() => {
  render();
  if (charted) drawCharts();
});
showInputs();
managerSession(() => show());
expose("reports", { show, last: () => last });
