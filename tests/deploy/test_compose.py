"""docker-compose.yml validates and keeps the deployment's rules: nothing but the API, the web
console and Grafana published, secrets only as files, real health checks, safe defaults, restart on any exit."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = (
    "gateway-bridge",
    "gateway-bridge-sim",
    "gateway-bridge-host",
    "planner",
    "executor",
    "notifier",
    "ledger",
    "console",
)
PUBLISHED = {"notifier": "8000", "grafana": "3000", "console": "8080"}
SECRET_WORDS = re.compile(r"PASSWORD|TOKEN|SECRET(?!S_DIR)|API_KEY|PASSPHRASE|WEBHOOK_URL$", re.I)
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?:[:?-][^}]*)?\}")


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _default(value: str) -> str:
    """The value a ``${VAR:-default}`` expression takes when VAR is unset."""
    match = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]*)\}", value)
    return match.group(1) if match else value


@pytest.mark.parametrize("profile", ["sim", "ibkr", "host"])
def test_compose_file_validates_with_docker_compose_in_each_profile(
    tool: Callable[[str], str], profile: str, tmp_path: Path
) -> None:
    compose = tool("docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))} | {
        "COMPOSE_PROFILES": profile
    }
    done = subprocess.run(
        [compose, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
         "--profile", profile, "config", "--services"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    services = set(done.stdout.split())
    gateway = {"sim": "ib-emulator", "ibkr": "ib-gateway", "host": "gateway-bridge-host"}[profile]
    assert gateway in services
    assert {
        "redis",
        "planner",
        "executor",
        "notifier",
        "ledger",
        "prometheus",
        "grafana",
    } <= services


def test_only_the_http_api_the_console_and_grafana_publish_ports_and_only_on_loopback_by_default(
    compose: dict[str, Any],
) -> None:
    published = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            published[name] = str(port)
    assert set(published) == set(PUBLISHED), published
    for name, spec in published.items():
        parts = re.fullmatch(r"(\$\{[^}]*\}|[^:]*):(\$\{[^}]*\}|\d+):(\d+)", spec)
        assert parts, f"{name}: publish as bind:host_port:container_port, not {spec}"
        bind, _host_port, container_port = parts.groups()
        assert container_port == PUBLISHED[name]
        assert _default(bind) == "127.0.0.1", f"{name} must default to loopback: {spec}"
    private = {"redis", "ib-gateway", "ib-emulator", "prometheus", "redis-exporter", *SERVICES}
    for name in private - set(PUBLISHED):
        assert "ports" not in compose["services"][name], name


def test_the_backend_network_has_no_route_out_and_private_services_stay_on_it(
    compose: dict[str, Any],
) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("redis", "redis-exporter", "prometheus", "planner", "executor", "ib-emulator"):
        networks = compose["services"][name]["networks"]
        assert list(networks) == ["backend"], f"{name} should only be on the internal network"


def test_no_secret_is_an_environment_value_and_every_secret_is_a_file(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        for key, value in _env(service).items():
            if SECRET_WORDS.search(key) and not key.endswith("_FILE"):
                pytest.fail(f"{name}: {key} carries a secret in the environment; use {key}_FILE")
            if key.endswith("_FILE") and SECRET_WORDS.search(key[:-5]):
                assert value.startswith("/run/secrets/"), f"{name}: {key}={value}"
                secret = value.removeprefix("/run/secrets/")
                assert secret in service.get("secrets", []), f"{name} does not mount {secret}"
        command = " ".join(map(str, service.get("command") or []))
        assert "requirepass " not in command or "/run/secrets/" in command
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"}
        assert secret["file"].startswith("${SECRETS_DIR:-./secrets}/")
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "secrets/" in ignored
    assert ".env" in ignored


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test[0] in {"CMD", "CMD-SHELL"}


def test_services_restart_on_any_exit_and_wait_for_a_healthy_redis(
    compose: dict[str, Any],
) -> None:
    for name in (*SERVICES, "redis", "ib-gateway", "ib-emulator", "prometheus", "grafana"):
        assert compose["services"][name]["restart"] == "unless-stopped", name
    for name in SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy", name


def test_the_bridge_waits_for_a_healthy_gateway_in_both_profiles(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["gateway-bridge"]["profiles"] == ["ibkr"]
    assert services["gateway-bridge"]["depends_on"]["ib-gateway"]["condition"] == "service_healthy"
    assert services["gateway-bridge-sim"]["profiles"] == ["sim"]
    assert services["gateway-bridge-sim"]["depends_on"]["ib-emulator"]["condition"] == (
        "service_healthy"
    )
    assert "gateway-bridge" in services["gateway-bridge-sim"]["networks"]["backend"]["aliases"]
    assert "ib-gateway" in services["ib-emulator"]["networks"]["backend"]["aliases"]
    # A service in no profile must not depend on a profiled one: it would break the other profile.
    for name, service in services.items():
        if "profiles" in service:
            continue
        for dependency in service.get("depends_on", {}):
            assert "profiles" not in services[dependency], f"{name} -> {dependency}"


def test_ib_gateway_is_pinned_paper_read_only_with_2fa_and_restart_handling(
    compose: dict[str, Any],
) -> None:
    gateway = compose["services"]["ib-gateway"]
    assert re.fullmatch(r"ghcr\.io/gnzsnz/ib-gateway:\d+\.\d+\.\w+", gateway["image"])
    env = _env(gateway)
    assert _default(env["TRADING_MODE"]) == "paper"
    assert _default(env["READ_ONLY_API"]) == "yes"
    assert _default(env["TWOFA_TIMEOUT_ACTION"]) == "restart"
    assert re.fullmatch(r"\d{1,2}:\d\d [AP]M", _default(env["AUTO_RESTART_TIME"]))
    assert env["TWS_PASSWORD_FILE"] == "/run/secrets/tws_password"
    assert "TWS_PASSWORD" not in env
    check = " ".join(gateway["healthcheck"]["test"])
    assert "API" in check
    assert "/dev/tcp/" in check


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
            continue
        tag = image.rsplit(":", 1)[-1]
        assert re.match(r"v?\d+\.\d+", tag), f"{name}: {image} is not pinned"


def test_safe_defaults_for_the_bridge(compose: dict[str, Any]) -> None:
    for name in ("gateway-bridge", "gateway-bridge-sim"):
        env = _env(compose["services"][name])
        assert _default(env["BRIDGE_READ_ONLY"]) == "true"
        assert env["BRIDGE_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"


def test_order_journal_and_reports_live_on_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "bridge-data:/data" in services["gateway-bridge"]["volumes"]
    assert _env(services["gateway-bridge"])["BRIDGE_DATA_DIR"].startswith("/data/")
    assert "executor-data:/data" in services["executor"]["volumes"]
    assert "reports:/reports" in services["executor"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert "ledger-data:/data" in services["ledger"]["volumes"]
    assert _env(services["ledger"])["LEDGER_DATA_DIR"].startswith("/data/")


def test_every_variable_the_compose_file_reads_is_documented_in_env_example() -> None:
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert used - documented == set(), "add these to .env.example with a comment"
    for line in example.splitlines():
        key, _, value = line.partition("=")
        if SECRET_WORDS.search(key) and not line.startswith("#"):
            assert value == "", f".env.example must not carry a secret value: {line}"
    # Each variable has its own comment right above it.
    lines = example.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z0-9_]+=", line):
            assert index > 0
            assert lines[index - 1].startswith("# "), f"document {line} in .env.example"


def test_redis_persists_with_aof_and_takes_its_password_from_the_secret(
    compose: dict[str, Any],
) -> None:
    conf = (ROOT / "deploy" / "redis" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^include /tmp/auth\.conf$", conf, re.M)
    command = compose["services"]["redis"]["command"][-1]
    assert "/run/secrets/redis_password" in command
    assert "/tmp/auth.conf" in command


def test_the_host_profile_runs_the_bridge_against_a_gateway_outside_compose(
    compose: dict[str, Any],
) -> None:
    bridge = compose["services"]["gateway-bridge-host"]
    env = _env(bridge)
    assert bridge["profiles"] == ["host"]
    assert _default(env["BRIDGE_IB_HOST"]) == "host.docker.internal"
    assert _default(env["BRIDGE_IB_PORT"]) == "4002"  # IB Gateway paper
    assert _default(env["BRIDGE_READ_ONLY"]) == "true"
    assert _default(env["BRIDGE_ALLOW_LIVE"]) == "false"
    assert "host.docker.internal:host-gateway" in bridge["extra_hosts"]
    assert "edge" in bridge["networks"]  # the internal network has no route to the host
    assert bridge["networks"]["backend"]["aliases"] == ["gateway-bridge"]  # Prometheus' target
    assert "ports" not in bridge


def test_the_weekly_window_and_2fa_need_no_docker_socket(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["ib-gateway"]
    assert gateway["entrypoint"] == ["/bin/bash", "/rebalancer/window.sh"]
    assert gateway["command"] == ["/home/ibgateway/scripts/run.sh"]  # the image's own CMD
    assert "./deploy/ib-gateway/window.sh:/rebalancer/window.sh:ro" in gateway["volumes"]
    assert "gateway-status:/gateway-status" in gateway["volumes"]
    window = "${GATEWAY_WINDOW-Sun 12:00-Fri 18:00}"
    assert _env(gateway)["REBALANCER_GATEWAY_WINDOW"] == window
    for name in ("gateway-bridge", "gateway-bridge-sim", "notifier"):
        assert _env(compose["services"][name])["REBALANCER_GATEWAY_WINDOW"] == window, name
    bridge = compose["services"]["gateway-bridge"]
    assert "gateway-status:/gateway-status:ro" in bridge["volumes"]
    assert _env(bridge)["BRIDGE_GATEWAY_STATUS_FILE"] == "/gateway-status/gateway.json"
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            assert "docker.sock" not in str(volume), f"{name} mounts the Docker socket"
    status = compose["volumes"]["gateway-status"]["driver_opts"]
    assert status["type"] == "tmpfs"
    assert "uid=1000" in status["o"]  # the image's user writes it
