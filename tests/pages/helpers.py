"""Helpers for the browser tests: demo data, WCAG contrast, CJK font checks."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from queue_server.core.clock import ManualClock
from queue_server.service import auth

from ..conftest import OPEN_TIME, PASSWORD, Harness, Http  # type: ignore[import-not-found]

# Families that carry CJK glyphs: text with Chinese must be drawn by one of them.
CJK_FAMILIES = {"WenQuanYi Micro Hei", "HallCall Sans", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
                "Microsoft YaHei"}

# -- demo data -------------------------------------------------------------------------------

CLERKS = {
    1: ("王晓燕", "0101", "市场监管局"), 3: ("李明", "0103", "市场监管局"), 6: ("赵敏", "0106", "税务局"),
    9: ("陈建国", "0109", "住建局"), 15: ("张丽", "0115", "人社局"), 16: ("刘洋", "0116", "人社局"),
    21: ("孙静", "0121", "人社局"), 29: ("周海峰", "0129", "医保局"), 31: ("吴芳", "0131", "医保局"),
    35: ("郑浩", "0135", "行政审批局"), 37: ("黄蕾", "0137", "公积金中心"),
}
# A portrait placeholder, as a hall might store a photo inline (well under the 300-character limit).
PHOTO = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 60 80'%3E"
         "%3Crect width='60' height='80' fill='%23dce8fa'/%3E%3Ccircle cx='30' cy='29' r='14' fill='%231650a8'/%3E"
         "%3Cpath d='M4 80c0-19 12-30 26-30s26 11 26 30z' fill='%231650a8'/%3E%3C/svg%3E")
NOTICE = "今日14:30起，21–23号社会保障卡窗口可办理新版社保卡换领，请携带本人身份证原件。办事群众请保管好随身物品。"
NOTICE_EN = "From 14:30 today windows 21–23 issue the new social security card; please bring your ID card."


@dataclass
class Demo:
    server: Harness
    clerks: dict[int, Http] = field(default_factory=dict)
    kiosk_token: str = ""
    display_token: str = ""
    pad_tokens: dict[int, str] = field(default_factory=dict)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    manager: Http | None = None


async def person(server: Harness, login: str, name: str, role: str = "clerk", staff_no: str = "",
                 department: str = "", photo: str = "") -> Any:
    p = auth.new_person(login, name, role, PASSWORD, staff_no=staff_no, department=department, photo=photo)
    await server.hall.store.put_person(p)
    return p


async def signed_in(server: Harness, login: str) -> Http:
    c = server.client()
    await c.login(login)
    return c


async def demo_hall(server: Harness, clock: ManualClock) -> Demo:
    """A realistic morning: eleven windows open, tickets waiting, calls, a pause, a notice."""
    d = Demo(server)
    add = server.hall.auth.add_token
    d.kiosk_token, _ = await add("kiosk", "一楼大厅取号机", kiosk="k1", green=True)
    d.display_token, _ = await add("display", "大厅综合屏")
    _, agent = await add("agent", "一楼设备代理", kiosk="k1")  # the kiosk's printer is there and ready
    await server.hall.execute("device_status", auth.from_device(agent),
                              {"device": "printer-k1", "kind": "printer", "status": "online", "kiosk": "k1"})
    kiosk = server.client(d.kiosk_token)
    await person(server, "director", "马主任", "manager", "0001", "政务服务中心")
    d.manager = await signed_in(server, "director")
    await d.manager.put("/api/v1/notice", {"text": NOTICE, "text_en": NOTICE_EN})

    clock.set(OPEN_TIME - timedelta(minutes=29, seconds=30))  # 08:30:30, the doors open
    for n, (name, staff_no, dept) in CLERKS.items():
        await person(server, f"clerk{n}", name, staff_no=staff_no, department=dept, photo=PHOTO if n in (3, 16) else "")
        c = await signed_in(server, f"clerk{n}")
        status, body = await c.post(f"/api/v1/windows/{n}/open")
        assert status == 200, body
        d.clerks[n] = c
        d.pad_tokens[n], _ = await add("pad", f"{n}号窗口评价器", windows=(n,))

    # Citizens arrive through the first ten minutes.
    plan = (["company-registration"] * 9 + ["tax-invoice"] * 5 + ["open-supermarket"] * 2 + ["project-approval"] * 3
            + ["pension"] * 12 + ["social-card"] * 7 + ["employment"] * 3 + ["retirement"] * 2 + ["referral"] * 5
            + ["medical-reimbursement"] * 6 + ["cross-province"] * 3 + ["housing-fund"] * 6 + ["free-seals"] * 2)
    for i, service in enumerate(plan):
        clock.advance(seconds=8)
        body: dict[str, Any] = {"service": service}
        if i % 11 == 4:
            body["priority"] = "green"
        status, t = await kiosk.post("/api/v1/tickets", body)
        assert status == 201, t
        d.tickets.append(t)

    # The windows work in parallel: call, start, a few minutes' work, finish; then call again.
    first = (15, 3, 21, 31, 37, 6, 29, 9, 1, 35)
    for step, seconds in (("call-next", 10), ("start", 10)):
        for n in first:
            clock.advance(seconds=seconds)
            await d.clerks[n].post(f"/api/v1/windows/{n}/{step}")
    clock.advance(minutes=4)
    for n in first:
        clock.advance(seconds=10)
        await d.clerks[n].post(f"/api/v1/windows/{n}/finish", {"outcome": "done"})
    clock.advance(minutes=1)
    await d.clerks[16].post("/api/v1/windows/16/pause", {"reason": "meeting"})
    second = (15, 21, 31, 37, 6, 29, 9, 35, 1)
    for n in second:
        clock.advance(seconds=20)
        await d.clerks[n].post(f"/api/v1/windows/{n}/call-next")
    for n in (15, 31, 6, 9):
        clock.advance(seconds=20)
        await d.clerks[n].post(f"/api/v1/windows/{n}/start")
    assert clock.now() < OPEN_TIME - timedelta(seconds=40)
    clock.set(OPEN_TIME - timedelta(seconds=40))
    await d.clerks[3].post("/api/v1/windows/3/call-next")  # the newest call
    clock.set(OPEN_TIME)
    return d


# -- WCAG contrast ---------------------------------------------------------------------------------

CONTRAST_JS = r"""
() => {
  const parse = (c) => {
    const m = c && c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
                                  b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  const failures = [];
  let checked = 0;
  const vw = innerWidth, vh = innerHeight;
  for (const el of document.querySelectorAll("body *")) {
    const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!own) continue;
    const s = getComputedStyle(el);
    if (s.visibility !== "visible" || s.display === "none") continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || r.right <= 0 || r.bottom <= 0 || r.left >= vw || r.top >= vh) continue;
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    let alpha = 1;
    const chain = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) chain.push(e);
    for (const e of chain.reverse()) {
      const es = getComputedStyle(e);
      alpha *= Number(es.opacity);
      const c = parse(es.backgroundColor);
      if (c && c.a > 0) bg = over(c, bg);
    }
    const fg0 = parse(s.color);
    const fg = over({ ...fg0, a: fg0.a * alpha }, bg);
    const L1 = lum(fg), L2 = lum(bg);
    const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    checked += 1;
    if (ratio + 1e-6 < need) {
      failures.push({ text: own.slice(0, 40), ratio: Math.round(ratio * 100) / 100, need, color: s.color,
                      background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})`,
                      where: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : "") });
    }
  }
  return { checked, failures };
}
"""


async def assert_contrast(page: Any, label: str) -> int:
    """Every visible text meets WCAG AA against its composited background; returns how many were checked."""
    report = await page.evaluate(CONTRAST_JS)
    assert report["checked"] > 0, f"{label}: no text found"
    assert not report["failures"], f"{label}: text below WCAG AA contrast: {report['failures']}"
    return report["checked"]


# -- CJK glyphs ---------------------------------------------------------------------------------------

MARK_CJK_JS = r"""
() => {
  let n = 0;
  for (const el of document.querySelectorAll("[data-cjk-check]")) el.removeAttribute("data-cjk-check");
  for (const el of document.querySelectorAll("body *")) {
    const own = Array.from(el.childNodes).filter((x) => x.nodeType === 3).map((x) => x.textContent).join("");
    const r = el.getBoundingClientRect();
    if (/[\u3400-\u9fff]/.test(own) && r.width && r.height && getComputedStyle(el).visibility === "visible") {
      el.setAttribute("data-cjk-check", String(n++));
    }
  }
  return n;
}
"""

CJK = re.compile(r"[\u3400-\u9fff]")


async def assert_no_tofu(page: Any, label: str, attempts: int = 3) -> set[str]:
    """Every element showing Chinese is drawn with a CJK font (Chromium's own account of it)."""
    for attempt in range(attempts):
        count = await page.evaluate(MARK_CJK_JS)
        assert count > 0, f"{label}: no Chinese text on the page"
        cdp = await page.context.new_cdp_session(page)
        try:
            await cdp.send("DOM.enable")
            await cdp.send("CSS.enable")
            root = await cdp.send("DOM.getDocument", {"depth": 0})
            found = await cdp.send("DOM.querySelectorAll", {"nodeId": root["root"]["nodeId"], "selector": "[data-cjk-check]"})
            used: set[str] = set()
            bad: list[str] = []
            stale = False
            for node in found["nodeIds"]:
                try:
                    fonts = (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node}))["fonts"]
                except Exception as exc:  # the page re-rendered that element meanwhile: look again
                    if "Could not find node" not in str(exc):
                        raise
                    stale = True
                    continue
                families = {f["familyName"] for f in fonts if f["glyphCount"] > 0}
                used |= families
                if not families & CJK_FAMILIES or families - CJK_FAMILIES:
                    html = (await cdp.send("DOM.getOuterHTML", {"nodeId": node}))["outerHTML"][:80]
                    bad.append(f"{html} drawn with {sorted(families)}")
            assert not bad, f"{label}: Chinese text drawn without a CJK font (tofu): {bad[:5]}"
            if not stale or attempt == attempts - 1:
                return used
        finally:
            await cdp.detach()
    return used


async def settle(page: Any) -> None:
    """Wait until web fonts are loaded and two frames have been drawn."""
    await page.evaluate("document.fonts.ready.then(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))")


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))
