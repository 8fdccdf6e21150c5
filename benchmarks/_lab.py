"""Shared plumbing of the lab benchmarks: a throw-away lab, settling, sampling, reporting.

Not a benchmark itself. The scripts next to it import it as ``_lab`` (a script's own
directory is first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from hosted_engine.config.timing import PROFILES, Timing
from hosted_engine.lab import processes
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.lab.observe import (  # noqa: F401 (the scripts use them as _lab.X)
    TRANSIENT_STATES,
    EngineSampler,
    Sample,
    unsettled_reason,
    wait_settled,
)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def temp_lab(
    hosts: int,
    profile: str,
    keep_dir: bool = False,
    up_timeout: float | None = None,
    engine: str = "stand-in",
    leases: str = "fcntl",
) -> Iterator[Lab]:
    """A fresh lab in a temporary directory, torn down on the way out whatever happens.

    The engine VM runs the stand-in by default: it tells which host and pid answer (see
    :func:`engine_identity`), which the HA benchmarks time; ``engine="manager"`` runs the
    real manager.

    SIGTERM is turned into KeyboardInterrupt for the duration so a killed benchmark still
    reaches the teardown. The directory is removed unless ``keep_dir`` (the logs are in
    ``hosts/hostN/var/log/hosted-engine/``).
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    lab_dir = Path(tempfile.mkdtemp(prefix=f"he-bench-{profile}-"))
    lab = Lab(lab_dir.resolve())
    print(f"lab: {hosts} hosts, profile {profile}, {leases} leases, in {lab.dir}", flush=True)
    try:
        started = time.monotonic()
        lab = Lab.up(lab_dir, hosts, profile, timeout=up_timeout, engine=engine, leases=leases)
        print(f"lab: engine healthy {time.monotonic() - started:.1f} s after `up`", flush=True)
        yield lab
    finally:
        teardown(lab)
        if keep_dir:
            print(
                f"lab: kept {lab.dir} (logs under hosts/hostN/var/log/hosted-engine/)", flush=True
            )
        else:
            shutil.rmtree(lab.dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def teardown(lab: Lab) -> None:
    """``down``, then make sure nothing of the lab is left running (VM payloads included)."""
    with contextlib.suppress(Exception):
        lab.down()
    left: list[Any] = []
    with contextlib.suppress(Exception):
        left = lab.running_processes() + lab.engine_vms()
    if left:
        print(f"lab: {len(left)} processes survived `down`; killing them", flush=True)
        processes.kill_now(left)
    print("lab: torn down", flush=True)


def timing_of(lab: Lab) -> Timing:
    """The lab's timing profile (the lab writes no overrides)."""
    return PROFILES[lab.manifest.profile]


def engine_identity(url: str, timeout: float = 0.5) -> tuple[int, int] | None:
    """``(host id, pid)`` of the engine VM answering at ``url``'s server, None if none.

    The lab's engine service prints both on its ``/`` page.
    """
    root = url.split("/ovirt-engine/", 1)[0] + "/"
    try:
        reply = httpx.get(root, timeout=timeout)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    host = re.search(r"^host id: (\d+)$", reply.text, re.MULTILINE)
    pid = re.search(r"^pid: (\d+)$", reply.text, re.MULTILINE)
    if host is None or pid is None:
        return None
    return int(host.group(1)), int(pid.group(1))


def healthy_identity(url: str, timeout: float = 0.5) -> tuple[int, int] | None:
    """The engine's identity, but only when its health URL answers 200."""
    if not engine_healthy(url, timeout):
        return None
    return engine_identity(url, timeout)


# --- reporting ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out.extend("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(out)


def wait_for(predicate: Callable[[], Any], timeout: float, poll: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def log(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
