// The planning page (/admin/plan): a day's forecast and the planner's advice, per zone and
// hour: the windows to open (and which), the waits and use they give, two server-drawn
// charts, and the CSV or XLSX of exactly this table (GET /api/v1/plan).

import { $, api, explain, expose, h, hall, lang, nameOf, onLangChange, startPage, t, toast } from "./hallcall.js";
import { managerSession, percent } from "./manager.js";

let last = null; // { q, data }

const dash = (v) => (v == null ? "–" : v);
const minutes = (v) => (v == null ? "–" : Number(v).toFixed(1));
const zones = new Map(hall.zones.map((z) => [z.id, z]));
const services = new Map(hall.services.map((s) => [s.id, s]));
const zoneName = (id) => (zones.has(id) ? nameOf(zones.get(id)) : id);
const serviceName = (id) => (services.has(id) ? nameOf(services.get(id)) : id);
const list = (items) => items.join(lang() === "en" ? ", " : "、");

const COLUMNS = [
  ["pl.col_zone", (r) => zoneName(r.zone)],
  ["pl.col_hour", (r) => r.hour],
  ["pl.col_arrivals", (r) => r.arrivals],
  ["pl.col_windows", (r) => r.windows + (r.short ? " !" : "")],
  ["pl.col_open", (r) => list(r.open.map((n) => t("pl.window_n", { n })))],
  ["pl.col_mean", (r) => minutes(r.mean_wait_minutes)],
  ["pl.col_p90", (r) => minutes(r.p90_wait_minutes)],
  ["pl.col_over", (r) => percent(r.over_standard)],
  ["pl.col_util", (r) => percent(r.utilization)],
];

function query() {
  const parts = [`date=${$("#pl-date").value}`, `weeks=${$("#pl-weeks").value || 8}`];
  if ($("#pl-target").value) parts.push(`target_wait=${$("#pl-target").value}`);
  return parts.join("&");
}

async function show() {
  const q = query();
  $("#pl-csv").href = `/api/v1/plan?${q}&rows=advised&format=csv`;
  $("#pl-xlsx").href = `/api/v1/plan?${q}&rows=advised&format=xlsx`;
  let data;
  try {
    data = await api("GET", `/api/v1/plan?${q}`, undefined, { timeout: 120000 });
  } catch (ex) {
    last = null;
    render();
    if (ex.code === "no_forecast") {
      // A day off, or a hall with no past days yet (a new install, the demo): say so in place.
      const off = /not a working day/.test(ex.message);
      $("#pl-forecast").textContent = t(off ? "pl.day_off" : "pl.no_history", { date: $("#pl-date").value });
    } else {
      toast(explain(ex));
    }
    return;
  }
  last = { q, data };
  render();
  drawCharts();
}

/** The server's charts of the plan shown, in the page's language (asked once the plan is ready: it is then kept a minute). */
function drawCharts() {
  if (!last) return;
  $("#pl-chart-windows").src = `/api/v1/plan?${last.q}&format=svg&chart=windows&lang=${lang()}`;
  $("#pl-chart-waits").src = `/api/v1/plan?${last.q}&format=svg&chart=waits&lang=${lang()}`;
}

function render() {
  const table = $("#pl-table");
  const advice = $("#pl-advice");
  $("#pl-charts").hidden = $("#pl-result").hidden = !last;
  $("#pl-csv").hidden = $("#pl-xlsx").hidden = !last; // nothing to export without a plan
  if (!last) {
    table.tBodies[0].replaceChildren();
    advice.tBodies[0].replaceChildren();
    $("#pl-forecast").textContent = "";
    return;
  }
  const { q, data } = last;
  table.dataset.query = q; // which question the table answers
  const f = data.forecast;
  $("#pl-forecast").textContent = t("pl.forecast", { date: f.date, n: Math.round(f.arrivals), days: f.history_days })
    + (f.error && f.error.cells != null ? t("pl.forecast_error", { days: f.error.days, cells: percent(f.error.cells) }) : "");
  $("#pl-heading").textContent = t("pl.heading", { date: f.date });
  advice.tHead.replaceChildren(h("tr", {}, ["pl.col_zone", "pl.col_all_day", "pl.col_order"].map((k) => h("th", {}, t(k)))));
  advice.tBodies[0].replaceChildren(...data.advice.map((a) => h("tr", { dataset: { zone: a.zone } },
    h("td", {}, zoneName(a.zone)),
    h("td", {}, a.all_day == null ? t("pl.none_enough", { n: a.windows.length }) : t("pl.of", { n: a.all_day, all: a.windows.length })),
    h("td", {}, a.windows.map((w) => `${t("pl.window_n", { n: w.number })}（${list(w.services.map(serviceName))}）`)
      .join(lang() === "en" ? "; " : "；")))));
  table.tHead.replaceChildren(h("tr", {}, COLUMNS.map(([k]) => h("th", {}, t(k)))));
  const rows = data.advised_rows.filter((r) => r.arrivals || r.windows);
  table.tBodies[0].replaceChildren(...rows.map((r) => h("tr", { dataset: { zone: r.zone, hour: r.hour, short: String(r.short) } },
    COLUMNS.map(([, f]) => h("td", {}, String(dash(f(r))))))));
}

startPage();
$("#pl-form").addEventListener("submit", (e) => {
  e.preventDefault();
  show();
});
onLangChange(() => {
  render();
  drawCharts();
});
managerSession(() => show());
expose("plan", { show, last: () => last });
