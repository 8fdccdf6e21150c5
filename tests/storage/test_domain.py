"""The file storage domain layout: creation is idempotent, checks name what is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hosted_engine.config.host import HostConfig
from hosted_engine.errors import StorageError
from hosted_engine.storage.domain import (
    LOCKSPACE_NAME,
    METADATA_BYTES,
    METADATA_NAME,
    check_domain,
    create_domain,
)


def test_create_lays_out_the_reference_paths(tmp_path: Path) -> None:
    ha_dir = create_domain(tmp_path, "c0ffee-01")
    config = HostConfig(host_id=1, sd_uuid="c0ffee-01", storage=tmp_path)
    assert ha_dir == config.ha_dir
    assert ha_dir / METADATA_NAME == config.metadata_path
    assert ha_dir / LOCKSPACE_NAME == config.lockspace_path
    assert config.metadata_path.stat().st_size == METADATA_BYTES == 2001 * 4096
    assert config.metadata_path.read_bytes() == bytes(METADATA_BYTES)
    assert config.lockspace_path.stat().st_size == 0
    assert check_domain(tmp_path, "c0ffee-01") == ha_dir


def test_create_is_idempotent_and_never_wipes(tmp_path: Path) -> None:
    ha_dir = create_domain(tmp_path, "sd")
    metadata, lockspace = ha_dir / METADATA_NAME, ha_dir / LOCKSPACE_NAME
    with metadata.open("r+b") as f:
        f.write(b"maintenance=1\n")
    lockspace.write_bytes(b"held")
    assert create_domain(tmp_path, "sd") == ha_dir
    assert metadata.read_bytes().startswith(b"maintenance=1\n")
    assert lockspace.read_bytes() == b"held"


@pytest.mark.parametrize("sd_uuid", ["", ".", "..", "a/b", "/etc", "../x", "x\0y"])
def test_bad_sd_uuid_is_refused_and_creates_nothing(tmp_path: Path, sd_uuid: str) -> None:
    with pytest.raises(StorageError, match="must be one path component"):
        create_domain(tmp_path, sd_uuid)
    with pytest.raises(StorageError, match="must be one path component"):
        check_domain(tmp_path, sd_uuid)
    assert list(tmp_path.iterdir()) == []


def test_create_needs_an_existing_storage_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is not a directory"):
        create_domain(tmp_path / "not-mounted", "sd")
    assert list(tmp_path.iterdir()) == []


def test_create_reports_os_errors_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "sd").write_text("a file where the domain directory should be")
    with pytest.raises(StorageError) as caught:
        create_domain(tmp_path, "sd")
    assert (
        str(caught.value)
        == f"cannot create storage domain in {tmp_path}/sd/ha_agent: Not a directory"
    )


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("sd/ha_agent/hosted-engine.lockspace", "lockspace file"),
        ("sd/ha_agent/hosted-engine.metadata", "metadata file"),
        ("sd/ha_agent", "ha_agent directory"),
        ("sd", "storage domain directory"),
    ],
)
def test_check_names_the_missing_piece(tmp_path: Path, remove: str, named: str) -> None:
    create_domain(tmp_path, "sd")
    target = tmp_path / remove
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    with pytest.raises(StorageError) as caught:
        check_domain(tmp_path, "sd")
    assert str(caught.value) == f"storage domain sd: {named} {target} is missing"


def test_check_names_a_missing_storage_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"storage directory .*/absent is missing"):
        check_domain(tmp_path / "absent", "sd")
