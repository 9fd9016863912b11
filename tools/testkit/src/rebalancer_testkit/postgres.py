"""A real PostgreSQL server for the tests: initdb + pg_ctl on a free port in a temp dir.

The binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``).
PostgreSQL refuses to run as root, so when the tests run as root (CI does) the cluster is
created and started as the unprivileged ``postgres`` user (or ``nobody``), in a directory
under the system temp dir that this user owns. Locally, missing binaries skip the tests with
the install line; in CI (``CI=true``) they fail, so CI can never pass without PostgreSQL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from rebalancer_cli.embedded_redis import free_port

PACKAGE = "postgresql"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL server bin directory holding initdb and pg_ctl."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if all(os.access(Path(directory) / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(directory)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    return None


def require_bin_dir() -> Path:
    """The bin directory, or skip (locally) / fail (CI) naming the Debian package."""
    found = find_bin_dir()
    if found is not None:
        return found
    message = (
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed, so the PostgreSQL "
        f"ledger tests cannot run; install the Debian package: apt-get install -y {PACKAGE}"
    )
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, unless we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(
        "running as root and there is no `postgres` or `nobody` user to run PostgreSQL as "
        "(it refuses root); create one, or run the tests as an unprivileged user"
    )


class PostgresServer:
    """One throwaway PostgreSQL cluster (trust auth on 127.0.0.1, fsync off for speed)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.user = _unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args: str) -> None:
        user = self.user
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "HOME": str(self.root)}
        result = subprocess.run(
            args,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )

    def start(self) -> PostgresServer:
        """initdb (first time) and start the server; wait until it accepts connections."""
        if not self.data.exists():
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "ledger",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: clean, data kept until ``remove``)."""
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def remove(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """Connection URL of a database of this server."""
        return f"postgresql://ledger@127.0.0.1:{self.port}/{database}"
