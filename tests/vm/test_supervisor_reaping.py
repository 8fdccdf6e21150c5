"""A killed payload's leftovers are reaped by the supervisor, not left to init.

The supervisor disarms the watchdog only once nothing of the payload's process group is
left. A process the payload started and orphaned is, once dead, a zombie that counts as
the group until its parent reaps it; left to init, that takes as long as init takes
(1.7 s on the machine this was written on), and a group not gone within its 2 s leaves
the watchdog armed: the host would be reset for a VM that is down. The scenario runs in
its own Python, as the supervisor does, because becoming a subreaper changes who reaps
every orphan of that process's descendants.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCENARIO = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    import psutil
    from hosted_engine.vm import supervisor

    supervisor._become_subreaper()
    # the payload leads its group; its child dies at once and stays a zombie of the
    # payload's until the payload is killed and the child is orphaned
    payload = subprocess.Popen(
        ["sh", "-c", "sleep 0.01 & echo ready; exec sleep 1000"],
        process_group=0, stdout=subprocess.PIPE, text=True,
    )
    assert payload.stdout.readline() == "ready\\n"
    [child] = psutil.Process(payload.pid).children()
    deadline = time.monotonic() + 10
    while child.status() != psutil.STATUS_ZOMBIE:  # nothing signals its exit to us
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.01)
    os.killpg(payload.pid, signal.SIGKILL)
    payload.wait()
    started = time.monotonic()
    gone = supervisor._group_gone(payload.pid, timeout=1.0)
    print(f"gone={gone} after {time.monotonic() - started:.3f} s")
    sys.exit(0 if gone else 1)
    """
)


def test_an_orphaned_zombie_of_the_payload_is_reaped_at_once() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("gone=True")
