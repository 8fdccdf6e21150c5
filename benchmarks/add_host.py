"""Wall time of a remote "Add host" driven through the manager's API: from the first
``POST /api/hosts`` (answered 409 with the host's SSH key fingerprint), through the
confirmed one (the host-deploy bundle sent over a real sshd on 127.0.0.1, the machine
dialog driven, the host's CSR signed by the cluster CA), to the run Complete and the host
listed by ``GET /api/hosts`` with its HA status.

Median of 3 rounds (a fresh manager and host root each, one sshd for all), printed
against the target (<= 20 s on the lab). The manager serves HTTP on 127.0.0.1 (uvicorn)
and is driven with httpx and HTTP Basic, as an API client would, polling the run's
events every 0.2 s (the UI polls every second). The set-up is the tests' own
(tests/manager/add_host_rig.py): the host is a root directory with stub services, the
host's API the manager tests' fake.

    .venv/bin/python benchmarks/add_host.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
from cryptography.utils import CryptographyDeprecationWarning

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' rig
with warnings.catch_warnings():  # asyncssh's DSA support warns on import
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from tests.installer.sshd import SshServer
    from tests.manager.add_host_rig import make_rig, manager_sshd, serving

TARGET = 20.0
POLL = 0.2


def one_round(tmp: Path, server: SshServer, key: Path) -> float:
    rig = make_rig(tmp, server, key)
    try:
        with (
            serving(rig.app) as url,
            httpx.Client(base_url=url, auth=("admin", rig.password), timeout=60) as client,
        ):
            started = time.monotonic()
            first = client.post("/api/hosts", json=rig.body())
            if first.status_code != 409:
                raise SystemExit(f"expected the fingerprint (409), got {first.status_code}")
            fingerprint = first.json()["host_key_fingerprint"]
            answer = client.post("/api/hosts", json=rig.body(host_key_fingerprint=fingerprint))
            if answer.status_code != 202:
                raise SystemExit(f"add host refused: {answer.text}")
            events, after = answer.json()["events"], 0
            while True:
                view = client.get(events, params={"after": after}).json()
                after = view["next"]
                if view["status"] != "running":
                    break
                time.sleep(POLL)
            if view["status"] != "complete":
                raise SystemExit(f"add host failed: {view['error']}")
            hosts = client.get("/api/hosts").json()
            elapsed = time.monotonic() - started
    finally:
        rig.close()
    if [h["name"] for h in hosts] != ["host1.lab"] or not hosts[0]["hosted_engine"]:
        raise SystemExit(f"the host is not listed with its HA status: {hosts}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="he-addhost-bench-") as name:
        tmp = Path(name)
        (tmp / "sshd").mkdir()
        with manager_sshd(tmp / "sshd") as (server, key):
            rounds = []
            for n in range(args.rounds):
                (tmp / f"round{n}").mkdir()
                rounds.append(one_round(tmp / f"round{n}", server, key))
                print(f"round {n + 1}: {rounds[-1]:.2f} s", file=sys.stderr)
    median = statistics.median(rounds)
    verdict = "ok" if median <= TARGET else "OVER TARGET"
    print(f"{'add host':16} median {median:6.2f} s  (target <= {TARGET:.0f} s)  {verdict}")
    return 0 if median <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
