"""Choosing the libvirt backend from hosted-engine.conf."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.backends import vm_backend_for
from hosted_engine.config.host import from_values
from hosted_engine.errors import ConfigError, VmError


def config(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "host_id": "1",
        "sdUUID": "sd",
        "storage": str(tmp_path),
        "run_dir": str(tmp_path / "run"),
        "vm_backend": "libvirt",
        **extra,
    }


def test_libvirt_uri_defaults_to_the_system_daemon(tmp_path: Path) -> None:
    assert from_values(config(tmp_path)).libvirt_uri == "qemu:///system"


@pytest.mark.parametrize("uri", ["not a uri", "qemu:/system", "://x", "qemu:///a b"])
def test_a_bad_libvirt_uri_is_a_one_line_error(tmp_path: Path, uri: str) -> None:
    with pytest.raises(ConfigError, match="libvirt_uri") as e:
        from_values(config(tmp_path, libvirt_uri=uri))
    assert "\n" not in str(e.value)


def test_vm_backend_libvirt_on_the_test_driver(tmp_path: Path) -> None:
    pytest.importorskip("libvirt")
    from hosted_engine.vm.libvirt_backend import LibvirtVmBackend

    backend = vm_backend_for(from_values(config(tmp_path, libvirt_uri="test:///default")))
    assert isinstance(backend, LibvirtVmBackend)
    backend.close()


def test_an_unreachable_libvirt_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("libvirt")
    uri = f"test://{tmp_path}/missing.xml"
    with pytest.raises(VmError, match="cannot connect to libvirt") as e:
        vm_backend_for(from_values(config(tmp_path, libvirt_uri=uri)))
    assert "\n" not in str(e.value)


def test_missing_python3_libvirt_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_libvirt(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "libvirt":
            raise ModuleNotFoundError("No module named 'libvirt'", name="libvirt")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_libvirt)
    with pytest.raises(ConfigError, match="python3-libvirt"):
        vm_backend_for(from_values(config(tmp_path)))
