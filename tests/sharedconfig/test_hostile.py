"""Hostile and broken archives: refused with one line, whether uploaded or found on storage,
and nothing changes (no file outside the archive, no archive byte, no cached file)."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.errors import ConfigArchiveError
from hosted_engine.storage.config_archive import MAX_MEMBER_BYTES, MEMBERS, decode, encode
from tests.cli.conftest import Result, assert_one_line_error

from .conftest import Cli, LabFiles, entries, members_of, tar_bytes


def _special(name: str, kind: bytes, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


Build = Callable[[dict[str, bytes]], bytes]

HOSTILE: dict[str, tuple[Build, str]] = {
    "absolute-path": (
        lambda m: tar_bytes([*entries(m), ("/tmp/he-evil", b"x")]),
        "has an absolute path",
    ),
    "dot-dot": (
        lambda m: tar_bytes([*entries(m), ("../he-evil", b"x")]),
        "points outside the archive",
    ),
    "dot-dot-inside": (
        lambda m: tar_bytes([*entries(m), ("a/../../he-evil", b"x")]),
        "points outside the archive",
    ),
    "symlink": (
        lambda m: tar_bytes(
            [*entries({k: v for k, v in m.items() if k != "vm.conf"}), _sym("vm.conf")]
        ),
        "'vm.conf' is a link",
    ),
    "hardlink": (
        lambda m: tar_bytes([*entries(m), _special("extra", tarfile.LNKTYPE, linkname="vm.conf")]),
        "is a link",
    ),
    "char-device": (
        lambda m: tar_bytes([*entries(m), _special("null", tarfile.CHRTYPE, devmajor=1)]),
        "is a device",
    ),
    "fifo": (
        lambda m: tar_bytes([*entries(m), _special("pipe", tarfile.FIFOTYPE)]),
        "is a device or a fifo",
    ),
    "directory": (
        lambda m: tar_bytes([_special("conf", tarfile.DIRTYPE), *entries(m)]),
        "is not a regular file",
    ),
    "duplicate": (
        lambda m: tar_bytes([*entries(m), ("broker.conf", b"[email]\n")]),
        "'broker.conf' appears twice",
    ),
    "missing": (
        lambda m: tar_bytes(entries({k: v for k, v in m.items() if k != "vm.conf"})),
        "members missing: vm.conf",
    ),
    "unexpected": (
        lambda m: tar_bytes([*entries(m), ("notes.txt", b"hi")]),
        "unexpected member 'notes.txt'",
    ),
    "dot-slash-name": (
        lambda m: tar_bytes(
            [*entries({k: v for k, v in m.items() if k != "vm.conf"}), ("./vm.conf", b"")]
        ),
        "unexpected member './vm.conf'",
    ),
    "oversize-member": (
        lambda m: tar_bytes(entries(m, {"fhanswers.conf": b"x" * (MAX_MEMBER_BYTES + 1)})),
        "more than the",
    ),
    "not-a-tar": (lambda m: b"this is not a tar archive at all" * 40, "not a valid tar archive"),
    "empty": (lambda m: b"", "not a valid tar archive"),
    "truncated": (lambda m: encode(m)[:1000], "not a valid tar archive"),
    "not-utf8": (
        lambda m: tar_bytes(entries(m, {"broker.conf": b"\xff\xfe[email]\n"})),
        "broker.conf is not UTF-8 text",
    ),
    "bad-vm-conf": (
        lambda m: tar_bytes(entries(m, {"vm.conf": m["vm.conf"] + b"memSize=lots\n"})),
        "memSize must be a whole number",
    ),
    "bad-broker-conf": (
        lambda m: tar_bytes(entries(m, {"broker.conf": b"[email]\nsmtp-port = 99999\n"})),
        "out of range",
    ),
    "garbage-broker-conf": (
        lambda m: tar_bytes(entries(m, {"broker.conf": b"no section header\n"})),
        "no section headers",
    ),
    "other-deployments-vm": (
        lambda m: tar_bytes(
            entries(m, {"vm.conf": b"vmId=00000000-0000-0000-0000-000000000000\n"})
        ),
        "vm.conf is for VM 00000000-0000-0000-0000-000000000000",
    ),
    "other-storage-domain": (
        lambda m: tar_bytes(
            entries(m, {"hosted-engine.conf": b"host_id=1\nsdUUID=other\nstorage=/srv\n"})
        ),
        "is for storage domain other",
    ),
}


def _sym(name: str) -> tarfile.TarInfo:
    return _special(name, tarfile.SYMTYPE, linkname="/etc/passwd")


@pytest.mark.parametrize("case", HOSTILE)
def test_upload_refuses_a_hostile_archive_and_changes_nothing(
    case: str, he: Cli, lab_files: LabFiles, tmp_path: Path
) -> None:
    build, message = HOSTILE[case]
    upload = tmp_path / "upload.tar"
    upload.write_bytes(build(members_of(lab_files)))
    before = lab_files.archive.path.read_bytes()

    result = he("--upload-shared-config", upload)

    assert_one_line_error(result)
    assert message in result.err
    assert lab_files.archive.path.read_bytes() == before
    assert not Path("/tmp/he-evil").exists()
    assert sorted(p.name for p in lab_files.archive.path.parent.iterdir()) == [
        "hosted-engine.configuration",
        "hosted-engine.configuration.lock",
        "hosted-engine.lockspace",
        "hosted-engine.metadata",
    ]


# A sound tar with a value its reader refuses: reading that member's type fails.
SEMANTIC = {
    "not-utf8": ("smtp-port", "broker"),
    "bad-vm-conf": ("memSize", "vm"),
    "bad-broker-conf": ("smtp-port", "broker"),
    "garbage-broker-conf": ("smtp-port", "broker"),
}
# Broken as a tar: every read of the archive refuses it, the download included.
STRUCTURAL = [c for c in HOSTILE if c not in SEMANTIC and not c.startswith("other-")]


@pytest.mark.parametrize("case", STRUCTURAL)
def test_reading_a_hostile_archive_from_storage_is_one_line(
    case: str, he: Cli, lab_files: LabFiles, tmp_path: Path
) -> None:
    build, message = HOSTILE[case]
    lab_files.archive.path.write_bytes(build(members_of(lab_files)))
    for args in (
        ("--get-shared-config", "smtp-port", "--type=broker"),
        ("--get-all-config",),
        ("--set-shared-config", "smtp-port", "2525", "--type=broker"),
        ("--download-shared-config", tmp_path / "out.tar"),
    ):
        result = he(*args)
        assert_one_line_error(result)
        assert message in result.err
    assert not (tmp_path / "out.tar").exists()


@pytest.mark.parametrize("case", SEMANTIC)
def test_reading_a_bad_member_is_one_line(case: str, he: Cli, lab_files: LabFiles) -> None:
    build, message = HOSTILE[case]
    lab_files.archive.path.write_bytes(build(members_of(lab_files)))
    key, kind = SEMANTIC[case]
    result = he("--get-shared-config", key, f"--type={kind}")
    assert_one_line_error(result)
    assert message in result.err
    # the other types still read
    assert he("--get-shared-config", "local_maintenance", "--type=ha").code == 0


def test_a_download_of_a_broken_archive_can_be_fixed_and_uploaded(
    he: Cli, lab_files: LabFiles, tmp_path: Path
) -> None:
    good = lab_files.archive.path.read_bytes()
    lab_files.archive.path.write_bytes(b"garbage")
    fixed = tmp_path / "fixed.tar"
    fixed.write_bytes(good)
    assert he("--upload-shared-config", fixed) == Result(0, "", "")
    assert he("--get-shared-config", "smtp-port", "--type=broker").out == (
        "\nsmtp-port : 25, type : broker\n\n"
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_decoding_any_bytes_gives_members_or_one_archive_error(data: bytes) -> None:
    try:
        decode(data, "fuzz")
    except ConfigArchiveError as e:
        assert "\n" not in str(e)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10239), st.integers(min_value=0, max_value=255))
def test_a_flipped_byte_gives_members_or_one_archive_error(offset: int, value: int) -> None:
    data = bytearray(encode(dict.fromkeys(MEMBERS, b"k=v\n")))
    data[offset] = value
    try:
        decode(bytes(data), "fuzz")
    except ConfigArchiveError as e:
        assert "\n" not in str(e)
