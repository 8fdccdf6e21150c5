"""Builders and fixtures of the CLI and client tests: domains, confs, servers, runners.

Everything is laid out under pytest's tmp dirs and nothing runs after a test: the broker
and the HTTP server are served by threads that each fixture shuts down.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.rpc_server import RpcServer
from hosted_engine.broker.service import BrokerService
from hosted_engine.cli.main import main
from hosted_engine.clock import SystemClock
from hosted_engine.config.host import CONFIG_ENV, load_host_config
from hosted_engine.locking import FcntlLeaseManager
from hosted_engine.storage.domain import create_domain
from hosted_engine.storage.metadata import SLOT_BYTES, HostRecord, encode_slot
from hosted_engine.storage.whiteboard import Scan, Whiteboard

# The two hosts of the reference's examples (ha-anchor 7.1 / 7.2), with their CRCs.
ENGINE_UP = '{"vm": "up", "health": "good", "detail": "Up"}'
ENGINE_DOWN = (
    '{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}'
)
EPOCH_OFFSET = 1_770_000_000.0  # epoch minus the writers' monotonic clock
SD_UUID = "4c8a5b1e-0000-4000-8000-000000000001"
VM_ID = "9f1c7d3a-0000-4000-8000-0000000000aa"


def hostname(host_id: int) -> str:
    return f"host{host_id}.example.com"


@dataclass(frozen=True)
class Domain:
    """A storage domain laid out on disk, written to directly (no daemon)."""

    storage: Path
    sd_uuid: str
    ha_dir: Path

    @property
    def metadata(self) -> Path:
        return self.ha_dir / "hosted-engine.metadata"

    @property
    def lockspace(self) -> Path:
        return self.ha_dir / "hosted-engine.lockspace"

    @property
    def board(self) -> Whiteboard:
        return Whiteboard(self.metadata)

    def leases(self) -> FcntlLeaseManager:
        return FcntlLeaseManager(self.lockspace)

    def write_host(
        self,
        host_id: int,
        *,
        host_ts: int = 1000,
        score: int = 3400,
        engine: str = ENGINE_UP,
        maintenance: bool = False,
        stopped: bool = False,
        state: str = "EngineUp",
        conf_ts: int | None = None,
        name: str | None = None,
    ) -> HostRecord:
        record = HostRecord(
            host_id=host_id,
            host_ts=host_ts,
            score=score,
            engine_status=engine,
            hostname=name or hostname(host_id),
            maintenance=maintenance,
            stopped=stopped,
            conf_on_shared_storage=True,
            local_conf_timestamp=host_ts - 6 if conf_ts is None else conf_ts,
        )
        state_md = {"maintenance": str(maintenance), "state": state, "stopped": str(stopped)}
        self.board.write_slot(host_id, encode_slot(record, state_md, EPOCH_OFFSET))
        return record

    def write_reference_hosts(self, state: str = "EngineUp") -> None:
        """host1 and host2 exactly as in the reference's examples."""
        self.write_host(1, host_ts=2964731, conf_ts=2964725, state=state)
        self.write_host(2, host_ts=1875020, conf_ts=1875014, engine=ENGINE_DOWN, state=state)

    def write_raw(self, host_id: int, data: bytes) -> None:
        self.board.write_slot(host_id, data)

    def slot_bytes(self, host_id: int) -> bytes:
        with self.metadata.open("rb") as f:
            f.seek(host_id * SLOT_BYTES)
            return f.read(SLOT_BYTES)

    def set_global_maintenance(self, on: bool) -> None:
        self.board.update_global(maintenance=on)

    def scan(self) -> Scan:
        return self.board.scan()


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up the caller's $HOSTED_ENGINE_CONFIG."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


@pytest.fixture
def domain(tmp_path: Path) -> Domain:
    storage = tmp_path / "storage"
    storage.mkdir()
    return Domain(storage, SD_UUID, create_domain(storage, SD_UUID))


def write_conf(path: Path, values: Mapping[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


MakeConf = Callable[..., Path]


@pytest.fixture
def make_conf(tmp_path: Path, domain: Domain) -> MakeConf:
    """``make_conf(host_id=1, **more)``: a hosted-engine.conf of a host of ``domain``.

    Its run and state dirs live in the tmp dir, so no system broker is ever consulted.
    A value of None drops the key.
    """

    def make(host_id: int = 1, **more: object) -> Path:
        host_dir = tmp_path / "hosts" / f"host{host_id}"
        values: dict[str, object] = {
            "host_id": host_id,
            "sdUUID": domain.sd_uuid,
            "storage": domain.storage,
            "hostname": hostname(host_id),
            "run_dir": host_dir / "run",
            "state_dir": host_dir / "state",
        }
        values.update(more)
        return write_conf(
            host_dir / "hosted-engine.conf", {k: v for k, v in values.items() if v is not None}
        )

    return make


@pytest.fixture
def conf(make_conf: MakeConf) -> Path:
    """Host 1, not deployed (no vmid)."""
    return make_conf()


@pytest.fixture
def deployed_conf(make_conf: MakeConf, domain: Domain) -> Path:
    """Host 1, deployed, with a vm.conf on the domain."""
    vm_conf = domain.ha_dir / "vm.conf"
    vm_conf.write_text(f"vmId={VM_ID}\nvmName=HostedEngine\nmemSize=64\n")
    return make_conf(vmid=VM_ID, conf=vm_conf)


# --- running the CLI ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("--vm-status", "--config", path)``: main() in-process."""

    def run(*args: object) -> Result:
        capsys.readouterr()  # drop anything a fixture printed
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def console_script() -> Path:
    return Path(sys.executable).parent / "hosted-engine"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    env.update(extra)
    return env


def run_console(
    *args: object, env: Mapping[str, str] | None = None, module: bool = False
) -> Result:
    """The CLI as a real process: the console script, or ``python -m`` when ``module``."""
    command = (
        [sys.executable, "-m", "hosted_engine.cli.main"] if module else [str(console_script())]
    )
    proc = subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else subprocess_env(),
        timeout=60,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: Result, message: str | None = None) -> None:
    """A misuse: non-zero, nothing on stdout, one line on stderr, never a traceback."""
    assert result.code != 0, result
    assert result.out == "", result
    assert "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    if message is not None:
        assert result.err.strip() == message


# --- a real broker serving one host ---------------------------------------------------------


@contextlib.contextmanager
def _short_run_dir(tmp_path: Path) -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes; deep tmp dirs may not fit."""
    candidate = tmp_path / "run"
    if len(str(candidate / "broker.socket")) < 100:
        yield candidate
        return
    with tempfile.TemporaryDirectory(prefix="he-cli-") as short:
        yield Path(short)


def _serve(serve_forever: Callable[..., None]) -> threading.Thread:
    """A short poll interval, so shutting the server down does not take half a second."""
    thread = threading.Thread(target=serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return thread


@dataclass
class Broker:
    conf: Path
    service: BrokerService
    server: RpcServer


@pytest.fixture
def broker(tmp_path: Path, make_conf: MakeConf) -> Iterator[Broker]:
    """Host 1's broker RPC surface on its socket (its publisher thread is not started)."""
    with _short_run_dir(tmp_path) as run_dir:
        path = make_conf(run_dir=run_dir)
        config = load_host_config(path)
        clock = SystemClock()
        board = Whiteboard(config.metadata_path)
        leases = FcntlLeaseManager(config.lockspace_path)
        publisher = StatusPublisher(config, board, leases, lambda: None, clock)
        service = BrokerService(config, publisher, board, leases, dict, lambda *a: "ok", clock)
        server = RpcServer(config.broker_socket, service.methods())
        thread = _serve(server.serve_forever)
        try:
            yield Broker(path, service, server)
        finally:
            server.close()
            thread.join(timeout=5)


# --- an engine health page ------------------------------------------------------------------


@dataclass
class HealthPage:
    url: str
    status: int = 200
    body: str = "DB Up!Welcome to Health Status!"


@pytest.fixture
def health_page() -> Iterator[HealthPage]:
    """A real HTTP server on 127.0.0.1 answering the engine's health URL."""
    page = HealthPage(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.body.encode()
            self.send_response(page.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    page.url = f"http://127.0.0.1:{server.server_address[1]}/ovirt-engine/services/health"
    thread = _serve(server.serve_forever)
    try:
        yield page
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that is bound but not listening: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
