"""The test kit's stacks die with the test process that started them.

A test killed by its timeout (or a pytest run killed by CI) used to leave its whole stack
running: Redis, the emulator and the services, the bridge connected and acting on orders, for
the rest of the session (found by counting orphaned processes on a loaded machine).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from rebalancer_cli.processes import is_alive

SCRIPT = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    from rebalancer_testkit.e2e import E2EStack

    async def main():
        root = pathlib.Path(sys.argv[1])
        s = E2EStack(root, {"accounts": [{"id": "DU1000001", "approval": "dry_run"}]})
        await asyncio.to_thread(s.redis.start)
        s.start_emulator()
        s.spawn("planner")
        pids = [s.redis.process.pid, *[p.pid for p in s.processes.values()]]
        print(*pids, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


def test_a_killed_test_process_leaves_no_redis_emulator_or_service_behind(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 3, "the script prints the pids of Redis, the emulator and the planner"
    assert all(is_alive(pid) for pid in pids)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if is_alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"processes outlived the test process that started them: {left}"
