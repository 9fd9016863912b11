"""Scale-out in docker compose: planner and notifier replicas in one consumer group each, and a
second IB login (profiles sim-login-b / ibkr-login-b: named instances) with its own gateway,
bridge, journal and executor shard."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _config(tool: Callable[[str], str], tmp_path: Path, profile: str, **env: str) -> dict[str, Any]:
    compose = tool("docker-compose")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    done = subprocess.run(
        [compose, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
         "config"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=clean | {"COMPOSE_PROFILES": f"{profile},{profile}-login-b"} | env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def test_planner_and_notifier_replicas_share_their_group_one_entry_at_a_time(
    compose: dict[str, Any],
) -> None:
    for name, prefix in (("planner", "PLANNER_"), ("notifier", "NOTIFIER_")):
        service = compose["services"][name]
        assert service["deploy"]["replicas"] == f"${{{name.upper()}_REPLICAS:-1}}"
        env = _env(service)
        # A fixed consumer name would make every replica the same consumer: hostname instead.
        assert f"{prefix}CONSUMER_NAME" not in env
        assert env[f"{prefix}READ_BATCH_SIZE"] == "1"


def test_the_second_login_has_its_own_gateway_bridge_journal_and_executor_shard(
    compose: dict[str, Any],
) -> None:
    second = compose["services"]
    for bridge in ("gateway-bridge-b", "gateway-bridge-sim-b"):
        env = _env(second[bridge])
        assert env["BRIDGE_LOGIN"] == "login-b"
        assert env["BRIDGE_IB_HOST"] == "ib-gateway-b"
        assert "bridge-data-b:/data" in second[bridge]["volumes"]  # never the first journal
        assert "bridge-data:/data" not in second[bridge]["volumes"]
    assert second["ib-emulator-b"]["networks"]["backend"]["aliases"] == ["ib-gateway-b"]
    assert _env(second["executor-b"])["EXECUTOR_SHARD"] == "b"
    assert "executor-data-b:/data" in second["executor-b"]["volumes"]
    assert "executor-data:/data" not in second["executor-b"]["volumes"]
    # Every second-login service runs only when its profile is asked for.
    for name in ("ib-gateway-b", "ib-emulator-b", "gateway-bridge-b", "gateway-bridge-sim-b"):
        assert second[name]["profiles"][0].endswith("-login-b"), name
    scenario = yaml.safe_load((ROOT / "deploy/demo/scenario-login-b.yaml").read_text())
    first = yaml.safe_load(
        (ROOT / "services/ib-emulator/src/ib_emulator/default_scenario.yaml").read_text()
    )
    # No account held by both logins' emulators.
    assert {a["id"] for a in scenario["accounts"]}.isdisjoint(a["id"] for a in first["accounts"])


@pytest.mark.parametrize("profile", ["sim", "ibkr"])
def test_two_logins_validate_with_docker_compose_and_keep_logins_apart(
    tool: Callable[[str], str], profile: str, tmp_path: Path
) -> None:
    config = _config(tool, tmp_path, profile, PLANNER_REPLICAS="2", NOTIFIER_REPLICAS="1")
    services = config["services"]
    suffix = "-sim" if profile == "sim" else ""
    bridges = {n: services[n] for n in (f"gateway-bridge{suffix}", f"gateway-bridge{suffix}-b")}
    logins = {n: _env(s).get("BRIDGE_LOGIN", "") for n, s in bridges.items()}
    assert sorted(logins.values()) == ["", "login-b"], logins
    hosts = {_env(s)["BRIDGE_IB_HOST"] for s in bridges.values()}
    assert hosts == {"ib-gateway", "ib-gateway-b"}
    shards = sorted(_env(services[n]).get("EXECUTOR_SHARD", "") for n in ("executor", "executor-b"))
    assert shards == ["", "b"]
    assert int(services["planner"]["deploy"]["replicas"]) == 2
