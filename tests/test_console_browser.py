"""The web console in a real browser over the real stack (issue 17's "done when").

Debian's headless Chromium (``/usr/bin/chromium``, installed by .ci/run; Playwright never
downloads a browser here) drives the console as a person would: a wrong token is refused,
the right one logs in, a dry run is started and reviewed, a manual-approval plan is executed
by pressing Approve and followed live (Server-Sent Events) until it completed with fills, the
trades are found, filtered and exported, and trading is halted. A form posted from another
origin (the session cookie goes with it: same site, other port) and a post without the
form's token are refused and publish nothing. The lost connection is shown and recovered
when the console restarts. Each page's screenshot goes to docs/console/ for docs/console.md.

Every service is its own process: Redis, the IB emulator, bridge, planner, executor,
notifier, ledger and console (``E2EStack(..., console=True)``).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from shared.contracts import catalogue
from shared.contracts.plan_commands import HaltTrading

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"
MANUAL = "DU1000002"
TARGETS = "symbol,allocation\nQQQ,0.5\nTLT,50%\n"
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    accounts = accounts_file(
        DU1000002={
            "approval": "manual",
            "planning": {"drift_band_abs_pct": "0.5", "min_order_value": "50"},
        }
    )
    s = E2EStack(tmp_path, accounts, console=True)
    try:
        await s.start(healthy_within_s=90)  # eight processes on a busy 2-core machine
        yield s
    finally:
        await s.stop()


async def halts(stack: E2EStack) -> list[HaltTrading]:
    return [m for m in await stack.messages(catalogue.PLAN_COMMANDS) if isinstance(m, HaltTrading)]


async def test_a_person_logs_in_reviews_a_dry_run_approves_a_plan_sees_its_fills_and_trades_and_halts(
    stack: E2EStack,
) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{stack.console_port}"
    csp_violations: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        context = await browser.new_context(viewport={"width": 1100, "height": 800})
        page = await context.new_page()
        page.on(
            "console",
            lambda m: (
                csp_violations.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        expect.set_options(timeout=WAIT_MS)

        # A wrong token is refused (401, the form again); the right one logs in.
        response = await page.goto(base + "/")
        assert response is not None
        assert page.url == base + "/login"
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        await page.fill("#token", "not-the-token")
        async with page.expect_response(base + "/login") as refused:
            await page.click("button[type=submit]")
        assert (await refused.value).status == 401
        await expect(page.locator("#login-error")).to_contain_text("not the API token")
        await page.screenshot(path=SHOTS / "login.png")
        await page.fill("#token", stack.api_token)
        await page.click("button[type=submit]")
        await expect(page.locator("#gateway-status")).to_contain_text("connected")
        cookie = next(c for c in await context.cookies() if c["name"] == "console_session")
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"
        assert await page.evaluate("document.cookie") == ""  # not readable by any script
        await expect(page.locator("#live-status")).to_have_text("live")

        # A dry run of pasted targets, reviewed on the review page and on the plan's page.
        await page.goto(base + "/rebalance")
        await page.check(f"input[name=account][value={MANUAL}]")
        await page.check("#source-csv")
        await page.fill("#csv", TARGETS)
        await page.screenshot(path=SHOTS / "rebalance.png", full_page=True)
        await page.click("#dry-run")
        await expect(page.locator("h1")).to_have_text("Review the dry run")
        await expect(page.locator("#review a.plan-link")).to_have_count(1)
        await page.screenshot(path=SHOTS / "review.png", full_page=True)
        href = await page.locator("#review a.plan-link").get_attribute("href")
        reviewed = await context.new_page()  # the review page stays open to execute from
        await reviewed.goto(base + str(href))
        await expect(reviewed.locator("#plan-status")).to_have_attribute("data-status", "dry_run")
        await expect(reviewed.locator("#drift")).to_contain_text("QQQ")
        await expect(reviewed.locator("#drift")).to_contain_text("TLT")
        await expect(reviewed.locator("#legs")).to_contain_text("BUY")
        await reviewed.screenshot(path=SHOTS / "plan-dry-run.png", full_page=True)
        await reviewed.close()

        # Execute: a manual account's plan waits; Approve places it; fills arrive live.
        await page.check("#confirm-execute")
        await page.click("#execute")
        await expect(page.locator("h1")).to_have_text("Sent for execution")
        await page.click("#review a.plan-link")
        plan_id = page.url.rsplit("/", 1)[1]
        await expect(page.locator("#approve")).to_be_visible()
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        await phone.add_cookies([cookie])  # type: ignore[list-item]
        small = await phone.new_page()
        await small.goto(page.url)
        await expect(small.locator("#approve")).to_be_visible()
        await small.screenshot(path=SHOTS / "plan-phone.png", full_page=True)
        await page.screenshot(path=SHOTS / "plan-awaiting-approval.png", full_page=True)
        await page.click("#approve")
        await expect(page.locator("#notice")).to_contain_text("Approval sent")
        # No reload from here on: the page follows the plan through /events.
        await expect(page.locator("#plan-status")).to_have_attribute("data-status", "completed")
        await expect(page.locator("#orders tr.state-filled")).to_have_count(
            await page.locator("#legs tbody tr").count()
        )
        await page.screenshot(path=SHOTS / "plan-completed.png", full_page=True)
        # The phone's page, opened before the approval, followed it too.
        await expect(small.locator("#plan-status")).to_have_attribute("data-status", "completed")
        await phone.close()

        # The trades are in the ledger: listed, filtered by symbol, exported as CSV.
        await page.goto(base + f"/trades?account={MANUAL}")
        rows = page.locator("#trades tr.trade")
        await expect(rows.first).to_contain_text(plan_id[:12])
        await page.fill("input[name=symbol]", "QQQ")
        await page.click("#filter-trades")
        await page.wait_for_url("**symbol=QQQ**")
        await expect(rows.first).to_contain_text("QQQ")
        assert all("QQQ" in text for text in await rows.all_inner_texts())
        await page.screenshot(path=SHOTS / "trades.png", full_page=True)
        exported = await context.request.get(base + f"/trades.csv?account={MANUAL}")
        lines = (await exported.text()).splitlines()
        assert lines[0].startswith("executed_at,account_id,symbol,side")
        assert {"QQQ", "TLT"} <= {line.split(",")[2] for line in lines[1:]}
        assert all(plan_id in line for line in lines[1:])

        await page.goto(base + f"/positions?account={MANUAL}")
        await expect(page.locator(f"#book-{MANUAL} table.positions")).to_contain_text("QQQ")
        await page.screenshot(path=SHOTS / "positions.png", full_page=True)
        await page.goto(base + "/alerts")
        await expect(page.locator("#alerts")).to_contain_text("Plan completed")
        await page.screenshot(path=SHOTS / "alerts.png", full_page=True)
        await page.goto(base + "/plans")
        await expect(page.locator("#plans")).to_contain_text("completed")
        await page.screenshot(path=SHOTS / "plans.png", full_page=True)

        # A forged form post: a page on another origin of the same site (so the browser does
        # send the SameSite=Strict cookie) posts to /halt. Refused, nothing published.
        evil = "http://127.0.0.1:9/prize"
        await page.route(
            evil,
            lambda route: route.fulfill(
                content_type="text/html",
                body=f'<form method="post" action="{base}/halt"><input name="confirm" '
                'value="HALT"><input name="csrf" value="guessed"><button id="win">Win'
                "</button></form>",
            ),
        )
        await page.goto(evil)
        async with page.expect_response(base + "/halt") as forged:
            await page.click("#win")
        assert (await forged.value).status == 403
        await expect(page.locator("#error-title")).to_contain_text("not sent from the console")
        # Same origin but without the form's token (what a script could not read): refused.
        tokenless = await context.request.post(
            base + "/halt", form={"confirm": "HALT"}, headers={"Origin": base}
        )
        assert tokenless.status == 403
        assert await halts(stack) == []

        # The kill switch, with its confirmation; the page shows the halt once it is in force.
        await page.goto(base + "/kill-switch")
        await page.fill("#reason", "browser test")
        await page.fill("#confirm-halt", "HALT")
        await page.click("#halt")
        await expect(page.locator("#halt-state")).to_contain_text("Trading is halted: browser test")
        await page.screenshot(path=SHOTS / "kill-switch.png", full_page=True)
        assert [h.reason for h in await halts(stack)] == ["browser test"]
        await page.goto(base + "/")
        await expect(page.locator("#trading-status")).to_contain_text("Trading halted")
        await page.screenshot(path=SHOTS / "overview.png", full_page=True)

        # The console goes away: the page says so; it comes back: the page is live again.
        stack.kill("console")
        await expect(page.locator("#live-status")).to_contain_text("connection lost")
        stack.spawn("console")
        await stack.wait_healthy("console", 60)
        await expect(page.locator("#live-status")).to_have_text("live")
        await browser.close()
    assert csp_violations == []
