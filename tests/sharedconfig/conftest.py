"""A lab laid out on disk (no daemons), its archive, and ways to run the CLI against it.

``create_lab`` builds exactly what a real lab has: the domain with its configuration
archive and one hosted-engine.conf per host. Nothing runs after a test.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from hosted_engine.cli.main import main
from hosted_engine.config.host import CONFIG_ENV, HostConfig, load_host_config
from hosted_engine.config.shared import SharedConfig
from hosted_engine.lab.layout import LabManifest, create_lab, host_config_path
from hosted_engine.storage.config_archive import ConfigArchive
from tests.cli.conftest import Result


@dataclass(frozen=True)
class LabFiles:
    dir: Path
    manifest: LabManifest

    def conf(self, host_id: int = 1) -> Path:
        return host_config_path(self.dir, host_id)

    def config(self, host_id: int = 1) -> HostConfig:
        return load_host_config(self.conf(host_id))

    @property
    def archive(self) -> ConfigArchive:
        return ConfigArchive.in_domain(self.config().ha_dir)

    def shared(self, host_id: int = 1) -> SharedConfig:
        return SharedConfig(self.config(host_id))

    def member(self, name: str) -> str:
        return self.archive.read().members[name].decode()


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up the caller's $HOSTED_ENGINE_CONFIG."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


@pytest.fixture
def lab_files(tmp_path: Path) -> LabFiles:
    lab_dir = tmp_path / "lab"
    # the vm type on the archive's vm.conf (a domain without an OVF_STORE): the OVF_STORE
    # and the vm type on it are tested in tests/ovfstore
    return LabFiles(lab_dir, create_lab(lab_dir, 2, "fast", ovf_store=False))


Cli = Callable[..., Result]


@pytest.fixture
def he(capsys: pytest.CaptureFixture[str], lab_files: LabFiles) -> Cli:
    """``he("--get-shared-config", "smtp-port")``: main() in-process as lab host 1
    (``host=2`` for the other one)."""

    def run(*args: object, host: int = 1) -> Result:
        capsys.readouterr()
        code = main([*map(str, args), "--config", str(lab_files.conf(host))])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


# --- building tars by hand ------------------------------------------------------------------


def tar_bytes(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """A tar of regular files ``(name, data)`` and of prepared TarInfo entries (links...)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def members_of(lab_files: LabFiles) -> dict[str, bytes]:
    return dict(lab_files.archive.read().members)


def entries(
    base: Mapping[str, bytes], changes: Mapping[str, bytes] | None = None
) -> list[tarfile.TarInfo | tuple[str, bytes]]:
    """The members of ``base`` as tar entries, those named in ``changes`` replaced."""
    changed = changes or {}
    return [(name, changed.get(name, data)) for name, data in base.items()]
