// The case desk (/admin/cases): a manager works the bad-review follow-up cases (差评整改,
// followup.py) and the 办不成事 ledger (ledger.py). Two tabs list the open records, live
// over the admin topic; a row opens its facts, its steps as a timeline and one form for
// the step its state allows. The ledger tab also registers a new case.

import {
  $, Live, api, boot, explain, expose, frameBatcher, h, hall, lang, nameOf, onLangChange, params, startPage, t, toast,
} from "./hallcall.js";
import { managerSession } from "./manager.js";

const KINDS = ["case", "ledger"];
const BASE = { case: "/api/v1/cases", ledger: "/api/v1/ledger" };

// The steps each state allows, the usual one first (followup.ACTIONS and its _need; ledger.STEPS).
const NEXT = {
  case: { review: ["screen", "appeal"], appeal: ["appeal-decision"], verify: ["verify"], rectify: ["rectify"],
    reply: ["reply"], callback: ["callback"] },
  ledger: { open: ["assign", "resolve"], assigned: ["resolve", "assign"], resolved: ["reply"], replied: ["close"] },
};

// Each step's inputs: [body field, kind of input, required].
const INPUTS = {
  screen: [["note", "text", false]],
  appeal: [["ground", "ground", true], ["statement", "text", true]],
  "appeal-decision": [["upheld", "yesno", true], ["note", "text", false]],
  verify: [["substantiated", "yesno", true], ["reasonable", "yesno", true], ["finding", "text", true]],
  rectify: [["measures", "text", true]],
  reply: [["text", "text", true], ["channel", "channel", true]],
  callback: [["level", "level", true], ["note", "text", false]],
  assign: [["department", "line", true], ["note", "text", true]],
  resolve: [["result", "text", true]],
  close: [["level", "level", true], ["note", "text", false]],
};

const desk = { tab: "case", lists: { case: [], ledger: [] }, open: null }; // open: {kind, rec}
const people = new Map(); // person id -> name, for the timeline
const busy = new Set(); // "kind:id" with a step in flight
const drafts = new Map(); // "kind:id:action:field" -> what is being typed: a live update must not wipe it
let shown = ""; // what the detail shows now; it is rebuilt only when that changes
const stale = new Set(); // the lists to read again: each list only on its own events (reading the ledger is audited)
const loads = { case: 0, ledger: 0 }; // per list, the number of the latest read
let live = null;

// -- reading ----------------------------------------------------------------------------------

async function load() {
  const kinds = KINDS.filter((k) => stale.has(k));
  stale.clear();
  if (!kinds.length) return;
  const mine = kinds.map((k) => ++loads[k]);
  let answers;
  try {
    answers = await Promise.all(kinds.map((k) => api("GET", BASE[k])));
  } catch (ex) {
    toast(why(ex));
    return;
  }
  // A later read of the same list has begun meanwhile: its answer is the newer one.
  kinds.forEach((k, i) => mine[i] === loads[k] && (desk.lists[k] = answers[i].cases));
  await refreshOpen();
  schedule();
}

/** The record in the detail, from the new list; one that left the list is read once more. */
async function refreshOpen() {
  const o = desk.open;
  if (!o) return;
  const fresh = desk.lists[o.kind].find((r) => r.id === o.rec.id);
  if (fresh) {
    o.rec = fresh;
  } else if (o.rec.state !== "closed") {
    try {
      o.rec = await api("GET", `${BASE[o.kind]}/${encodeURIComponent(o.rec.id)}`);
    } catch (ex) {
      toast(why(ex));
    }
  }
}

async function loadPeople() {
  try {
    for (const p of (await api("GET", "/api/v1/people")).people) people.set(p.id, p.name);
  } catch {
    people.clear(); // the timeline then shows ids: not worth a toast
  }
}

const reloadSoon = frameBatcher(load);

/** Read these lists again before the next frame, however many events ask for it. */
function reload(...kinds) {
  for (const k of kinds.length ? kinds : KINDS) stale.add(k);
  reloadSoon();
}
const schedule = frameBatcher(render);

// -- names in the current language --------------------------------------------------------------

/** The server's Chinese name, or the language table's English one when there is one. */
function named(key, zhName) {
  if (lang() === "zh" && zhName) return zhName;
  return boot.strings[key] ? t(key) : zhName || key;
}

function why(ex) {
  const key = ex && ex.code ? `cs.err_${ex.code}` : "";
  return key && boot.strings[key] ? t(key) : explain(ex);
}

const stateName = (kind, r) => named(`cs.st_${kind}_${r.state}`, r.state_name);
const stepName = (kind, step) => t(`cs.s_${kind}_${step}`);
const actionName = (kind, action) => t(`cs.a_${kind}_${action.replace("-", "_")}`);
const levelName = (n) => t(`cs.lv_${n}`);
const joined = (items) => items.join(lang() === "zh" ? "、" : ", ");

function serviceName(r) {
  const svc = (hall.services || []).find((s) => s.id === r.service);
  return svc ? nameOf(svc) : r.service_name || "–";
}

const windowName = (r) => (r.window != null ? t("cs.window_n", { n: r.window }) : "–");
const caseReasons = (r) => joined((r.reasons || []).map((x, i) => named(`cs.cr_${x}`, (r.reason_names || [])[i])));

function tierLabel(id, zhName) {
  const tier = (params.tiers || []).find((x) => x.id === id);
  if (lang() === "zh") return zhName || (tier && tier.name) || id;
  if (!tier) return zhName || id;
  if (tier.spec === 0) return t("cs.tier_same_day");
  if (typeof tier.spec === "string") return t("cs.tier_months", { n: parseInt(tier.spec, 10) });
  return t("cs.tier_days", { n: tier.spec });
}

function who(by) {
  if (!by) return t("cs.by_system");
  if (by === "citizen") return t("cs.by_citizen");
  const [kind, id] = by.split(":");
  if (kind === "token") return t("cs.by_device");
  return people.get(id) || id || by;
}

const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "");

/** "overdue" (red), "escalated" (orange, cases only) or "". */
function flagOf(kind, r) {
  if (r.overdue) return "overdue";
  return kind === "case" && r.escalated ? "escalated" : "";
}

function flagMark(kind, r) {
  const flag = flagOf(kind, r);
  if (!flag) return null;
  return h("span", { class: "r-lv cs-flag", dataset: { level: flag === "overdue" ? "red" : "orange" } }, t(`cs.${flag}`));
}

// -- the lists ------------------------------------------------------------------------------------

/** Free text may wrap; the other cells of a row stay on one line. */
const wrapping = (text) => h("span", { class: "cs-wrap" }, text);

function cellsOf(kind, r) {
  const common = [r.number || "–", serviceName(r), windowName(r)];
  const tail = [stateName(kind, r), [r.due, flagMark(kind, r)]];
  if (kind === "case") return [...common, levelName(r.level), wrapping(caseReasons(r)), ...tail];
  return [...common, wrapping(r.matter), named(`cs.r_${r.reason}`, r.reason_name), tierLabel(r.tier, r.tier_name), ...tail];
}

function row(kind, r) {
  const current = desk.open && desk.open.kind === kind && desk.open.rec.id === r.id;
  const opener = h("button", { type: "button", class: "cs-open" }, r.id);
  const tr = h("tr", { class: current ? "cs-row cs-current" : "cs-row", "aria-current": current ? "true" : null,
    dataset: { id: r.id, state: r.state, flag: flagOf(kind, r) } },
  h("td", {}, opener), cellsOf(kind, r).map((c) => h("td", {}, c)));
  tr.addEventListener("click", () => select(kind, r));
  return tr;
}

function select(kind, rec) {
  desk.open = { kind, rec };
  schedule();
}

function showTab(kind) {
  if (desk.tab === kind) return;
  desk.tab = kind;
  if (desk.open && desk.open.kind !== kind) desk.open = null;
  schedule();
}

function render() {
  for (const kind of KINDS) {
    const list = desk.lists[kind];
    const on = desk.tab === kind;
    $(`#cs-n-${kind}`).textContent = String(list.length);
    $(`#cs-table-${kind}`).tBodies[0].replaceChildren(...list.map((r) => row(kind, r)));
    $(`#cs-none-${kind}`).hidden = list.length > 0;
    $(`#cs-tab-${kind}`).setAttribute("aria-selected", String(on));
    $(`#cs-panel-${kind}`).hidden = !on;
  }
  renderDetail();
}

// -- the detail -------------------------------------------------------------------------------------

function renderDetail(force = false) {
  const o = desk.open;
  const key = o ? `${lang()}|${busy.has(`${o.kind}:${o.rec.id}`)}|${o.kind}|${JSON.stringify(o.rec)}` : "";
  if (key === shown && !force) return; // unchanged: leave the form as it is being filled in
  shown = key;
  $("#cs-pick").hidden = !!o;
  const box = $("#cs-record");
  box.hidden = !o;
  if (!o) {
    box.replaceChildren();
    return;
  }
  const focused = box.contains(document.activeElement) ? document.activeElement.id : "";
  box.replaceChildren(head(o.kind, o.rec), facts(o.kind, o.rec), timeline(o.kind, o.rec), nextStep(o.kind, o.rec));
  const again = focused && document.getElementById(focused);
  if (again) again.focus();
}

function head(kind, r) {
  return h("div", { class: "cs-head" },
    h("h3", { id: "cs-d-id" }, r.id),
    h("span", { class: "cs-state", id: "cs-d-state", dataset: { state: r.state } }, stateName(kind, r)),
    flagMark(kind, r));
}

const rating = (n) => (n ? `${n} · ${levelName(n)}` : "");

function clerkOf(r) {
  if (!r.clerk_name) return "";
  if (!r.staff_no) return r.clerk_name;
  return lang() === "zh" ? `${r.clerk_name}（${r.staff_no}）` : `${r.clerk_name} (${r.staff_no})`;
}

/** [field, value] pairs of what is known about a record; the citizen comes masked from the server. */
function factList(kind, r) {
  const common = [["number", r.number], ["service", r.service ? serviceName(r) : ""],
    ["window", r.window != null ? windowName(r) : ""]];
  if (kind === "case") {
    return [...common, ["clerk", clerkOf(r)], ["level", rating(r.level)], ["reasons", caseReasons(r)],
      ["comment", r.comment], ["evaluated_at", when(r.evaluated_at)], ["due", r.due],
      ["round", r.round > 1 ? r.round : ""], ["result", r.result ? t(`cs.res_${r.result}`) : ""]];
  }
  const citizen = r.citizen || {};
  return [["citizen", citizen.name], ["phone", citizen.phone], ["matter", r.matter], ...common,
    ["reason", named(`cs.r_${r.reason}`, r.reason_name)], ["department", r.department],
    ["tier", tierLabel(r.tier, r.tier_name)], ["opened_at", when(r.opened_at)], ["due", r.due],
    ["callback_level", rating(r.callback_level)]];
}

/** A <dl> of labelled values, leaving out the empty ones. */
function described(cls, pairs) {
  const known = pairs.filter(([, v]) => v != null && v !== "");
  return h("dl", { class: cls }, known.flatMap(([k, v]) => [h("dt", {}, t(`cs.f_${k}`)), h("dd", { dataset: { fact: k } }, v)]));
}

const facts = (kind, r) => described("cs-facts", factList(kind, r));

function valueOf(field, v) {
  if (typeof v === "boolean") return t(v ? "cs.yes" : "cs.no");
  if (field === "channel") return t(`cs.ch_${v}`);
  if (field === "ground") return t(`cs.g_${v}`);
  if (field === "level") return rating(v);
  return String(v);
}

function timeline(kind, r) {
  const items = (r.steps || []).map((s) => {
    const fields = Object.entries(s).filter(([k]) => !["step", "by", "at"].includes(k)).map(([k, v]) => [k, valueOf(k, v)]);
    return h("li", { class: "cs-step", dataset: { step: s.step } },
      h("div", { class: "cs-step-head" }, h("strong", {}, stepName(kind, s.step)),
        h("span", { class: "cs-step-who" }, who(s.by)), h("time", { datetime: s.at }, when(s.at))),
      fields.length ? described("cs-step-fields", fields) : null);
  });
  return h("section", { class: "cs-history" }, h("h4", {}, t("cs.steps")), h("ol", { class: "cs-steps", id: "cs-steps" }, items));
}

// -- the next step's form -------------------------------------------------------------------------------

function nextStep(kind, r) {
  const actions = NEXT[kind][r.state];
  if (!actions) return h("p", { class: "cs-done", id: "cs-done" }, t("cs.closed_note"));
  const key = `${kind}:${r.id}`;
  const picked = drafts.get(`${key}:_action`);
  const action = actions.includes(picked) ? picked : actions[0];
  const submit = h("button", { type: "submit", class: "hc-btn hc-btn-primary", id: "cs-submit", disabled: busy.has(key) },
    actionName(kind, action));
  const form = h("form", { class: "cs-act", id: "cs-act", dataset: { action } }, h("h4", {}, t("cs.next")),
    actions.length > 1 ? choice(kind, key, actions, action) : null,
    INPUTS[action].map((spec) => input(`${key}:${action}`, spec)),
    h("div", { class: "cs-act-buttons" }, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(kind, r, action, form, submit);
  });
  return form;
}

function choice(kind, key, actions, action) {
  const radios = actions.map((a) => {
    const id = `cs-do-${a}`;
    const radio = h("input", { type: "radio", name: "cs-do", id, value: a, checked: a === action });
    radio.addEventListener("change", () => {
      drafts.set(`${key}:_action`, a);
      renderDetail(true);
    });
    return h("label", { class: "cs-option", for: id }, radio, h("span", {}, actionName(kind, a)));
  });
  return h("fieldset", { class: "cs-choice" }, h("legend", {}, t("cs.choose")), radios);
}

function remember(el, draftKey) {
  el.addEventListener("input", () => drafts.set(draftKey, el.value));
  el.addEventListener("change", () => drafts.set(draftKey, el.value));
  return el;
}

function options(values, label, draft, placeholder) {
  const opts = values.map((v) => h("option", { value: String(v), selected: String(v) === draft }, label(v)));
  return placeholder ? [h("option", { value: "", selected: !draft }, placeholder), ...opts] : opts;
}

function input(prefix, [field, kind, required]) {
  const id = `cs-f-${field}`;
  const draftKey = `${prefix}:${field}`;
  const draft = drafts.get(draftKey) || "";
  const label = t(`cs.f_${field}`) + (required ? "" : ` ${t("cs.optional")}`);
  if (kind === "yesno") {
    const radios = ["yes", "no"].map((v) => {
      const radio = h("input", { type: "radio", name: field, id: `${id}-${v}`, value: v, required, checked: draft === v });
      return h("label", { class: "cs-option", for: `${id}-${v}` }, remember(radio, draftKey), h("span", {}, t(`cs.${v}`)));
    });
    return h("fieldset", { class: "cs-field cs-yesno", id }, h("legend", {}, label), radios);
  }
  const el = control(kind, { id, name: field, required }, draft);
  return h("div", { class: "cs-field" }, h("label", { for: id }, label), remember(el, draftKey));
}

// The choices of each select: values and how they read.
const CHOICES = {
  ground: () => [params.grounds || [], (g) => t(`cs.g_${g}`), ""],
  channel: () => [params.channels || [], (c) => t(`cs.ch_${c}`), ""],
  level: () => [[5, 4, 3, 2, 1], rating, t("cs.pick_level")],
};

function control(kind, attrs, draft) {
  if (kind === "text") return h("textarea", { ...attrs, rows: "3", maxlength: "1000" }, draft);
  if (kind === "line") return h("input", { ...attrs, maxlength: "60", value: draft });
  const [values, label, placeholder] = CHOICES[kind]();
  return h("select", attrs, options(values, label, draft, placeholder));
}

function bodyOf(form, action) {
  const body = {};
  for (const [field, kind, required] of INPUTS[action]) {
    const value = form.elements[field].value.trim();
    if (kind === "yesno") body[field] = value === "yes";
    else if (kind === "level") body[field] = Number(value);
    else if (value || required) body[field] = value;
  }
  return body;
}

function forget(key) {
  for (const k of [...drafts.keys()]) if (k.startsWith(`${key}:`)) drafts.delete(k);
}

async function send(kind, rec, action, form, button) {
  const key = `${kind}:${rec.id}`;
  if (busy.has(key)) return; // the first press is on its way
  busy.add(key);
  button.disabled = true;
  const body = bodyOf(form, action);
  try {
    const done = await api("POST", `${BASE[kind]}/${encodeURIComponent(rec.id)}/${action}`, body);
    forget(key);
    if (desk.open && desk.open.kind === kind && desk.open.rec.id === rec.id) desk.open.rec = done;
    toast(t("cs.saved", { state: stateName(kind, done) }), "info", 2500);
  } catch (ex) {
    toast(why(ex));
  } finally {
    busy.delete(key);
  }
  schedule();
  reload(kind);
}

// -- registering a 办不成事 case ---------------------------------------------------------------------------

function fillTiers() {
  const select = $("#cs-new-tier");
  const keep = select.value;
  select.replaceChildren(h("option", { value: "" }, t("cs.tier_default")),
    ...(params.tiers || []).map((x) => h("option", { value: x.id, selected: x.id === keep }, tierLabel(x.id, x.name))));
}

async function register(e) {
  e.preventDefault();
  const button = $("#cs-new-submit");
  if (button.disabled) return;
  button.disabled = true;
  const body = { matter: $("#cs-new-matter").value.trim(), reason: $("#cs-new-reason").value };
  const department = $("#cs-new-department").value.trim();
  if (department) body.department = department;
  if ($("#cs-new-tier").value) body.tier = $("#cs-new-tier").value;
  try {
    const made = await api("POST", BASE.ledger, body);
    $("#cs-new").reset();
    desk.open = { kind: "ledger", rec: made };
    toast(t("cs.registered", { id: made.id }), "info", 3000);
  } catch (ex) {
    toast(why(ex));
  } finally {
    button.disabled = false;
  }
  schedule();
  reload("ledger");
}

// -- start ----------------------------------------------------------------------------------------------

startPage();
fillTiers();
for (const kind of KINDS) $(`#cs-tab-${kind}`).addEventListener("click", () => showTab(kind));
$("#cs-new").addEventListener("submit", register);
onLangChange(() => {
  fillTiers();
  schedule();
});
managerSession(async () => {
  if (!live) {
    live = new Live({
      topics: ["admin"],
      onSnapshot: () => reload(...KINDS),
      onEvent: (msg) => {
        const kind = /^(case|ledger)\./.exec(msg.name);
        if (kind) reload(kind[1]);
      },
    }).start();
  }
  await loadPeople();
  for (const k of KINDS) stale.add(k);
  await load();
}, () => {
  if (live) live.stop();
  live = null;
  desk.open = null;
});
expose("cases", { load, desk: () => desk });
