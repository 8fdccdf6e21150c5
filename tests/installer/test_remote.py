"""Bundles, and whole runs on a host reached over a real SSH server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.errors import RemoteRunError
from hosted_engine.installer.bundle import Bundle, build_bundle
from hosted_engine.installer.dialogs.client import MachineDialogClient
from hosted_engine.installer.remote import RemoteRun, remote_command, run_remote, start_remote

from .helpers import write_group
from .sshd import SSHD, SshServer, running_sshd

DEMO = """
from hosted_engine.installer import INT, Plugin, Stage, event, key

SIZE = key("DEMO/size", INT, 1, answer=True)


class Demo(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(SIZE)

    @event(stage=Stage.CUSTOMIZATION)
    def ask(self):
        name = self.dialog.query_string("HOST_NAME", "Host name:", default="host-1")
        self.dialog.display_value("HOST_NAME", name)

    @event(stage=Stage.MISC)
    def write(self):
        if self.environment[SIZE] < 0:
            raise RuntimeError("negative size")
        self.write_file("/etc/demo.conf", f"size={self.environment[SIZE]}")


def create_plugins(context):
    Demo(context)
"""


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("plugins")
    write_group(base, "demo", {"demo": DEMO})
    (base / "demo" / "demo" / "__pycache__").mkdir()
    (base / "demo" / "demo" / "__pycache__" / "junk.pyc").write_bytes(b"junk")
    return base


@pytest.fixture(scope="module")
def bundle(plugins: Path) -> Bundle:
    return build_bundle(["demo"], [str(plugins)])


def test_bundle_is_reproducible_and_complete(bundle: Bundle, plugins: Path) -> None:
    assert build_bundle(["demo"], [str(plugins)]).payload == bundle.payload
    names = bundle.names()
    assert "lib/hosted_engine/errors.py" in names
    assert "lib/hosted_engine/installer/cli.py" in names
    assert "plugins/demo/demo/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    with tarfile.open(fileobj=io.BytesIO(bundle.payload)) as tar:
        member = tar.extractfile("MANIFEST.json")
        assert member is not None
        manifest = json.load(member)
        plugin = tar.extractfile("plugins/demo/demo/__init__.py")
        assert plugin is not None
        assert (
            manifest["files"]["plugins/demo/demo/__init__.py"]
            == hashlib.sha256(plugin.read()).hexdigest()
        )
    assert manifest["groups"] == ["demo"]
    header = bundle.framed().split(b"\n", 1)[0].decode()
    assert header == f"HE-INSTALLER-BUNDLE 1 {len(bundle.payload)} {bundle.sha256}"


def test_bundle_of_a_missing_group_fails(plugins: Path) -> None:
    with pytest.raises(RemoteRunError, match="plugin group nope not found"):
        build_bundle(["nope"], [str(plugins)])


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists():
        pytest.fail(f"{SSHD} is missing: run `make system-deps` (apt-get install openssh-server)")
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def remote_args(tmp_path: Path) -> list[str]:
    return [
        f"SYSTEM/root=str:{tmp_path / 'root'}",
        f"CORE/logDir=str:{tmp_path / 'log'}",
        "PACKAGER/provider=str:offline",
        "SYSTEM/servicesProvider=str:recording",
    ]


async def remote(sshd: SshServer, bundle: Bundle, tmp_path: Path, **kwargs: Any) -> RemoteRun:
    async with sshd.connect() as connection:
        return await asyncio.wait_for(
            run_remote(connection, bundle, remote_args(tmp_path), **kwargs), 60
        )


@pytest.mark.timeout(120)
def test_remote_run_over_ssh(sshd: SshServer, bundle: Bundle, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def customize(client: MachineDialogClient) -> None:
        seen["path"] = await client.env_get("BASE/pluginPath")
        await client.env_set("DEMO/size", 42)
        seen["size"] = await client.env_get("DEMO/size")
        seen["log"] = await client.download_log()

    run = asyncio.run(
        remote(sshd, bundle, tmp_path, customization=customize, answers={"HOST_NAME": "h7"})
    )
    assert run.exit_status == 0, run.stderr
    assert run.stderr == []
    assert seen["size"] == 42
    assert (tmp_path / "root" / "etc" / "demo.conf").read_text() == "size=42\n"
    unpacked = Path(str(seen["path"]).split(":")[0])
    assert unpacked.name == "plugins" and unpacked.parent.name.startswith(
        "hosted-engine-installer-"
    )
    assert not unpacked.parent.exists()  # the remote temp dir is gone
    assert any("STAGE misc" in line for line in seen["log"])  # type: ignore[attr-defined]
    assert "Execution of hosted-engine-installer completed successfully" in run.client.logs()
    assert any("Accepted publickey for root" in line for line in sshd.log)


@pytest.mark.timeout(120)
def test_remote_failure_rolls_back_and_reports(
    sshd: SshServer, bundle: Bundle, tmp_path: Path
) -> None:
    async def customize(client: MachineDialogClient) -> None:
        await client.env_set("DEMO/size", -1)

    run = asyncio.run(remote(sshd, bundle, tmp_path, customization=customize, accept_defaults=True))
    assert run.exit_status == 1
    assert "Failed to execute stage 'Misc configuration': negative size" in run.client.logs("ERROR")
    assert not (tmp_path / "root" / "etc").exists()
    assert run.stderr == ["hosted-engine-installer: negative size"]


class CorruptedBundle(Bundle):
    def framed(self) -> bytes:
        good = super().framed()
        return good[:-1] + bytes([good[-1] ^ 1])  # the digest no longer matches


@pytest.mark.timeout(120)
def test_a_corrupted_bundle_is_refused(sshd: SshServer, bundle: Bundle, tmp_path: Path) -> None:
    async def go() -> RemoteRun:
        async with sshd.connect() as connection:
            corrupted = CorruptedBundle(bundle.payload, bundle.groups)
            async with start_remote(connection, corrupted, remote_args(tmp_path)) as run:
                pass
            return run

    run = asyncio.run(go())
    assert run.exit_status == 2
    assert run.stderr == ["hosted-engine-installer bootstrap: bundle checksum mismatch"]


@pytest.mark.timeout(120)
def test_bytes_that_are_not_utf8_on_the_ssh_channel_end_the_run_cleanly(
    sshd: SshServer, bundle: Bundle, tmp_path: Path
) -> None:
    """The manager's answer is raw bytes on the bundle's channel: a one-line error, exit 1."""

    async def go() -> tuple[int | None, bytes, bytes]:
        async with sshd.connect() as connection:
            command = remote_command(bundle, remote_args(tmp_path), "python3", False)
            process = await connection.create_process(command, encoding=None)
            process.stdin.write(bundle.framed() + b"\xff\xfe\n")
            process.stdin.write_eof()
            out, err = await asyncio.wait_for(process.communicate(), 60)
            return process.exit_status, out, err

    status, out, err = asyncio.run(go())
    assert status == 1
    assert err.decode() == (
        "hosted-engine-installer: the line given for HOST_NAME is not UTF-8 text "
        "(invalid bytes or a NUL)\n"
    )
    assert out.decode().splitlines()[-1] == "***TERMINATE"
