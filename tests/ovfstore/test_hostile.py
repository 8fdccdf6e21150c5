"""Hostile and broken OVF_STOREs and OVFs: refused with one line wherever they are met (the
admin's verbs, the broker's cache, an upload), and nothing changes: no file outside the
store, no store byte, no cached definition."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.clock import FakeClock
from hosted_engine.errors import OvfStoreError
from hosted_engine.storage.ovf_store import LIMITS, OvfStore, member_name
from tests.cli.conftest import assert_one_line_error

from .conftest import Cli, StoreFiles, store_tar

He = Callable[[StoreFiles], Cli]
EVIL = Path("/tmp/he-ovf-evil")


def _special(name: str, kind: bytes, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def billion_laughs() -> bytes:
    lines = ['<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n']
    for i in range(1, 10):
        previous = f"&lol{i - 1};" if i > 1 else "&lol;"
        lines.append(f' <!ENTITY lol{i} "{previous * 10}">\n')
    lines.append("]>\n<lolz>&lol9;</lolz>\n")
    return "".join(lines).encode()


def external_entity(target: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "{target.as_uri()}">]><x>&xxe;</x>'
    ).encode()


Build = Callable[[str, bytes], bytes]
"""(our member's name, a good OVF) -> the bytes of a hostile OVF_STORE copy."""

HOSTILE_TARS: dict[str, tuple[Build, str]] = {
    "absolute-path": (
        lambda n, ovf: store_tar([(n, ovf), (str(EVIL), b"x")]),
        "has an absolute path",
    ),
    "dot-dot": (lambda n, ovf: store_tar([(n, ovf), ("../he-evil", b"x")]), "points outside"),
    "nested": (lambda n, ovf: store_tar([("images/" + n, ovf)]), "is not a plain file name"),
    "symlink": (
        lambda n, ovf: store_tar([_special(n, tarfile.SYMTYPE, linkname="/etc/passwd")]),
        "is a link",
    ),
    "hardlink": (
        lambda n, ovf: store_tar([("a.ovf", ovf), _special(n, tarfile.LNKTYPE, linkname="a.ovf")]),
        "is a link",
    ),
    "device": (
        lambda n, ovf: store_tar([(n, ovf), _special("null", tarfile.CHRTYPE, devmajor=1)]),
        "is a device",
    ),
    "fifo": (
        lambda n, ovf: store_tar([(n, ovf), _special("pipe", tarfile.FIFOTYPE)]),
        "is a device or a fifo",
    ),
    "directory": (
        lambda n, ovf: store_tar([_special("dir", tarfile.DIRTYPE), (n, ovf)]),
        "is not a regular file",
    ),
    "duplicate": (lambda n, ovf: store_tar([(n, ovf), (n, ovf)]), "appears twice"),
    "oversize-member": (
        lambda n, ovf: store_tar([(n, ovf), ("big.ovf", b"x" * (LIMITS.member_bytes + 1))]),
        "more than the",
    ),
    "too-many-members": (
        lambda n, ovf: store_tar([(f"{i}.ovf", b"") for i in range(LIMITS.members)] + [(n, ovf)]),
        "members allowed",
    ),
    "not-a-tar": (lambda n, ovf: b"this is not a tar archive" * 50, "not a valid tar archive"),
    "empty": (lambda n, ovf: b"", "not a valid tar archive"),
    "truncated": (lambda n, ovf: store_tar([(n, ovf)])[:700], "not a valid tar archive"),
}
HOSTILE_XML: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "entity-expansion": (lambda ovf: billion_laughs(), "DOCTYPE or ENTITY declaration"),
    "external-entity": (
        lambda ovf: external_entity(Path("/etc/hostname")),
        "DOCTYPE or ENTITY declaration",
    ),
    "malformed": (lambda ovf: ovf[: len(ovf) // 2], "not well-formed XML"),
    "not-an-ovf": (lambda ovf: b"<html><body>hi</body></html>", "not an oVirt ovf:Envelope"),
    "absurd-memory": (
        lambda ovf: ovf.replace(
            b">256</rasd:VirtualQuantity>", b">999999999999</rasd:VirtualQuantity>"
        ),
        "must be between",
    ),
    "absurd-sockets": (
        lambda ovf: ovf.replace(b"<rasd:num_of_sockets>1<", b"<rasd:num_of_sockets>0<"),
        "rasd:num_of_sockets must be between",
    ),
    "oversize": (lambda ovf: ovf + b" " * (LIMITS.member_bytes + 1), "more than the"),
}


def hostile_store(lab: StoreFiles, case: str) -> bytes:
    name, ovf = member_name(lab.vm_id), lab.vm_ovf()
    if case in HOSTILE_TARS:
        return HOSTILE_TARS[case][0](name, ovf)
    bad = HOSTILE_XML[case][0](ovf)
    assert bad != ovf
    return store_tar([(name, bad)])


def message_of(case: str) -> str:
    return (HOSTILE_TARS.get(case) or HOSTILE_XML[case])[1]


CASES = [*HOSTILE_TARS, *HOSTILE_XML]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_store_is_one_line_everywhere_and_changes_nothing(
    case: str, he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    ConfigCache.for_host(lab_files.config(1), FakeClock()).refresh()
    cached = lab_files.config(1).vm_conf_path.read_text()
    data = hostile_store(lab_files, case)
    lab_files.write_copies(data)
    run = he(lab_files)
    for args in (
        ("--get-shared-config", "memSize", "--type=vm"),
        ("--get-all-config",),
        ("--set-shared-config", "memSize", "512", "--type=vm", "--force"),
        ("--download-vm-ovf", tmp_path / "out.ovf"),
    ):
        result = run(*args)
        assert_one_line_error(result)
        assert message_of(case) in result.err, (args, result.err)
    assert lab_files.copy_bytes() == [data, data]
    assert not (tmp_path / "out.ovf").exists()

    status = ConfigCache.for_host(lab_files.config(1), FakeClock()).refresh()
    assert status.error is not None and message_of(case) in status.error
    assert "\n" not in status.error
    assert lab_files.config(1).vm_conf_path.read_text() == cached
    assert not EVIL.exists() and not (lab_files.store.paths[0].parent.parent / "he-evil").exists()
    assert sorted(p.name for p in lab_files.store.paths[0].parent.iterdir()) == [
        "OVF_STORE.1",
        "OVF_STORE.2",
        "OVF_STORE.lock",
        "hosted-engine.configuration",
        "hosted-engine.configuration.lock",
        "hosted-engine.deploy.lock",  # the lab's hosts were deployed
        "hosted-engine.lockspace",
        "hosted-engine.metadata",
    ]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_first_copy_leaves_the_second_in_charge(
    case: str, he: He, lab_files: StoreFiles
) -> None:
    lab_files.write_copies(hostile_store(lab_files, case), 0)
    result = he(lab_files)("--get-shared-config", "memSize", "--type=vm")
    assert (result.code, result.out) == (0, "\nmemSize : 256, type : vm\n\n")
    status = ConfigCache.for_host(lab_files.config(1), FakeClock()).refresh()
    assert (status.error, status.vm_source) == (None, "ovf")
    assert status.warning is not None and message_of(case) in status.warning


@pytest.mark.parametrize("case", HOSTILE_XML)
def test_upload_refuses_a_hostile_ovf_and_changes_nothing(
    case: str, he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    upload = tmp_path / "upload.ovf"
    bad = HOSTILE_XML[case][0](lab_files.vm_ovf())
    upload.write_bytes(bad)
    before = lab_files.copy_bytes()
    result = he(lab_files)("--upload-vm-ovf", upload, "--force")
    assert_one_line_error(result)
    assert message_of(case) in result.err
    assert lab_files.copy_bytes() == before


def test_an_oversize_copy_is_passed_over_unread(lab_files: StoreFiles) -> None:
    with lab_files.store.paths[0].open("wb") as f:
        f.truncate(LIMITS.total_bytes + 1)
    found = lab_files.store.read().vm_ovf(lab_files.vm_id)
    assert found is not None and found.copy.path == lab_files.store.paths[1]
    assert "more than the" in found.problems[0]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_in_both_copies_give_an_ovf_none_or_one_error(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        store = OvfStore(Path(directory))
        for path in store.paths:
            path.write_bytes(data)
        try:
            store.read().vm_ovf("vm-1")
        except OvfStoreError as e:
            assert "\n" not in str(e)


def _make_unreadable(path: Path, how: str) -> None:
    path.unlink()
    if how == "directory":
        path.mkdir()
        (path / "junk").write_bytes(b"x")
    else:
        os.mkfifo(path)  # nobody writes: opening it for reading would wait forever


@pytest.mark.timeout(60)
@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("how", ["directory", "fifo"])
def test_an_unreadable_copy_costs_a_warning_and_the_good_copy_is_used(
    how: str, index: int, he: He, lab_files: StoreFiles
) -> None:
    good = lab_files.store.paths[1 - index]
    before = good.read_bytes()
    _make_unreadable(lab_files.store.paths[index], how)

    found = lab_files.store.read().vm_ovf(lab_files.vm_id)
    assert found is not None and found.copy.path == good
    assert "not a regular file" in "; ".join(found.problems)
    result = he(lab_files)("--get-shared-config", "memSize", "--type=vm")
    assert (result.code, result.out) == (0, "\nmemSize : 256, type : vm\n\n")
    status = ConfigCache.for_host(lab_files.config(1), FakeClock()).refresh()
    assert (status.error, status.vm_source) == (None, "ovf")
    assert status.warning is not None and "not a regular file" in status.warning

    # a write must replace both copies: refused with one line, the good copy untouched
    result = he(lab_files)("--set-shared-config", "memSize", "512", "--type=vm", "--force")
    assert_one_line_error(result)
    assert "not a regular file" in result.err
    assert good.read_bytes() == before
