"""The shared tar reader on hostile bytes: random bytes and mutated valid archives give
either members that pass every check or one typed, one-line error, never a traceback."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hosted_engine.errors import ConfigArchiveError, OvfStoreError, StorageError
from hosted_engine.storage import config_archive, ovf_store, shared_tar

OVF = (Path(__file__).parent.parent / "ovf" / "data" / "ovf_test.xml").read_bytes()
READERS = {
    "config": (config_archive.LIMITS, config_archive._name_problem, ConfigArchiveError),
    "ovf_store": (ovf_store.LIMITS, ovf_store._name_problem, OvfStoreError),
}


def _pax_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("vm-1.ovf", OVF[:3000]), ("info.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            info.pax_headers = {"comment": "x" * 10}
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


SEEDS = {
    "config": config_archive.encode(dict.fromkeys(config_archive.MEMBERS, b"key=value\n")),
    "ovf_store": shared_tar.encode(
        {"vm-1.ovf": OVF, "metadata.json": b"{}"}, ovf_store.LIMITS, OvfStoreError
    ),
    "pax": _pax_archive(),
}


def check(data: bytes, reader: str) -> None:
    limits, name_check, error = READERS[reader]
    try:
        members = shared_tar.decode(data, "fuzz", limits, name_check, error)
    except StorageError as e:
        assert type(e) is error, repr(e)
        assert "\n" not in str(e) and str(e).startswith("fuzz: "), str(e)
        return
    assert len(members) <= limits.members
    for name, content in members.items():
        assert name_check(name) is None and len(content) <= limits.member_bytes
        assert name.isprintable() and not name.startswith("/") and ".." not in name.split("/")


# one mutation: (kind, offset as a fraction of the length, bytes)
MUTATION = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate", "append"]),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.binary(min_size=1, max_size=16),
)


def mutate(data: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, chunk in mutations:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= chunk[0] or 1
        elif kind == "set":
            out[at : at + len(chunk)] = chunk
        elif kind == "insert":
            out[at:at] = chunk
        elif kind == "delete":
            del out[at : at + len(chunk) * 8]
        elif kind == "truncate":
            del out[at:]
        else:
            out += chunk
    return bytes(out)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=3 * 512), st.sampled_from(sorted(READERS)))
def test_random_bytes(data: bytes, reader: str) -> None:
    check(data, reader)


@FUZZ
@given(
    st.sampled_from(sorted(SEEDS)),
    st.sampled_from(sorted(READERS)),
    st.lists(MUTATION, min_size=1, max_size=4),
)
def test_mutated_valid_archives(
    seed: str, reader: str, mutations: list[tuple[str, float, bytes]]
) -> None:
    check(mutate(SEEDS[seed], mutations), reader)


@FUZZ
@given(
    st.sampled_from(sorted(SEEDS)),
    st.integers(min_value=0, max_value=511),
    st.binary(min_size=1, max_size=12),
)
def test_mutated_first_header(seed: str, offset: int, chunk: bytes) -> None:
    """Every field of the first header (name, mode, owners, size, mtime, checksum, type,
    magic...), overwritten; the checksum usually catches it, so fix it up half the time."""
    data = bytearray(SEEDS[seed])
    data[offset : offset + len(chunk)] = chunk[: 512 - offset]
    if offset % 2:
        header = data[:512]
        header[148:156] = b" " * 8
        data[148:156] = b"%06o\0 " % sum(header)
    for reader in READERS:
        check(bytes(data), reader)
