"""The console's web server on a real socket and a real Redis: login, its limits, headers.

The whole flow through the stack (approve, fills, forged posts) is the browser test,
tests/test_console_browser.py; these are the login rules it does not exercise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.main import ConsoleService, create_app
from console.settings import ConsoleSettings
from rebalancer_cli.embedded_redis import RedisServer, free_port

TOKEN = "console-test-token"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis").start()
    yield server.url
    server.stop()


async def started(redis_url: str, **settings: object) -> tuple[ConsoleService, str]:
    values: dict[str, object] = {
        "redis_url": redis_url, "ops_port": 0, "http_port": 0, "api_token": TOKEN,
        "api_url": f"http://127.0.0.1:{free_port()}",  # no notifier: login needs none
    }  # fmt: skip
    app = create_app(ConsoleSettings(**(values | settings)))  # type: ignore[arg-type]
    await app.service.start()
    return app, f"http://127.0.0.1:{app.web.port}"


async def test_failed_logins_are_limited_per_minute_even_for_the_right_token_then(
    redis_url: str,
) -> None:
    app, base = await started(redis_url, login_failures_per_minute=3)
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as http:
            for _ in range(3):
                wrong = await http.post("/login", data={"token": "guess"})
                assert wrong.status_code == 401
                assert "not the API token" in wrong.text
            limited = await http.post("/login", data={"token": TOKEN})
            assert limited.status_code == 429
            assert "console_session" not in limited.headers.get("set-cookie", "")
    finally:
        await app.service.stop()


async def test_a_good_login_sets_a_strict_httponly_cookie_and_every_answer_carries_the_csp(
    redis_url: str,
) -> None:
    app, base = await started(redis_url)
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as http:
            page = await http.get("/login")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["x-frame-options"] == "DENY"
            ok = await http.post("/login", data={"token": TOKEN})
            assert ok.status_code == 303
            cookie = ok.headers["set-cookie"].lower()
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
            assert TOKEN not in ok.text + ok.headers.get("location", "")
            assert (await http.get("/alerts")).status_code == 200
    finally:
        await app.service.stop()


async def test_without_a_session_pages_go_to_the_login_and_the_rest_answer_401(
    redis_url: str,
) -> None:
    app, base = await started(redis_url)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            page = await http.get("/plans")
            assert (page.status_code, page.headers["location"]) == (303, "/login")
            assert (await http.get("/events")).status_code == 401
            assert (await http.get("/trades.csv")).status_code == 401
            post = await http.post("/halt", data={"confirm": "HALT"}, headers={"Origin": base})
            assert post.status_code == 401
    finally:
        await app.service.stop()


async def test_with_no_token_configured_no_login_is_possible_and_the_page_says_why(
    redis_url: str,
) -> None:
    app, base = await started(redis_url, api_token=None)
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as http:
            refused = await http.post("/login", data={"token": ""})
            assert refused.status_code == 401
            assert "CONSOLE_API_TOKEN" in refused.text
    finally:
        await app.service.stop()


async def test_a_login_posted_from_another_origin_is_refused(redis_url: str) -> None:
    app, base = await started(redis_url)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            forged = await http.post(
                "/login", data={"token": TOKEN}, headers={"Origin": "http://127.0.0.1:9"}
            )
            assert forged.status_code == 403
            assert "set-cookie" not in forged.headers
    finally:
        await app.service.stop()
