"""Webhook URLs are secrets (they carry tokens): a canary token in every alert URL never shows
in the notifier's logs, in the alerts about a failing destination, in /health, or in a dump of
its settings. The notifier runs as a process over a real Redis; the webhooks are a local HTTP
server that refuses one of them, and a port nothing listens on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from notifier.settings import NotifierSettings
from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.http import LocalHttpServer, Route
from rebalancer_testkit.notifier import closed_port
from rebalancer_testkit.waiting import eventually
from shared.contracts.alerts import SendAlert
from shared.contracts.base import new_id, utc_now

CANARY = f"canary{new_id()[:16]}"


@pytest.fixture
def hooks() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer(
        routes={"/good": Route([(200, {})]), f"/bad/{CANARY}": Route([(500, {"error": "no"})])}
    ).start()
    yield server
    server.stop()


def urls(hooks: LocalHttpServer) -> dict[str, str]:
    dead = f"http://127.0.0.1:{closed_port()}"
    return {
        "NOTIFIER_ALERT_WEBHOOK_URLS": json.dumps(
            [f"{hooks.url}/bad/{CANARY}?token={CANARY}", f"{hooks.url}/good"]
        ),
        "NOTIFIER_ALERT_SLACK_WEBHOOK_URL": f"{dead}/services/T000/B000/{CANARY}",
        "NOTIFIER_ALERT_NTFY_URL": f"{dead}/{CANARY}",
        "NOTIFIER_ALERT_RETRIES": "1",
    }


@pytest.fixture
async def stack(tmp_path: Path, hooks: LocalHttpServer) -> AsyncIterator[E2EStack]:
    s = E2EStack(
        tmp_path,
        accounts_file(DU1000001={"approval": "auto"}),
        notifier=True,
        notifier_env=urls(hooks) | {"NOTIFIER_LOG_LEVEL": "DEBUG"},
    )
    await s.start("notifier", healthy_within_s=90)
    yield s
    await s.stop()


async def test_a_canary_token_in_the_webhook_urls_is_never_shown(
    stack: E2EStack, hooks: LocalHttpServer
) -> None:
    await stack.publish(
        SendAlert(
            source="test",
            valid_until=utc_now() + timedelta(minutes=5),
            title="Something to tell",
            text="details",
            severity="warning",
        )
    )

    async def failing_told() -> list[str]:
        told = [a["title"] for b in hooks.bodies("/good") for a in b["alerts"]]
        failing = [t for t in told if "is failing" in t]
        return failing if len(failing) >= 3 else []  # the bad webhook, slack and ntfy

    await eventually(failing_told, 60, "the failing destinations told to the good one")
    shown = {
        "log": (stack.root / "notifier.log").read_text(errors="replace"),
        "alerts": json.dumps(hooks.bodies("/good")),
    }
    async with httpx.AsyncClient(timeout=5) as http:
        shown["ops /health"] = (
            await http.get(f"http://127.0.0.1:{stack.ops['notifier']}/health")
        ).text
    shown["api /health"] = (await stack.api("GET", "/health")).text
    settings = NotifierSettings(
        **{k.removeprefix("NOTIFIER_").lower(): v for k, v in urls(hooks).items()}
    )
    shown["settings repr"] = repr(settings)
    shown["settings dump"] = settings.model_dump_json()
    assert settings.secret_values()  # the URLs are secrets the log redaction knows
    leaked = [where for where, text in shown.items() if CANARY in text]
    assert leaked == [], leaked
    # and the failing destinations are still told apart by name
    assert "webhook" in shown["alerts"]
    assert "slack" in shown["alerts"]
