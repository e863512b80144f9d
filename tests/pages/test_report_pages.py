"""The manager pages of reports and alerts: sign-in, figures and charts, exports, a corrected score, the alert board."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from queue_server.features.alerts import rules as alert_rules

from ..conftest import PASSWORD  # type: ignore[import-not-found]
from .conftest import Browsing, hall_text
from .helpers import person, signed_in


async def sign_in(page: Any, login: str) -> None:
    await page.locator("#r-user").fill(login)
    await page.locator("#r-pass").fill(PASSWORD)
    await page.locator("#r-login-form button[type=submit]").click()


async def serve_some(server: Any, clock: Any) -> str:
    """Three pension citizens served at window 15, one of them unhappy; returns that ticket's id."""
    kiosk = server.client(await server.token("kiosk"))
    pad = server.client(await server.token("pad", windows=(15,)))
    for _ in range(3):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clerk = await server.clerk_at(15)
    unhappy = ""
    for level in (5, 2, 4):
        clock.advance(120)
        _, t = await clerk.post("/api/v1/windows/15/call-next")
        clock.advance(300)
        await clerk.post("/api/v1/windows/15/finish")
        clock.advance(6)  # the citizen reads the pad and presses
        await pad.post("/api/v1/evaluations", {"ticket": t["id"], "level": level,
                                               **({"reasons": ["attitude"]} if level < 3 else {})})
        unhappy = unhappy or (t["id"] if level == 2 else "")
    return unhappy


async def reports_page(server: Any, clock: Any, pages: Browsing) -> Any:
    """The reports page, signed in as a manager, after three pension citizens were served at window 15."""
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    await serve_some(server, clock)
    page = await pages.open("/admin/reports", width=1600, height=1000)
    await sign_in(page, "boss")
    return page


async def test_reports_page(server: Any, clock: Any, pages: Browsing) -> None:
    page = await reports_page(server, clock, pages)
    await expect(page.locator("#r-heading")).to_have_text("综合指标 · 2026-12 · 服务事项", timeout=5000)
    pension = page.locator("#r-table tbody tr[data-key=pension]")
    await expect(pension.locator("td").nth(1)).to_have_text("3")  # issued
    await expect(page.locator("#r-table tfoot td").first).to_have_text("合计")
    for chart in ("#r-chart-waits", "#r-chart-satisfaction", "#r-chart-windows"):
        await expect(page.locator(chart)).to_have_js_property("complete", True, timeout=5000)
        assert await page.locator(chart).evaluate("img => img.naturalWidth") > 0
    href = await page.locator("#r-xlsx").get_attribute("href")
    assert href == "/api/v1/reports/figures?period=2026-12&by=service&format=xlsx"

    # By 窗口单位: the visits of 人社局's windows, counted per visit.
    await page.locator("#r-by").select_option("department")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_have_text("综合指标 · 2026-12 · 窗口单位", timeout=5000)
    hrss = page.locator("#r-table tbody tr[data-key=hrss]")
    await expect(hrss.locator("td").first).to_have_text("人社局")
    await expect(hrss.locator("td").nth(3)).to_have_text("3")  # served
    await expect(page.locator("#r-legend")).to_contain_text("按人次计")

    # The month's assessment: a corrected score is saved beside the computed one.
    await page.locator("#r-report").select_option("assessment")
    await page.locator("#r-by").select_option("clerk")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_have_text("月度考核 · 2026-12", timeout=5000)
    row = page.locator("#r-table tbody tr").first
    await expect(row.locator("td").nth(3)).to_have_text("人社局")  # the 窗口单位 of window 15
    computed = await row.locator("td").nth(11).text_content()
    await row.locator(".r-corrected").fill("88.5")
    await row.locator(".r-note").fill("支援邻窗")
    await row.locator("button").click()
    await expect(page.locator("#hc-toast")).to_have_text("已保存", timeout=3000)
    await expect(page.locator("#r-table tbody tr").first.locator("td").nth(12)).to_have_text("88.5", timeout=3000)
    assert await page.locator("#r-table tbody tr").first.locator("td").nth(11).text_content() == computed

    # The same month by 窗口单位: each department's mean score.
    await page.locator("#r-by").select_option("department")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_have_text("月度考核 · 2026-12 · 窗口单位", timeout=5000)
    await expect(page.locator("#r-table tbody tr").first.locator("td")).to_have_text(["1", "人社局", "1", "3", "88.5"])

    # English on the switch, the rows' names included (a person's name stays as it is).
    await page.locator("[data-lang-toggle]").first.click()
    await expect(page.locator("#r-heading")).to_have_text("Assessment · 2026-12 · Department")
    await expect(page.locator("#r-table tbody tr").first.locator("td").nth(1)).to_have_text(
        "Human Resources and Social Security Bureau")
    await page.locator("#r-by").select_option("clerk")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-table tbody tr").first.locator("td").nth(3)).to_have_text(
        "Human Resources and Social Security Bureau", timeout=5000)
    await page.locator("#r-report").select_option("figures")
    await page.locator("#r-by").select_option("window")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-table tbody tr[data-key='15'] td").first).to_have_text("Window 15 Pension insurance",
                                                                                        timeout=5000)
    await page.locator("#r-by").select_option("service")
    await page.locator("#r-form button[type=submit]").click()
    await expect(pension.locator("td").first).to_have_text("Pension insurance", timeout=5000)
    # The English headers make the table wider than the page: it scrolls in its card, the page does not.
    assert await page.evaluate("document.querySelector('#r-table').scrollWidth > document.querySelector('.r-table-wrap').clientWidth")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_the_on_time_rate_by_department(make_server: Any, clock: Any, pages: Browsing) -> None:
    """养老保险 promised within 10 business minutes: of the three served, the first is on time."""
    server = await make_server(hall_text=hall_text({'id = "pension"\n': 'id = "pension"\ntime_limit = "10m"\n'}))
    page = await reports_page(server, clock, pages)
    await expect(page.locator("#r-heading")).to_contain_text("综合指标", timeout=5000)
    await page.locator("#r-report").select_option("time-limits")
    assert await page.locator("#r-by option[value=zone]").is_hidden()  # not a grouping of this report
    await page.locator("#r-by").select_option("department")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_have_text("按时办结率 · 2026-12 · 窗口单位", timeout=5000)
    cells = page.locator("#r-table tbody tr[data-key=hrss] td")
    await expect(cells).to_have_text(["人社局", "3", "1", "2", "33.3%", re.compile(r"\d+\.\d"), re.compile(r"\d+\.\d")])
    await expect(page.locator("#r-legend")).to_contain_text("养老保险 10分钟")
    assert await page.locator("#r-xlsx").get_attribute("href") == "/api/v1/reports/time-limits?period=2026-12&by=department&format=xlsx"
    await page.locator("[data-lang-toggle]").first.click()
    await expect(page.locator("#r-legend")).to_contain_text("Pension insurance 10 business minute(s)")


async def test_alert_board(server: Any, clock: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    unhappy = await serve_some(server, clock)
    page = await pages.open("/admin/alerts", width=1600, height=1000)
    await sign_in(page, "boss")
    row = page.locator(f"#al-live tr[data-alert^='bad_review.{unhappy}.']")
    await expect(row).to_contain_text("差评", timeout=5000)
    await expect(page.locator("#al-n-orange")).to_have_text("1")

    # A new alert arrives live: a citizen waits past pension's standard.
    kiosk = server.client(await server.token("kiosk"))
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clock.advance(16 * 60)
    await server.hall.check("alerts")
    await expect(page.locator("#al-live tr[data-alert^='wait.pension.']")).to_contain_text("等候超时", timeout=5000)
    await expect(page.locator("#al-n-yellow")).to_have_text("1")

    await row.locator(".al-ack").click()
    await expect(row.locator(".al-status")).to_contain_text("马主任 已确认", timeout=3000)
    await expect(row.locator(".al-ack")).to_be_disabled()
    await row.locator(".al-close").click()  # no note: refused
    await expect(page.locator("#hc-toast")).to_be_visible()
    await row.locator(".al-note").fill("已回访，群众表示理解")
    # A live update while the note is being typed (another manager acknowledges the wait alert) keeps it.
    wait_row = page.locator("#al-live tr[data-alert^='wait.pension.']")
    wait_id = await wait_row.get_attribute("data-alert")
    await server.hall.run(lambda tx: alert_rules.acknowledge(tx, wait_id, "副主任"))
    await expect(wait_row.locator(".al-status")).to_contain_text("副主任 已确认", timeout=3000)
    await expect(row.locator(".al-note")).to_have_value("已回访，群众表示理解")
    await row.locator(".al-close").click()
    await expect(row).to_have_count(0, timeout=3000)  # a closed bad review leaves the board…
    closed = page.locator(f"#al-history tr[data-alert^='bad_review.{unhappy}.']")
    await expect(closed).to_contain_text("已回访，群众表示理解")  # …and stays in today's record


async def test_the_alert_board_groups_by_department(server: Any, clock: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    kiosk = server.client(await server.token("kiosk"))
    for service in ("pension", "free-seals", "tax-invoice"):  # 人社局's, 公安局's, and one served by two 单位
        await kiosk.post("/api/v1/tickets", {"service": service})
    clock.advance(25 * 60)  # past each one's standard
    await server.hall.check("alerts")
    page = await pages.open("/admin/alerts", width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("#al-live tbody tr")).to_have_count(3, timeout=5000)
    await expect(page.locator("#al-live tr[data-alert^='wait.free-seals.'] .al-dept")).to_have_text("公安局")
    options = page.locator("#al-dept option")
    await expect(options).to_have_text(["全部单位", "公安局（1）", "人社局（1）", "跨单位（1）"])
    await page.locator("#al-dept").select_option(label="人社局（1）")
    await expect(page.locator("#al-live tbody tr")).to_have_count(1)
    await expect(page.locator("#al-live tbody tr .al-dept")).to_have_text("人社局")
    await expect(page.locator("#al-n-orange")).to_have_text("1")  # 养老保险 at 25 of its 15 minutes
    await expect(page.locator("#al-n-yellow")).to_have_text("0")  # 免费刻制印章's yellow is 公安局's
    await page.locator("#al-dept").select_option(value="")
    await expect(page.locator("#al-live tr[data-alert^='wait.tax-invoice.']")).to_have_count(1)
    await expect(page.locator("#al-live tbody tr")).to_have_count(1)
    # A new alert arrives live and the chosen 单位 stays chosen.
    await kiosk.post("/api/v1/tickets", {"service": "referral"})
    clock.advance(20 * 60)
    await server.hall.check("alerts")
    await expect(options).to_have_count(5, timeout=5000)
    await expect(page.locator("#al-dept")).to_have_value("")


async def test_the_alert_board_lists_cases_past_their_deadline(server: Any, clock: Any, pages: Browsing) -> None:

    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    unhappy = await serve_some(server, clock)  # the bad review opens a follow-up case, due in working days
    case_id = f"CP{unhappy}"
    due = server.hall.state.docs["case"][case_id].data["due"]
    clock.advance(30 * 86400)  # a month on, nobody has rectified it; the director signs in
    page = await pages.open("/admin/alerts", width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("#al-deadlines-none")).to_be_visible(timeout=5000)

    assert [d.id for d in await server.hall.check("followup")] == [case_id]
    row = page.locator(f"#al-deadlines tr[data-item='case:{case_id}']")  # pushed by case.overdue, not polled
    await expect(row).to_contain_text("已逾期", timeout=3000)
    await expect(row).to_contain_text("差评整改")
    await expect(row).to_contain_text(due)
    await expect(page.locator("#al-deadlines-none")).to_be_hidden()


# Words a Chinese page may show in Latin letters: names of file formats and of a percentile.
LATIN_NAMES = {"CSV", "Excel", "XLSX", "P90"}


def english_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", text) if w not in LATIN_NAMES}


async def chart_texts(page: Any) -> dict[str, str]:
    """The words of each chart the page shows, fetched as the page asked for it."""
    return await page.evaluate("""() => Promise.all([...document.querySelectorAll('.r-charts img')].map(
        (img) => fetch(img.src).then((r) => r.text()).then((svg) => [img.src, svg.replace(/<[^>]*>/g, ' ')])))
        .then(Object.fromEntries)""")  # type: ignore[no-any-return]


async def test_the_chinese_pages_speak_chinese(server: Any, clock: Any, pages: Browsing) -> None:
    """Chart titles and legends, 红旗窗口 reasons and case timelines in Chinese; in English on the switch."""
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    await serve_some(server, clock)
    _, ticket = await server.client(await server.token("kiosk")).post("/api/v1/tickets", {"service": "pension"})
    clerk = await signed_in(server, "clerk15")
    clock.advance(60)
    await clerk.post("/api/v1/windows/15/call-next")
    await clerk.post("/api/v1/windows/15/finish")
    status, _ = await server.client().post("/api/v1/evaluations", {"ticket": ticket["token"], "level": 1, "reasons": ["attitude"]})
    assert status == 201  # the citizen rates from the phone: the case's first step is the citizen's

    page = await pages.open("/admin/reports", width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("#r-heading")).to_contain_text("综合指标", timeout=5000)
    await page.locator("#r-report").select_option("red-flags")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_contain_text("红旗窗口", timeout=5000)
    await expect(page.locator("#r-table tbody tr").first).to_contain_text("差评", timeout=5000)
    assert english_words(await page.locator("#r-main").inner_text()) == set()
    charts = await chart_texts(page)
    assert len(charts) == 3 and all("lang=zh" in src for src in charts)
    for src, words in charts.items():
        assert english_words(words) == set(), src

    await page.locator("[data-lang-toggle]").first.click()
    await expect(page.locator("#r-table tbody tr").first).to_contain_text("bad reviews")
    await expect(page.locator("#r-chart-waits")).to_have_attribute("src", re.compile("lang=en"))
    charts = await chart_texts(page)
    assert any("Waits by hour of issue" in words for words in charts.values())
    await page.locator("[data-lang-toggle]").first.click()

    page = await pages.open("/admin/cases", width=1600, height=1000)  # signed in already, as the same browser
    case = page.locator(f"#cs-table-case tr[data-id='CP{ticket['id']}']")
    await case.click()
    await expect(page.locator("#cs-steps li").first).to_contain_text("群众", timeout=5000)
    assert english_words(await page.locator("#cs-steps").inner_text()) == set()
