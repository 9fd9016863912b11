"""Every Grafana panel shows data after a demo rebalance: the local stack runs, a real Prometheus
scrapes it (and Redis through the real redis_exporter), a rebalance flows through it, and each
panel's query is asked of Prometheus' HTTP API. A panel whose metric does not exist fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from rebalancer_cli.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo"
BIN = Path(sys.executable).parent
ACCOUNT = "DU1000001"
TOKEN = "test-token-0123456789abcdef"

# metric -> who exports it (see docs/observability.md, "Metrics the dashboards still need").
# Prometheus' own synthetic series: present only while an alert fires.
SYNTHETIC = {"ALERTS"}


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str

    @property
    def metrics(self) -> set[str]:
        names = set(
            re.findall(r"\b((?:rebalancer|redis|process|up|ALERTS)[a-zA-Z0-9_]*)\b", self.expr)
        )
        return {
            n for n in names if not n.startswith("redis_stream_group_last_delivered_id") or True
        }

    def promql(self) -> str:
        """The query as Grafana sends it, for the time just after the demo."""
        return (
            self.expr.replace("$__rate_interval", "2m")
            .replace("$__range", "15m")
            .replace('"$account"', '".*"')
        )


def _queries() -> list[Query]:
    found = []
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                found.append(Query(path.stem, panel["title"], target["expr"]))
    return found


QUERIES = _queries()
EXPECTED = [q for q in QUERIES if not q.metrics & SYNTHETIC]


def _wait(predicate: Callable[[], object], what: str, timeout_s: float = 60) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class Prom:
    """A little client of Prometheus' HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, object]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", f"{expr}: {answer}"
        return answer["data"]["result"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, tool: Callable[[str], str]) -> Iterator[Prom]:
    """The local stack after a real auto rebalance of the demo account, scraped by Prometheus."""
    prometheus_bin, exporter_bin = tool("prometheus"), tool("prometheus-redis-exporter")
    tmp = tmp_path_factory.mktemp("demo")
    ports = {
        name: free_port()
        for name in ("REDIS", "IB", "IB_ADMIN", "BRIDGE_OPS", "PLANNER_OPS", "EXECUTOR_OPS",
                     "NOTIFIER_OPS", "API", "LEDGER_OPS", "CONSOLE_OPS", "CONSOLE")
    }  # fmt: skip
    env = {
        **os.environ,
        **{f"REBALANCER_{k}_PORT": str(v) for k, v in ports.items()},
        "REBALANCER_HOME": str(tmp / "home"),
        "NOTIFIER_API_TOKEN": TOKEN,
        "BRIDGE_READ_ONLY": "false",
        # The ledger recomputes its PnL gauges every 15 s by default; the test scrapes sooner.
        "LEDGER_METRICS_INTERVAL_S": "1",
    }
    processes = []
    try:
        # The demo accounts file: auto approval, the demo model, the emulator's two accounts.
        up = _spawn(
            [str(BIN / "rebalancer"), "up", "--accounts-file", str(DEMO / "accounts.yaml")],
            tmp / "up.log",
            env,
        )
        processes.append(up)
        _wait(lambda: "stack ready" in (tmp / "up.log").read_text() or up.poll() is not None,
              "rebalancer up", 120)  # fmt: skip
        assert up.poll() is None, (tmp / "up.log").read_text()[-3000:]
        # The local stack's Redis requires the password `up` generated in its home.
        password = (tmp / "home" / "redis.password").read_text().strip()
        redis_url = f"redis://:{password}@127.0.0.1:{ports['REDIS']}/0"

        exporter_port = free_port()
        processes.append(_spawn(
            [exporter_bin, "-redis.addr", f"redis://127.0.0.1:{ports['REDIS']}",
             "-check-streams", "db0=*.v1,db0=dlq.*",
             "-web.listen-address", f"127.0.0.1:{exporter_port}"],
            tmp / "exporter.log",
            {**os.environ, "REDIS_PASSWORD": password},
        ))  # fmt: skip

        # The deployment's own scrape config and rules, pointed at the local ports, scraped often.
        config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
        local = {
            "gateway-bridge": ports["BRIDGE_OPS"], "planner": ports["PLANNER_OPS"],
            "executor": ports["EXECUTOR_OPS"], "notifier": ports["NOTIFIER_OPS"],
            "ledger": ports["LEDGER_OPS"], "redis": exporter_port,
        }  # fmt: skip
        prom_port = free_port()
        local["prometheus"] = prom_port
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        config["rule_files"] = [str(ROOT / "deploy/prometheus/rules/*.yml")]
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{local.pop(job['job_name'])}"]}]
        assert local == {}, f"jobs missing from prometheus.yml: {local}"
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        processes.append(_spawn(
            [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            tmp / "prometheus.log",
        ))  # fmt: skip
        prom = Prom(f"http://127.0.0.1:{prom_port}")
        _wait(lambda: _ready(prom.url), "prometheus ready", 60)

        # The demo: a real auto rebalance through the HTTP API. The planner plans from the
        # bridge's portfolio, the executor approves it (auto) and sends its orders, the
        # emulator fills them; the test waits for PlanCompleted.
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{ports['API']}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        answer = api.post(
            "/api/v1/rebalance",
            params={"account": ACCOUNT, "execute": "true", "wait": "true", "timeout_s": "30"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "planned", answer.text
        plan_id = answer.json()["plans"][0]["plan_id"]

        def finished() -> str | None:
            status = str(api.get(f"/api/v1/plans/{plan_id}").json().get("status"))
            return status if status in ("completed", "failed", "rejected", "expired") else None

        assert _wait(finished, f"plan {plan_id} to finish", 90) == "completed", api.get(
            f"/api/v1/plans/{plan_id}"
        ).text
        # A poison message: undecodable, so it is dead-lettered (the dead-letter panels).
        import redis as redis_sync

        redis_sync.Redis.from_url(redis_url).xadd("commands.orders.v1", {"data": "not json"})
        _wait(lambda: prom.query("sum(rebalancer_trigger_to_fill_seconds_count)"),
              "trigger to fill scraped", 60)  # fmt: skip
        _wait(lambda: prom.query("sum(rebalancer_dead_letters_total)"), "dead letter scraped", 60)
        _wait(lambda: prom.query("redis_stream_group_last_delivered_id > 0"), "redis streams", 30)
        time.sleep(3)  # a few more scrapes so rate() windows hold two samples of each series
        yield prom
    finally:
        for process in reversed(processes):
            _stop(process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_panel_query_returns_data_after_the_demo_rebalance(demo: Prom) -> None:
    # The check can fail: a metric nobody exports returns nothing.
    assert demo.query("sum by (account) (rebalancer_metric_nobody_exports_total)") == []
    empty = [f"{q.dashboard} / {q.panel}: {q.expr}" for q in EXPECTED if not demo.query(q.promql())]
    assert empty == [], "panels without data:\n" + "\n".join(empty)


def test_no_alert_fires_on_a_healthy_stack_after_the_demo(demo: Prom) -> None:
    firing = demo.query(
        'ALERTS{alertstate="firing", alertname!~"DeadLetteredMessages|MalformedMessages"}'
    )
    assert firing == []
