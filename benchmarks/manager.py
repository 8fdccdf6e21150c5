"""The manager's figures (issue 8): API latency, edit persistence, first paint, failover, RSS.

* ``GET /api/hosts`` on a real 3-host lab (fast profile), p50 / p99 over keep-alive;
* the same with 64 hosts registered, each a simulated host API (one mTLS server in this
  process answering the contract's ``/v1/status``) and the real manager process;
* engine VM edit: ``PUT /api/vms/engine`` until the new OVF is on storage (the PUT is
  synchronous, so the OVF is read back right after the answer to prove it);
* the hosts page's first contentful paint in headless chromium (Debian's, via Playwright);
* kill the engine's host -> the manager answers ``GET /api/hosts`` again (fast profile);
* the manager's RSS after a minute idle.

    python benchmarks/manager.py [--requests N] [--rounds N] [--skip-64]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _lab
import httpx
import psutil
from _lab import log, table, verdict

from hosted_engine.hostd.contract import HaStatus, HostStatus
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.pki import CertificateAuthority, write_key_pair
from hosted_engine.storage import domain
from hosted_engine.storage.ovf_store import OvfStore

CHROMIUM = "/usr/bin/chromium"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def api_latency(url: str, auth: tuple[str, str], requests: int) -> tuple[float, float]:
    with httpx.Client(base_url=url, auth=auth, timeout=10.0, trust_env=False) as client:
        client.get("/api/hosts").raise_for_status()  # warm: the Basic login is cached
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get("/api/hosts").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), percentile(times, 0.99)


def login_of(lab: Lab) -> tuple[str, tuple[str, str]]:
    status = lab.status()
    return status["manager_url"], (status["admin_user"], status["admin_password"])


def edit_persist(lab: Lab, url: str, auth: tuple[str, str], rounds: int) -> list[float]:
    m = lab.manifest
    store = OvfStore(domain.ha_dir(lab.dir / "storage", m.sd_uuid))
    times = []
    with httpx.Client(base_url=url, auth=auth, timeout=10.0, trust_env=False) as client:
        for _ in range(rounds):
            got = client.get("/api/vms/engine")
            memory = int(got.json()["memSize"]) + 16
            started = time.perf_counter()
            put = client.put(
                "/api/vms/engine",
                json={"memSize": memory},
                headers={"If-Match": got.headers["etag"]},
            )
            put.raise_for_status()
            found = store.read().vm_ovf(m.vm_id)
            elapsed = time.perf_counter() - started
            assert found is not None and found.definition().mem_size_mib == memory, "not on storage"
            times.append(elapsed * 1000)
    return times


def first_paint(url: str, auth: tuple[str, str], rounds: int) -> list[float] | str:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright not installed"
    if not Path(CHROMIUM).exists():
        return f"no {CHROMIUM}"
    paints = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "login")
        page.get_by_label("User name").fill(auth[0])
        page.get_by_label("Password").fill(auth[1])
        page.get_by_role("button", name="Log In").click()
        page.wait_for_url("**/hosts")
        for _ in range(rounds):
            fresh = context.new_page()
            fresh.goto(url + "hosts")
            fresh.locator("#hosts tbody tr").first.wait_for()
            fcp = fresh.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
            )
            if fcp is not None:
                paints.append(float(fcp))
            fresh.close()
        browser.close()
    return paints


def manager_process(lab: Lab) -> psutil.Process | None:
    for proc in lab.engine_vms():
        try:
            if "hosted_engine.manager.main" in proc.cmdline():
                return proc
        except psutil.Error:
            continue
    return None


def failover(lab: Lab, url: str, auth: tuple[str, str], rounds: int) -> list[float]:
    times = []
    for n in range(rounds):
        _lab.wait_settled(lab, 120, 1.0, 0.2)
        runner = lab.engine_host()
        assert runner is not None
        started = time.monotonic()
        lab.kill_host(runner)
        with httpx.Client(base_url=url, auth=auth, timeout=1.0, trust_env=False) as client:
            while True:
                try:
                    if client.get("/api/hosts").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > 120:
                    raise SystemExit("the manager did not come back within 120 s")
                time.sleep(0.05)
        times.append(time.monotonic() - started)
        log(f"failover {n + 1}: manager answers {times[-1]:.2f} s after host {runner} died")
        lab.start_host(runner)
    return times


# --- 64 simulated host APIs ---------------------------------------------------------------
def _status_app(host_ids: range) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def status(request: Request) -> JSONResponse:
        host_id = int(request.headers.get("x-host", "1"))
        ha = HaStatus(True, True, 3400, False, False)
        body = HostStatus(host_id, f"sim{host_id}", ha, "EngineDown", False, None, 1.0, False)
        return JSONResponse(body.to_json())

    return Starlette(routes=[Route("/v1/status", status)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sixty_four(requests: int) -> tuple[float, float]:
    import ssl

    import uvicorn

    work = Path(tempfile.mkdtemp(prefix="he-bench-manager64-"))
    ca = CertificateAuthority.create(work / "ca")
    write_key_pair(ca.issue_host("127.0.0.1"), work / "host.pem", work / "host.key")
    write_key_pair(ca.issue_client("manager"), work / "manager.pem", work / "manager.key")
    port = _free_port()
    config = uvicorn.Config(
        _status_app(range(1, 65)),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(work / "host.pem"),
        ssl_keyfile=str(work / "host.key"),
        ssl_ca_certs=str(ca.cert_path),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    hosts = [
        {"host_id": i, "name": f"sim{i}.lab", "address": "127.0.0.1", "port": port}
        for i in range(1, 65)
    ]
    (work / "hosts.json").write_text(json.dumps(hosts))
    manager_port = _free_port()
    data = work / "data"
    data.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hosted_engine.manager.main",
            "--listen",
            f"127.0.0.1:{manager_port}",
            "--data-dir",
            str(data),
            "--hosts-file",
            str(work / "hosts.json"),
            "--ca",
            str(ca.cert_path),
            "--cert",
            str(work / "manager.pem"),
            "--key",
            str(work / "manager.key"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{manager_port}/"
        deadline = time.monotonic() + 30
        while not engine_healthy(url + "ovirt-engine/services/health", 0.5):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the 64-host manager did not start")
            time.sleep(0.1)
        auth = ("admin", (data / "admin-password").read_text().strip())
        with httpx.Client(base_url=url, auth=auth, timeout=10.0, trust_env=False) as client:
            answer = client.get("/api/hosts").json()
            up = sum(1 for h in answer if h["status"] == "up")
            log(f"64 hosts: {len(answer)} registered, {up} up")
        return api_latency(url, auth, requests)
    finally:
        proc.terminate()
        proc.wait(10)
        server.should_exit = True
        thread.join(10)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-64", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with _lab.temp_lab(3, "fast", engine="manager") as lab:
        _lab.wait_settled(lab, 120, 1.0, 0.2)
        url, auth = login_of(lab)
        p50, p99 = api_latency(url, auth, args.requests)
        rows.append(
            (
                "GET /api/hosts, 3-host lab",
                f"p50 {p50:.1f} / p99 {p99:.1f} ms",
                "<= 20 / <= 100 ms",
                verdict(p50 <= 20 and p99 <= 100),
            )
        )
        edits = edit_persist(lab, url, auth, 10)
        worst = max(edits)
        rows.append(
            (
                "edit: PUT -> OVF on storage",
                f"median {statistics.median(edits):.0f} / max {worst:.0f} ms",
                "<= 1 s",
                verdict(worst <= 1000),
            )
        )
        paints = first_paint(url, auth, 10)
        if isinstance(paints, str) or not paints:
            rows.append(("hosts page first paint", f"not measured: {paints}", "<= 500 ms", "-"))
        else:
            fcp = statistics.median(paints)
            rows.append(
                (
                    "hosts page first paint",
                    f"median {fcp:.0f} / max {max(paints):.0f} ms",
                    "<= 500 ms",
                    verdict(fcp <= 500),
                )
            )
        time.sleep(60)  # idle
        proc = manager_process(lab)
        rss = proc.memory_info().rss / 2**20 if proc else float("nan")
        rows.append(("manager RSS idle", f"{rss:.0f} MB", "<= 120 MB", verdict(rss <= 120)))
        times = failover(lab, url, auth, args.rounds)
        rows.append(
            (
                "kill engine host -> manager answers",
                f"median {statistics.median(times):.1f} / max {max(times):.1f} s",
                "<= 10 s",
                verdict(max(times) <= 10),
            )
        )
    if not args.skip_64:
        p50, p99 = sixty_four(args.requests)
        rows.append(
            (
                "GET /api/hosts, 64 simulated hosts",
                f"p50 {p50:.1f} / p99 {p99:.1f} ms",
                "<= 50 / <= 200 ms",
                verdict(p50 <= 50 and p99 <= 200),
            )
        )
    log("\n" + table(rows, ("figure", "measured", "target", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
