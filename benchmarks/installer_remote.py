"""Benchmark: the 50-plugin run on a host reached over SSH on 127.0.0.1 (target <= 3 s).

Starts a private sshd (config and keys in a temp dir, stopped afterwards), bundles the
framework and the benchmark plugins, and times: building the bundle, connecting, and the
remote run itself (upload, unpack, all stages driven by MachineDialogClient, clean-up).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from installer_local import PLUGINS, write_plugins

from hosted_engine.installer.bundle import Bundle, build_bundle
from hosted_engine.installer.remote import run_remote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "installer"))
from sshd import SshServer, running_sshd  # the same loopback sshd the tests use

TARGET_SECONDS = 3.0
ROUNDS = 3


async def remote_round(server: SshServer, bundle: Bundle, work: Path) -> tuple[float, float]:
    started = time.perf_counter()
    async with server.connect() as connection:
        connected = time.perf_counter()
        run = await run_remote(
            connection,
            bundle,
            [
                f"SYSTEM/root=str:{work / 'root'}",
                f"CORE/logDir=str:{work / 'log'}",
                "PACKAGER/provider=str:offline",
                "SYSTEM/servicesProvider=str:recording",
            ],
            accept_defaults=True,
        )
        finished = time.perf_counter()
    if run.exit_status != 0:
        raise SystemExit(f"remote run failed: {run.stderr} {run.client.logs('ERROR')}")
    return connected - started, finished - connected


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="installer-remote-bench-") as tmp:
        base = Path(tmp)
        plugins = write_plugins(base / "plugins")
        started = time.perf_counter()
        bundle = build_bundle(["bench"], [str(plugins)])
        bundled = time.perf_counter() - started
        (base / "sshd").mkdir()
        with running_sshd(base / "sshd") as server:
            rounds = [
                asyncio.run(remote_round(server, bundle, base / f"run{i}")) for i in range(ROUNDS)
            ]
    connect = statistics.median(r[0] for r in rounds)
    run = statistics.median(r[1] for r in rounds)
    total = statistics.median(r[0] + r[1] for r in rounds)
    verdict = "OK" if total <= TARGET_SECONDS else "OVER TARGET"
    size = len(bundle.payload) // 1024
    print(f"installer_remote: {PLUGINS} plugins over SSH to 127.0.0.1, bundle {size} KiB")
    print(f"  bundle build:                              {bundled:6.3f} s")
    print(f"  connect (median of {ROUNDS}):                    {connect:6.3f} s")
    print(f"  remote run, upload to exit (median):       {run:6.3f} s")
    print(
        f"  connect + run (median):                    {total:6.3f} s   "
        f"target <= {TARGET_SECONDS:.2f} s   {verdict}"
    )


if __name__ == "__main__":
    main()
