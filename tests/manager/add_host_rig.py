"""The Add host rig: a real sshd on 127.0.0.1 that lets the manager's SSH key in, and a
manager app whose Add host deploys the real host-deploy bundle over it into a root
directory (stub services, a real cluster CA signing the host's CSR).

One module for the three that need it, so they deploy the same way:
``tests/manager/test_add_host.py`` (through ASGI), ``tests/browser/test_add_host_ui.py``
and ``benchmarks/add_host.py`` (through a real HTTP server, ``serving``). The host's own
API is the manager tests' fake (``tests/manager/fakes.py``): a deployed root runs no
daemons, and what is measured here is the manager's side.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import uvicorn
from fastapi import FastAPI

from hosted_engine.manager.add_host import AddHost, AddHostSettings, ensure_ssh_key
from hosted_engine.manager.app import create_app
from hosted_engine.manager.db import Database, HostRow, open_database
from hosted_engine.pki import CertificateAuthority
from tests.deploy.host.helpers import Host, free_port
from tests.installer.sshd import SshServer, running_sshd
from tests.manager.fakes import Cluster, FakeHostApi

SD_UUID = "0b6e1f3c-8a42-4c43-9a39-1d1b3b4c5d6e"

# Holds the run at its first service call until the gate file exists: a test sees the
# run under way (its progress so far shown, no outcome yet) for as long as it needs.
GATED_SERVICES = """\
#!/bin/sh
while [ ! -e {gate} ]; do sleep 0.02; done
exec {services} "$@"
"""


@contextmanager
def manager_sshd(directory: Path) -> Iterator[tuple[SshServer, Path]]:
    """The sshd, and the manager's SSH key (made here) among its authorized keys."""
    key_path = directory / "manager_key"
    key = ensure_ssh_key(key_path)
    with running_sshd(directory) as server:
        with (directory / "authorized_keys").open("a") as f:
            f.write(key.export_public_key().decode())
        yield server, key_path


@dataclass
class Rig:
    app: FastAPI
    db: Database
    add_host: AddHost
    host: Host
    server: SshServer
    ca: CertificateAuthority
    cluster: Cluster
    fingerprint: str  # the sshd's host key, as the manager shows it
    hostd_port: int
    password: str  # the manager's admin password
    gate: Path | None

    def body(self, **extra: Any) -> dict[str, Any]:
        """A POST /api/hosts body for this host; ``config=`` entries override the
        defaults, other keywords are top-level fields."""
        config = {
            "host_id": "1",
            "sdUUID": SD_UUID,
            "storage": self.host.storage,
            "hostname": "localhost",
        }
        config.update(extra.pop("config", {}))
        return {
            "name": "host1.lab",
            "address": "127.0.0.1",
            "ssh_port": self.server.port,
            "deploy_hosted_engine": True,
            "hostd_port": self.hostd_port,
            "hosted_engine_config": config,
            **extra,
        }

    def open_gate(self) -> None:
        assert self.gate is not None, "the rig was made without a gate"
        self.gate.touch()

    def close_gate(self) -> None:
        assert self.gate is not None, "the rig was made without a gate"
        self.gate.unlink(missing_ok=True)

    def close(self) -> None:
        self.db.close()


def make_rig(tmp: Path, server: SshServer, key_path: Path, *, gated: bool = False) -> Rig:
    """A fresh manager (database, admin, CA) and a fresh host root under ``tmp``."""
    data = tmp / "data"
    db = open_database(data)
    cluster = Cluster()

    def factory(row: HostRow) -> FakeHostApi:
        return FakeHostApi(cluster, row)

    ca = CertificateAuthority.create(tmp / "ca")
    host = Host(tmp / "host")
    services = host.bin / "svc"
    gate = tmp / "gate" if gated else None
    if gate is not None:
        gated_path = host.bin / "svc-gated"
        gated_path.write_text(GATED_SERVICES.format(gate=gate, services=services))
        gated_path.chmod(0o755)
        services = gated_path
    extra = (
        f"SYSTEM/root=str:{host.root}",
        "SYSTEM/commandPath=str:/usr/bin",
        f"CORE/logDir=str:{host.logdir}",
        "PACKAGER/provider=str:offline",
        "SYSTEM/servicesProvider=str:command",
        f"SYSTEM/servicesCommand=str:{services}",
    )
    settings = AddHostSettings(key_path, tmp / "ca", sys.executable, extra)
    app = create_app(db, data, factory, timeout=0.5, poll_interval=None, add_host=settings)
    add_host = app.state.add_host
    assert isinstance(add_host, AddHost)
    password = (data / "admin-password").read_text().strip()
    public = server.known_hosts.split(" ", 1)[1]
    fingerprint = str(asyncssh.import_public_key(public).get_fingerprint("sha256"))
    return Rig(
        app, db, add_host, host, server, ca, cluster, fingerprint, free_port(), password, gate
    )


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on a real HTTP port of 127.0.0.1 (uvicorn in a thread), its base URL.

    The socket listens before the thread starts, so a first request waits in the
    backlog instead of racing the server's start; on the way out the server stops
    (its lifespan ends every run still going) and the thread is joined."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "the manager's server did not stop"
