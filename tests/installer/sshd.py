"""A real OpenSSH server on 127.0.0.1 for one test module, configured entirely in a temp dir."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
"""


@dataclass
class SshServer:
    port: int
    client_key: Path
    known_hosts: str
    log: list[str] = field(default_factory=list)

    def connect(self) -> Any:  # asyncssh ships no type information
        """``asyncssh.connect(...)`` for root on this server: ``async with server.connect()``."""
        return asyncssh.connect(
            "127.0.0.1",
            self.port,
            username="root",
            client_keys=[str(self.client_key)],
            known_hosts=asyncssh.import_known_hosts(self.known_hosts),
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key


@contextmanager
def running_sshd(directory: Path) -> Iterator[SshServer]:
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    host = _write_key(directory / "host_ed25519")
    client = _write_key(directory / "client_ed25519")
    (directory / "authorized_keys").write_text(client.export_public_key().decode())
    (directory / "authorized_keys").chmod(0o600)
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = _free_port()
        config = directory / "sshd_config"
        config.write_text(CONFIG.format(port=port, dir=directory))
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        log: list[str] = []
        for line in process.stderr:  # sshd says when it listens, or dies saying why
            log.append(line.rstrip())
            if re.search(rf"Server listening on 127\.0\.0\.1 port {port}\b", line):
                break
        else:
            process.wait()
            continue
        drain = threading.Thread(target=log.extend, args=(process.stderr,), daemon=True)
        drain.start()
        public = host.export_public_key().decode().strip()
        try:
            yield SshServer(port, directory / "client_ed25519", f"[127.0.0.1]:{port} {public}", log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            drain.join(timeout=10)
        return
    raise RuntimeError(f"sshd did not start: {log[-3:]}")
