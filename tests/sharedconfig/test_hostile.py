"""Hostile and broken archives: refused with one line, whether uploaded or found on storage,
and nothing changes (no file outside the archive, no archive byte, no cached file)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.broker.config_cache import ConfigCache, cache_files
from hosted_engine.clock import FakeClock
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


def _odd(name: str, fmt: int = tarfile.GNU_FORMAT, **fields: object) -> Build:
    """The members as a tar whose member ``name`` has odd header ``fields``."""

    def build(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                if member == name:
                    for key, value in fields.items():
                        setattr(info, key, value)
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    return build


def _ending(change: Callable[[bytes], bytes]) -> Build:
    return lambda m: change(encode(m))


def _end_offset(data: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.getmembers()
        return tar.offset


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
    "setuid": (_odd("vm.conf", mode=0o4755), "has mode 4755 (only permission bits"),
    "setgid": (_odd("broker.conf", mode=0o2644), "has mode 2644"),
    "sticky": (_odd("version", mode=0o1644), "has mode 1644"),
    "all-mode-bits": (_odd("version", mode=0o7777), "has mode 7777"),
    "negative-mtime": (_odd("vm.conf", mtime=-1), "impossible modification time -1"),
    "absurd-mtime": (_odd("vm.conf", mtime=1 << 40), "impossible modification time 1099511627776"),
    "pax-infinite-mtime": (
        _odd("vm.conf", tarfile.PAX_FORMAT, pax_headers={"mtime": "1e400"}),
        "impossible modification time inf",
    ),
    "negative-uid": (_odd("vm.conf", uid=-1), "impossible uid -1"),
    "absurd-gid": (_odd("vm.conf", gid=1 << 40), "impossible gid 1099511627776"),
    "non-utf8-name": (
        lambda m: tar_bytes([*entries(m), ("vm\udcff.conf", b"")]),
        "has a name that is not UTF-8 text",
    ),
    "newline-name": (
        lambda m: tar_bytes([*entries(m), ("vm.conf\nx", b"")]),
        "has a name that is not UTF-8 text",
    ),
    "nul-name": (
        _odd("vm.conf", tarfile.PAX_FORMAT, pax_headers={"path": "vm.conf\x00x"}),
        "has a name that is not UTF-8 text",
    ),
    "junk-after-end": (
        _ending(lambda d: d + b"\x01"),
        "non-zero bytes at offset",
    ),
    "junk-in-padding": (
        _ending(lambda d: d[:-100] + b"junk" + d[-96:]),
        "after the end of the archive",
    ),
    "tar-after-end": (
        _ending(lambda d: d + tar_bytes([("evil", b"x")])),
        "after the end of the archive",
    ),
    "no-end-blocks": (
        _ending(lambda d: d[: _end_offset(d)]),
        "ends without its two zero end blocks",
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
    "vm-conf-arabic-digits": (
        lambda m: tar_bytes(
            entries(m, {"vm.conf": m["vm.conf"] + "memSize=\u0664\u0660\u0669\u0666\n".encode()})
        ),
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
        "hosted-engine.deploy.lock",  # the lab's hosts were deployed
        "hosted-engine.lockspace",
        "hosted-engine.metadata",
    ]


# A sound tar with a value its reader refuses: reading that member's type fails.
SEMANTIC = {
    "not-utf8": ("smtp-port", "broker"),
    "bad-vm-conf": ("memSize", "vm"),
    "vm-conf-arabic-digits": ("memSize", "vm"),
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


# A sound tar whose one member holds a value out of range: never rewritten, merged or
# served as if fine. (case -> member, how to break it, what the error says, a key of
# another member to set)
def _he_shared_host_id_0(m: dict[str, bytes]) -> bytes:
    text = m["hosted-engine.conf"].decode()
    lines = ["host_id=0" if line.startswith("host_id=") else line for line in text.splitlines()]
    return ("\n".join(lines) + "\n").encode()


HALF_VALID: dict[str, tuple[str, Callable[[dict[str, bytes]], bytes], str, tuple[str, ...]]] = {
    "host-id-0": (
        "hosted-engine.conf",
        _he_shared_host_id_0,
        "host_id must be between 1",
        ("smtp-port", "2525", "--type=broker"),
    ),
    "port-out-of-range": (
        "broker.conf",
        lambda m: b"[email]\nsmtp-port = 70000\n",
        "out of range",
        ("memSize", "2048", "--type=vm", "--force"),
    ),
    "bad-regex": (
        "broker.conf",
        lambda m: b"[notify]\nstate_transition = (unclosed\n",
        "state_transition is not a valid regex",
        ("bridge", "br0", "--type=he_shared"),
    ),
}


def _half_valid(lab_files: LabFiles, case: str) -> tuple[str, str, tuple[str, ...]]:
    member, broken, message, set_args = HALF_VALID[case]
    members = members_of(lab_files)
    lab_files.archive.path.write_bytes(tar_bytes(entries(members, {member: broken(members)})))
    return member, message, set_args


@pytest.mark.parametrize("case", HALF_VALID)
def test_setting_another_key_never_rewrites_an_archive_with_a_bad_member(
    case: str, he: Cli, lab_files: LabFiles
) -> None:
    member, message, set_args = _half_valid(lab_files, case)
    before = lab_files.archive.path.read_bytes()
    result = he("--set-shared-config", *set_args)
    assert_one_line_error(result)
    assert f"cannot set {set_args[0]}: the archive must be fixed first" in result.err
    assert f"member {member}: " in result.err and message in result.err
    assert lab_files.archive.path.read_bytes() == before


def test_an_archive_with_a_bad_member_can_be_downloaded_fixed_and_uploaded(
    he: Cli, lab_files: LabFiles, tmp_path: Path
) -> None:
    good = members_of(lab_files)
    _half_valid(lab_files, "bad-regex")
    assert he("--download-shared-config", tmp_path / "broken.tar").code == 0
    assert (tmp_path / "broken.tar").read_bytes() == lab_files.archive.path.read_bytes()
    (tmp_path / "fixed.tar").write_bytes(tar_bytes(entries(good)))
    assert he("--upload-shared-config", tmp_path / "fixed.tar").code == 0
    assert he("--set-shared-config", "bridge", "br0", "--type=he_shared").code == 0


@pytest.mark.parametrize("case", HALF_VALID)
def test_an_upload_with_a_bad_member_is_refused(
    case: str, he: Cli, lab_files: LabFiles, tmp_path: Path
) -> None:
    member, broken, message, _ = HALF_VALID[case]
    members = members_of(lab_files)
    upload = tmp_path / "upload.tar"
    upload.write_bytes(tar_bytes(entries(members, {member: broken(members)})))
    before = lab_files.archive.path.read_bytes()
    result = he("--upload-shared-config", upload)
    assert_one_line_error(result)
    assert f"member {member}: " in result.err and message in result.err
    assert lab_files.archive.path.read_bytes() == before


@pytest.mark.parametrize("case", HALF_VALID)
def test_the_broker_never_serves_an_archive_with_a_bad_member(
    case: str, lab_files: LabFiles
) -> None:
    config = lab_files.config(2)
    cache = ConfigCache.for_host(config, FakeClock())
    assert cache.refresh().error is None
    installed = {path: path.read_bytes() for path in cache_files(config).values()}
    member, message, _ = _half_valid(lab_files, case)
    status = cache.refresh()
    assert status.error is not None and message in status.error and member in status.error
    assert {path: path.read_bytes() for path in installed} == installed  # the last good copy


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["directory", "fifo"])
def test_an_archive_that_is_not_a_file_is_refused_not_waited_on(
    how: str, he: Cli, lab_files: LabFiles
) -> None:
    path = lab_files.archive.path
    path.unlink()
    path.mkdir() if how == "directory" else os.mkfifo(path)
    for args in (
        ("--get-shared-config", "smtp-port", "--type=broker"),
        ("--set-shared-config", "smtp-port", "2525", "--type=broker"),
    ):
        result = he(*args)
        assert_one_line_error(result)
        assert "not a regular file" in result.err
