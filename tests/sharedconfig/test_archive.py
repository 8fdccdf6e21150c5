"""The archive format and its compare-and-swap, on a real file."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path

import pytest

from hosted_engine.errors import ConcurrentChangeError, ConfigArchiveError
from hosted_engine.storage.config_archive import (
    MAX_ARCHIVE_BYTES,
    MAX_MEMBER_BYTES,
    MEMBERS,
    ConfigArchive,
    decode,
    encode,
    exclusive_lock,
    sha256,
)

BASE = {name: f"{name} content\n".encode() for name in MEMBERS}


@pytest.fixture
def archive(tmp_path: Path) -> ConfigArchive:
    archive = ConfigArchive.in_domain(tmp_path)
    archive.create(BASE)
    return archive


def test_encode_decode_round_trip_in_the_reference_order() -> None:
    data = encode(BASE)
    assert decode(data, "x") == BASE
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == list(MEMBERS)
        assert all(m.isreg() and m.mode == 0o644 for m in tar.getmembers())


def test_an_archive_is_not_limited_to_the_references_20_kib() -> None:
    big = {**BASE, "vm.conf": b"x" * (64 * 1024)}
    assert decode(encode(big), "x") == big


def test_read_returns_members_and_the_checksum_of_the_bytes(archive: ConfigArchive) -> None:
    snapshot = archive.read()
    assert snapshot.members == BASE
    assert snapshot.checksum == sha256(archive.path.read_bytes()) == archive.fingerprint()


def test_a_replace_against_the_current_checksum_lands(archive: ConfigArchive) -> None:
    before = archive.read()
    new = {**BASE, "broker.conf": b"[email]\n"}
    after = archive.replace(before.checksum, new)
    assert archive.read().members == new
    assert archive.read().checksum == after.checksum != before.checksum


def test_a_replace_against_an_old_checksum_is_refused_and_changes_nothing(
    archive: ConfigArchive,
) -> None:
    stale = archive.read().checksum
    archive.replace(stale, {**BASE, "vm.conf": b"first\n"})
    current = archive.path.read_bytes()
    with pytest.raises(ConcurrentChangeError) as info:
        archive.replace(stale, {**BASE, "vm.conf": b"second\n"})
    assert str(info.value) == (
        "Update failed. The configuration file was changed by somebody else, try again."
    )
    assert archive.path.read_bytes() == current


def test_create_refuses_to_overwrite(archive: ConfigArchive) -> None:
    with pytest.raises(ConfigArchiveError, match="already exists"):
        archive.create(BASE)


def test_a_missing_archive_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigArchiveError, match="no shared configuration archive at"):
        ConfigArchive.in_domain(tmp_path).read()
    assert ConfigArchive.in_domain(tmp_path).fingerprint() is None


def test_leftovers_of_killed_writers_are_removed_by_the_next_write(
    archive: ConfigArchive,
) -> None:
    leftover = archive.path.with_name(archive.path.name + ".tmp.99999")
    leftover.write_bytes(b"half a tar")
    archive.replace(archive.read().checksum, BASE)
    assert not leftover.exists()
    assert sorted(p.name for p in archive.path.parent.iterdir()) == [
        "hosted-engine.configuration",
        "hosted-engine.configuration.lock",
    ]


def test_members_over_the_limit_are_refused_on_write(archive: ConfigArchive) -> None:
    with pytest.raises(ConfigArchiveError, match=f"more than the {MAX_MEMBER_BYTES} allowed"):
        archive.replace(archive.read().checksum, {**BASE, "vm.conf": b"x" * (MAX_MEMBER_BYTES + 1)})
    assert archive.read().members == BASE


def test_an_archive_over_the_limit_is_refused_on_read(archive: ConfigArchive) -> None:
    archive.path.write_bytes(b"\0" * (MAX_ARCHIVE_BYTES + 1))
    with pytest.raises(ConfigArchiveError, match="more than the"):
        archive.read()


def test_a_wrong_member_set_is_refused_on_write(archive: ConfigArchive) -> None:
    members = {k: v for k, v in BASE.items() if k != "version"}
    with pytest.raises(ConfigArchiveError, match="holds exactly"):
        archive.replace(archive.read().checksum, members)


def test_the_lock_excludes_a_second_holder_until_released(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    inside = threading.Event()
    release = threading.Event()
    second_in = threading.Event()

    def first() -> None:
        with exclusive_lock(lock):
            inside.set()
            release.wait(10)

    def second() -> None:
        with exclusive_lock(lock):
            second_in.set()

    t1 = threading.Thread(target=first)
    t1.start()
    assert inside.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    # OFD locks conflict between descriptions even in one process: the second must wait.
    assert not second_in.wait(0.2)
    release.set()
    assert second_in.wait(10)
    t1.join(10)
    t2.join(10)
