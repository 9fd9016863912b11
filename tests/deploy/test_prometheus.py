"""Prometheus' config and alert rules pass promtool; the dashboards are what their generator
writes and each panel query is valid PromQL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
REQUIRED_ALERTS = {
    "GatewayDisconnected", "GatewayHeartbeatStale", "ReconciliationBlocked",
    "DeadLetteredMessages", "PlanFailed", "ConsumerGroupLagGrowing", "OrderRejectedRate",
    "ServiceDown",
}  # fmt: skip


def test_promtool_accepts_the_scrape_config(tool: Callable[[str], str], tmp_path: Path) -> None:
    # The config names its rules by their path in the container; point it at the repo's copy.
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_accepts_the_alert_rules(tool: Callable[[str], str]) -> None:
    rules = sorted((PROMETHEUS / "rules").glob("*.yml"))
    done = subprocess.run(
        [tool("promtool"), "check", "rules", *map(str, rules)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_scrape_config_covers_every_service_and_redis() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets["gateway-bridge"] == ["gateway-bridge:9101"]
    assert targets["planner"] == ["planner:9102"]
    assert targets["executor"] == ["executor:9103"]
    assert targets["notifier"] == ["notifier:9104"]
    assert targets["ledger"] == ["ledger:9105"]
    assert targets["redis"] == ["redis-exporter:9121"]


def test_day_one_alerts_exist_with_a_severity_and_a_runbook_section() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text().lower()
    seen = set()
    for path in (PROMETHEUS / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                seen.add(rule["alert"])
                assert rule["labels"]["severity"] in {"warning", "critical"}
                anchor = rule["annotations"]["runbook"].split("#", 1)[1]
                assert f"### {rule['alert'].lower()}" in operations, f"document {rule['alert']}"
                assert anchor == rule["alert"].lower()
    assert seen >= REQUIRED_ALERTS


def test_dashboards_are_what_the_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "grafana" / "dashboards.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_dashboards_use_the_provisioned_data_source_and_unique_uids() -> None:
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    uids = set()
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        for panel in dashboard["panels"]:
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == datasource["uid"]
    assert len(uids) == 4
