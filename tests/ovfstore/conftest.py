"""A lab laid out on disk with its OVF_STORE (no daemons), and ways to look into the store.

``lab_files`` is what ``make run`` creates: the engine VM's OVF in both OVF_STORE copies,
made from the archive's vm.conf. ``legacy_lab`` is a domain from before the OVF_STORE.
Nothing runs after a test.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from hosted_engine.cli.main import main
from hosted_engine.config.host import CONFIG_ENV
from hosted_engine.lab.layout import create_lab
from hosted_engine.storage.ovf_store import OvfStore, member_name
from hosted_engine.vm.ovf import parse_ovf
from tests.cli.conftest import Result
from tests.sharedconfig.conftest import LabFiles, tar_bytes

REFERENCE_DATA = Path(__file__).parent.parent / "ovf" / "data"


class StoreFiles(LabFiles):
    @property
    def store(self) -> OvfStore:
        return OvfStore(self.config().ha_dir)

    @property
    def vm_id(self) -> str:
        return self.manifest.vm_id

    def copy_bytes(self) -> list[bytes]:
        return [path.read_bytes() for path in self.store.paths]

    def copy_members(self, index: int) -> dict[str, bytes]:
        with tarfile.open(self.store.paths[index]) as tar:
            out = {}
            for info in tar:
                content = tar.extractfile(info)
                assert content is not None
                out[info.name] = content.read()
            return out

    def vm_ovf(self, index: int = 0) -> bytes:
        return self.copy_members(index)[member_name(self.vm_id)]

    def write_copies(self, data: bytes, *indices: int) -> None:
        for index in indices or (0, 1):
            self.store.paths[index].write_bytes(data)


def reference_ovf(name: str, vm_id: str) -> bytes:
    """A reference OVF of ``tests/ovf/data``, made the OVF of the VM ``vm_id``."""
    data = (REFERENCE_DATA / name).read_bytes()
    original = parse_ovf(data).vm.vm_id
    return data.replace(original.encode(), vm_id.encode())


def store_tar(
    members: Mapping[str, bytes] | Sequence[tarfile.TarInfo | tuple[str, bytes]],
) -> bytes:
    """An OVF_STORE tar of ``(name, data)`` members and of prepared entries (links...)."""
    return tar_bytes(list(members.items()) if isinstance(members, Mapping) else list(members))


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up the caller's $HOSTED_ENGINE_CONFIG."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


@pytest.fixture
def lab_files(tmp_path: Path) -> StoreFiles:
    lab_dir = tmp_path / "lab"
    return StoreFiles(lab_dir, create_lab(lab_dir, 2, "fast"))


@pytest.fixture
def legacy_lab(tmp_path: Path) -> StoreFiles:
    lab_dir = tmp_path / "legacy"
    return StoreFiles(lab_dir, create_lab(lab_dir, 2, "fast", ovf_store=False))


Cli = Callable[..., Result]


@pytest.fixture
def he(capsys: pytest.CaptureFixture[str]) -> Callable[[StoreFiles], Cli]:
    """``he(lab)("--show-vm-definition")``: main() in-process as host 1 of ``lab``
    (``host=2`` for the other one)."""

    def bind(lab: StoreFiles) -> Cli:
        def run(*args: object, host: int = 1) -> Result:
            capsys.readouterr()
            code = main([*map(str, args), "--config", str(lab.conf(host))])
            captured = capsys.readouterr()
            return Result(code, captured.out, captured.err)

        return run

    return bind
