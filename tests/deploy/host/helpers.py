"""A host under a root directory: stub programs, a services command, runs of the group."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from hosted_engine.deploy import HOST_DEPLOY_GROUP, PLUGIN_DIR, keys
from hosted_engine.installer import cli

# The services command: state in files, every call logged; only the three units exist.
SERVICES_SCRIPT = """\
#!/bin/sh
dir=$(dirname "$0")/../../var/svc
mkdir -p "$dir"
echo "$1 $2" >> "$dir/calls"
case "$2" in hosted-engine-broker|hosted-engine-hostd|hosted-engine-agent) ;;
  *) [ "$1" = exists ] && exit 1; echo "unit $2 not found" >&2; exit 5 ;; esac
[ -e "$dir/fail-$1" ] && { echo "simulated failure of $1" >&2; exit 4; }
case "$1" in
  exists) exit 0 ;;
  status) [ -e "$dir/$2.running" ] && exit 0; exit 3 ;;
  enable) touch "$dir/$2.enabled" ;;
  disable) rm -f "$dir/$2.enabled" ;;
  start|restart) touch "$dir/$2.running" ;;
  stop) rm -f "$dir/$2.running" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
"""

# hosted-engine: logs its arguments, answers --vm-status --json from a file.
HOSTED_ENGINE_SCRIPT = """\
#!/bin/sh
dir=$(dirname "$0")/../../var/he
mkdir -p "$dir"
shift 2  # --config PATH
echo "$*" >> "$dir/calls"
case "$1" in
  --vm-status) cat "$dir/status.json" ;;
  --clean-metadata) echo "Metadata for host cleaned." ;;
esac
"""


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


class Host:
    """A root directory laid out like a host about to be deployed."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        self.storage = str(tmp_path / "storage")  # shared storage: outside the host's root
        Path(self.storage).mkdir(parents=True)
        self.bin = self.root / "usr/bin"
        self.bin.mkdir(parents=True)
        for name, where in (("openssl", "/usr/bin/openssl"), ("nft", "/usr/sbin/nft")):
            if os.path.exists(where):
                (self.bin / name).symlink_to(where)
        self._script("svc", SERVICES_SCRIPT)
        self._script("hosted-engine", HOSTED_ENGINE_SCRIPT)
        self.logdir = tmp_path / "log"

    def _script(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def path(self, target: str) -> Path:
        return self.root / target.lstrip("/")

    def args(self, *extra: str, host_id: int = 1) -> list[str]:
        return [
            f"BASE/pluginPath=str:{PLUGIN_DIR}",
            f"BASE/pluginGroups=str:{HOST_DEPLOY_GROUP}",
            f"SYSTEM/root=str:{self.root}",
            "SYSTEM/commandPath=str:/usr/bin",
            f"CORE/logDir=str:{self.logdir}",
            "PACKAGER/provider=str:offline",
            "SYSTEM/servicesProvider=str:command",
            f"SYSTEM/servicesCommand=str:{self.bin / 'svc'}",
            f"HOSTED_ENGINE_CONFIG/host_id=str:{host_id}",
            "HOSTED_ENGINE_CONFIG/sdUUID=str:0b6e1f3c-8a42-4c43-9a39-1d1b3b4c5d6e",
            f"HOSTED_ENGINE_CONFIG/storage=str:{self.storage}",
            "HOSTED_ENGINE_CONFIG/hostname=str:localhost",
            f"HOST_DEPLOY/hostdPort=int:{free_port()}",
            *extra,
        ]

    def run(self, *extra: str, capsys: pytest.CaptureFixture[str]) -> Outcome:
        """The group in this process (human dialect, nothing asked)."""
        out = io.StringIO()
        capsys.readouterr()
        code = cli.main(self.args(*extra), stdin=io.StringIO(""), stdout=out)
        return Outcome(code, out.getvalue(), capsys.readouterr().err)

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "hosted_engine.installer.cli", *self.args(*extra)]

    # --- what the stubs saw --------------------------------------------------------------

    def service_calls(self) -> list[str]:
        calls = self.path("/var/svc/calls")
        return calls.read_text().splitlines() if calls.exists() else []

    def running(self) -> set[str]:
        return {p.name.removesuffix(".running") for p in self.path("/var/svc").glob("*.running")}

    def set_running(self, *services: str) -> None:
        self.path("/var/svc").mkdir(parents=True, exist_ok=True)
        for service in services:
            self.path(f"/var/svc/{service}.running").touch()

    def he_calls(self) -> list[str]:
        calls = self.path("/var/he/calls")
        return calls.read_text().splitlines() if calls.exists() else []

    def set_status(self, *host_ids: int) -> None:
        self.path("/var/he").mkdir(parents=True, exist_ok=True)
        status: dict[str, object] = {str(h): {"host-id": h} for h in host_ids}
        status["global_maintenance"] = False
        self.path("/var/he/status.json").write_text(json.dumps(status))

    def files(self, under: str = "/etc") -> dict[str, tuple[bytes, int, int]]:
        """Every file under ``under``: (bytes, mtime_ns, mode)."""
        found = {}
        base = self.path(under)
        for path in sorted(base.rglob("*")) if base.exists() else []:
            if path.is_file():
                st = path.stat()
                found[str(path.relative_to(self.root))] = (
                    path.read_bytes(),
                    st.st_mtime_ns,
                    stat.S_IMODE(st.st_mode),
                )
        return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ssh_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    public = ed25519.Ed25519PrivateKey.generate().public_key()
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.decode() + " manager@engine"


def write_failing_group(base: Path) -> Path:
    """A group whose MISC event fails after every host-deploy file is staged."""
    package = base / "failing" / "fail"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from hosted_engine.installer import Plugin, Priority, Stage, event

            class Fail(Plugin):
                @event(stage=Stage.MISC, priority=Priority.LAST)
                def fail(self):
                    raise RuntimeError("injected failure at MISC")

            def create_plugins(context):
                Fail(context)
            """
        )
    )
    return base


def verify_with_openssl(ca: Path, cert: Path) -> None:
    subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)], check=True)


CONF = keys.CONFIG_FILE
