// Sign-in for the manager pages (/admin, /admin/reports, /admin/alerts, /admin/cases):
// one session cookie and CSRF token; clerks are told they need a manager.

import { $, api, explain, setCsrf, setText, signInForm, t, toast } from "./hallcall.js";

function screen(name) {
  $("#r-login").hidden = name !== "login";
  $("#r-main").hidden = name !== "main";
  $("#r-logout").hidden = name !== "main";
  $("#r-who").hidden = name !== "main";
  document.body.dataset.screen = name;
}

/**
 * The signed-in manager or admin (`/api/v1/me`), or null. A session's CSRF token is kept
 * either way: a session left by someone else on this PC still guards its cookie. A clerk
 * signed in is told, in `#<prefix>-login-error`, that a manager is needed.
 */
export async function signedInManager(prefix) {
  const me = await api("GET", "/api/v1/me");
  setCsrf(me.csrf_token);
  if (me.person && ["manager", "admin"].includes(me.role)) return me;
  if (me.person) {
    const err = $(`#${prefix}-login-error`);
    err.textContent = t("admin.need_manager");
    err.hidden = false;
  }
  return null;
}

/** Show the page once a manager or admin is signed in; `onReady(me)` runs each time one is. */
export function managerSession(onReady, onLeave = () => {}) {
  async function whoAmI() {
    const me = await signedInManager("r");
    if (!me) {
      screen("login");
      return;
    }
    setText($("#r-who"), `${me.person.name} · ${t(`role.${me.role}`)}`);
    screen("main");
    await onReady(me);
  }

  signInForm("r", {
    signedIn: whoAmI,
    signedOut: () => {
      onLeave();
      screen("login");
    },
  });

  whoAmI().catch((ex) => {
    screen("login");
    toast(explain(ex));
  });
}

/** Seconds as minutes with one decimal ("12.5"), or "–". */
export function minutes(seconds) {
  return seconds == null ? "–" : (seconds / 60).toFixed(1);
}

/** A share as a percentage ("98.5%"), or "–". */
export function percent(share) {
  return share == null ? "–" : `${(share * 100).toFixed(1)}%`;
}
