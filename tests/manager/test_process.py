"""The real ``hosted-engine-manager`` process: health, login, the admin password file,
and a committed event surviving SIGKILL (the engine VM killed mid-flight)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(data_dir: Path, port: int, hosts_file: Path | None = None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "hosted_engine.manager.main", "--listen", f"127.0.0.1:{port}"]
    if hosts_file is not None:
        args += ["--hosts-file", str(hosts_file)]
    env = {**os.environ, "HOSTED_ENGINE_DATA_DIR": str(data_dir)}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"manager exited: {proc.stdout.read() if proc.stdout else b''!r}")
        try:
            if httpx.get(url + "/ovirt-engine/services/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a port that is not open yet: nothing to await
    raise AssertionError("manager did not become healthy")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        if p.stdout:
            p.stdout.close()


def test_process_health_login_password_file_and_sigkill(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    data = tmp_path / "vmdisk"
    hosts = tmp_path / "hosts.json"
    hosts.write_text(
        f'[{{"name": "h1", "address": "127.0.0.1", "port": {_free_port()}, "host_id": 1}}]'
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    procs.append(_start(data, port, hosts))
    _wait_healthy(procs[0], url)
    r = httpx.get(url + "/ovirt-engine/services/health")
    assert r.text == "DB Up!Welcome to Health Status!"
    pw_file = data / "admin-password"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    password = pw_file.read_text().strip()
    r = httpx.post(url + "/login", data={"username": "admin", "password": password})
    assert r.status_code == 303
    cookie = r.cookies
    hosts_seen = httpx.get(url + "/api/hosts", auth=("admin", password)).json()
    assert hosts_seen[0]["name"] == "h1" and hosts_seen[0]["status"] == "non_responsive"
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)
    assert procs[0].stdout is not None
    log = procs[0].stdout.read().decode()
    assert password not in log
    # the next engine VM: same disk, same data, the same session still good
    port2 = _free_port()
    url2 = f"http://127.0.0.1:{port2}"
    procs.append(_start(data, port2))
    _wait_healthy(procs[1], url2)
    events = httpx.get(url2 + "/api/events", cookies=cookie).json()
    assert any(e["text"] == "logged in to the web UI" for e in events)
    assert pw_file.read_text().strip() == password  # not regenerated


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HOSTED_ENGINE_DATA_DIR"}
    run = [sys.executable, "-m", "hosted_engine.manager.main"]
    r = subprocess.run(run, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    bad = tmp_path / "h.json"
    bad.write_text("{")
    r = subprocess.run(
        [*run, "--data-dir", str(tmp_path / "d"), "--hosts-file", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "hosts file" in r.stderr
