"""Process plumbing of the local stack: children that die with their supervisor, and a way
to find and stop the processes of a stack whose supervisor is gone."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

PR_SET_PDEATHSIG = 1
# Loaded before any fork: the child must not dlopen between fork and exec.
_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
)


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the child receive SIGTERM when ``parent_pid`` dies.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere None, and ``rebalancer down`` (or the
    next ``up``) stops the orphans from the pids the supervisor recorded. The signal follows
    the *thread* that forked the child, so children are spawned from the event loop's thread.
    """
    if _LIBC is None:
        return None
    libc = _LIBC

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
            os._exit(1)

    return preexec


def is_alive(pid: int) -> bool:
    """Return whether ``pid`` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        with contextlib.suppress(OSError):
            return "zombie" not in status.read_text()
    return True


def command_of(pid: int) -> str:
    """Return the command line of ``pid`` ('' when it cannot be read)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        with contextlib.suppress(OSError):
            return cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        return ""
    try:
        return subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def stop_processes(
    pids: Iterable[int], *, grace_s: float = 15.0, poll_s: float = 0.1
) -> tuple[list[int], list[int]]:
    """SIGTERM each process (and its group), SIGKILL what is left after ``grace_s``.

    Return (stopped gracefully, killed).
    """
    targets = [pid for pid in pids if is_alive(pid)]
    for pid in targets:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(is_alive(pid) for pid in targets):
        time.sleep(poll_s)
    killed = [pid for pid in targets if is_alive(pid)]
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    return [pid for pid in targets if pid not in killed], killed


def _signal(pid: int, sig: signal.Signals) -> None:
    # Each child of the stack leads its own session, so its group is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def orphans_of(children: dict[str, int], expect: dict[str, str] | None = None) -> dict[str, int]:
    """Return the recorded children still alive whose command still looks like theirs."""
    found = {}
    for name, pid in children.items():
        if not is_alive(pid):
            continue
        marker = (expect or {}).get(name, "")
        if marker and marker not in command_of(pid):
            continue  # the pid was reused by something else: never signal a stranger
        found[name] = pid
    return found
