// The guides' page (帮办工作台), phone-sized: sign in, then the requests you hold (完成 with
// the help given, or 释放), the open requests live over the "guides" topic (接单: the first
// guide wins, a second one is told it was taken), and the guide desk's form that flags a
// ticket by its number. One request at a time: buttons are disabled while one is in flight.

import { $, api, explain, expose, fmtDuration, h, Live, nameOf, onLangChange, secondsSince, setCsrf, setText, signInForm, startPage, t, toast } from "./hallcall.js";

let me = null;
let live = null;
let requests = []; // live requests, open ones first, green channel first, then oldest
let generation = 0; // only the newest list read is shown: replies may arrive out of order
let busy = false;
const doneFormOpen = new Set(); // requests whose 完成 form is open

function screen(name) {
  $("#g-login").hidden = name !== "login";
  $("#g-main").hidden = name !== "main";
  $("#g-logout").hidden = name !== "main";
  $("#g-who").hidden = name !== "main";
  document.body.dataset.screen = name;
}

async function whoAmI() {
  me = await api("GET", "/api/v1/me");
  setCsrf(me.csrf_token); // a session left on this phone still guards its cookie
  if (!me.person) {
    screen("login");
    return;
  }
  if (me.role !== "guide") {
    const err = $("#g-login-error");
    err.textContent = t("gd.need_guide");
    err.hidden = false;
    screen("login");
    return;
  }
  setText($("#g-who"), `${me.person.name}${me.person.staff_no ? ` · ${me.person.staff_no}` : ""}`);
  screen("main");
  if (live) live.stop();
  live = new Live({ topics: ["guides"], onSnapshot: refresh, onEvent: (msg) => msg.name.startsWith("assist.") && refresh() }).start();
  expose("guide", { live, state: () => ({ requests, busy }) });
}

signInForm("g", {
  signedIn: whoAmI,
  signedOut: () => {
    if (live) live.stop();
    live = null;
    requests = [];
    screen("login");
  },
});

async function refresh() {
  const mine = ++generation;
  try {
    const body = await api("GET", "/api/v1/assist");
    if (mine !== generation) return;
    requests = body.assist;
  } catch (ex) {
    if (ex.code !== "network") toast(explain(ex));
    return;
  }
  render();
}

async function run(action) {
  if (busy) return;
  busy = true;
  render();
  try {
    await action();
  } catch (ex) {
    toast(explain(ex));
  } finally {
    busy = false;
    await refresh();
  }
}

const post = (r, step, body = {}) => api("POST", `/api/v1/assist/${encodeURIComponent(r.id)}/${step}`, body);

function button(label, cls, onClick) {
  const b = h("button", { type: "button", class: `hc-btn ${cls}` }, label);
  b.disabled = busy;
  b.addEventListener("click", onClick);
  return b;
}

function facts(r) {
  const service = nameOf({ name: r.service_name, name_en: r.service_name_en });
  return [
    h("div", { class: "g-head" },
      h("span", { class: "g-number" }, r.number),
      r.green ? h("span", { class: "g-green" }, t("prio.green")) : "",
      h("span", { class: "g-since" }, r.state === "accepted"
        ? t("gd.helping", { d: fmtDuration(secondsSince(r.accepted_at)) })
        : t("gd.waited", { d: fmtDuration(secondsSince(r.requested_at)) }))),
    h("div", { class: "g-service" }, service),
    h("div", { class: "g-source" }, `${t(`gd.source_${r.source}`)}${r.need ? ` · ${r.need}` : ""}`),
  ];
}

function doneForm(r) {
  const form = $("#g-done-form").content.firstElementChild.cloneNode(true);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const help = [...form.querySelectorAll("input[name=help]:checked")].map((x) => x.value);
    const note = form.querySelector("input[name=note]").value.trim();
    if (!help.length) {
      toast(t("gd.pick_help"));
      return;
    }
    run(async () => {
      await post(r, "done", note ? { help, note } : { help });
      doneFormOpen.delete(r.id);
      toast(t("gd.saved", { n: r.number }), "info", 3000);
    });
  });
  form.querySelector("[data-cancel]").addEventListener("click", () => {
    doneFormOpen.delete(r.id);
    render();
  });
  for (const b of form.querySelectorAll("button")) b.disabled = busy;
  return form;
}

function mineItem(r) {
  const actions = doneFormOpen.has(r.id)
    ? doneForm(r)
    : h("div", { class: "g-actions" },
      button(t("gd.done"), "hc-btn-primary", () => {
        doneFormOpen.add(r.id);
        render();
      }),
      button(t("gd.release"), "", () => run(() => post(r, "release"))));
  return h("li", { class: "g-item mine", dataset: { id: r.id, number: r.number } }, ...facts(r), actions);
}

function openItem(r) {
  const take = button(t("gd.accept"), "hc-btn-primary", () => run(async () => {
    await post(r, "accept");
    toast(t("gd.taken", { n: r.number }), "info", 3000);
  }));
  const cls = `g-item${r.green ? " green" : ""}${r.overdue ? " overdue" : ""}`; // overdue: nobody took it in time
  return h("li", { class: cls, dataset: { id: r.id, number: r.number } }, ...facts(r),
    h("div", { class: "g-actions" }, take));
}

function render() {
  if (!me || !me.person) return;
  const mine = requests.filter((r) => r.state === "accepted" && r.guide === me.person.id);
  const open = requests.filter((r) => r.state === "open");
  $("#g-mine").replaceChildren(...mine.map(mineItem));
  $("#g-open").replaceChildren(...open.map(openItem));
  setText($("#g-n-mine"), String(mine.length));
  setText($("#g-n-open"), String(open.length));
  $("#g-none-mine").hidden = mine.length > 0;
  $("#g-none-open").hidden = open.length > 0;
  for (const b of $("#g-desk").querySelectorAll("button")) b.disabled = busy;
}

$("#g-desk").addEventListener("submit", (e) => {
  e.preventDefault();
  const ticket = $("#g-number").value.trim().toUpperCase();
  const need = $("#g-need").value.trim();
  run(async () => {
    const r = await api("POST", "/api/v1/assist", need ? { ticket, need } : { ticket });
    $("#g-number").value = "";
    $("#g-need").value = "";
    toast(t("gd.flagged", { n: r.number }), "info", 3000);
  });
});

onLangChange(render);
setInterval(() => !busy && doneFormOpen.size === 0 && render(), 15000); // the waited times move on
startPage();
whoAmI().catch((ex) => {
  screen("login");
  toast(explain(ex));
});
