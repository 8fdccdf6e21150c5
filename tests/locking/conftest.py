"""Real sanlock daemons, one per simulated host, each host's calls in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hosted_engine.lab import sanlock_daemons

ROOT = Path(__file__).resolve().parents[2]


def _skip_reason() -> str | None:
    reason = sanlock_daemons.available()
    if reason is None:
        try:
            import sanlock  # noqa: F401
        except ModuleNotFoundError:
            reason = "python3-sanlock is not importable (run `make`)"
    return reason


@dataclass
class SanlockHosts:
    root: Path
    count: int
    holders: list[subprocess.Popen[str]] = field(default_factory=list)
    started: set[int] = field(default_factory=set)

    @property
    def lockspace(self) -> Path:
        return self.root / "ha" / "hosted-engine.lockspace"

    def run_dir(self, host: int) -> Path:
        return self.root / f"host{host}" / "sanlock"

    def start_daemon(self, host: int) -> None:
        name = sanlock_daemons.host_name(self.root, host)
        log = self.root / f"host{host}.log"
        sanlock_daemons.start(self.run_dir(host), name, log)
        self.started.add(host)

    def kill_daemon(self, host: int) -> None:
        sanlock_daemons.stop(self.run_dir(host))

    def _command(self, host: int, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.locking.sanlock_host",
            str(self.run_dir(host)),
            str(self.lockspace),
            *args,
        ]

    def run(self, host: int, *args: str, timeout: float = 120.0) -> tuple[int, dict[str, object]]:
        done = subprocess.run(
            self._command(host, *args), capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
        lines = done.stdout.strip().splitlines()
        assert lines, f"no answer from host {host}: {done.stderr}"
        return done.returncode, json.loads(lines[-1])

    def hold(
        self, host: int, vm_id: str, *extra: str
    ) -> tuple[subprocess.Popen[str], dict[str, object]]:
        proc = subprocess.Popen(
            self._command(host, "hold", vm_id, str(host), *extra),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.holders.append(proc)
        assert proc.stdout is not None
        return proc, json.loads(proc.stdout.readline())

    def join_all(self) -> None:
        procs = [
            subprocess.Popen(self._command(h, "join", str(h)), stdout=subprocess.PIPE, cwd=ROOT)
            for h in range(1, self.count + 1)
        ]
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out

    def close(self) -> None:
        for proc in self.holders:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdin:
                proc.stdin.close()
            if proc.stdout:
                proc.stdout.close()
        for host in self.started:
            self.kill_daemon(host)


@pytest.fixture
def sanlock_hosts(tmp_path: Path) -> Iterator[SanlockHosts]:
    """Two hosts whose daemons have joined the lockspace as host ids 1 and 2."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    hosts = SanlockHosts(tmp_path, 2)
    try:
        for host in (1, 2):
            hosts.start_daemon(host)
        hosts.join_all()
        yield hosts
    finally:
        hosts.close()
