"""Fuzzing the metadata codec with what a broken or hostile host could leave in a slot.

Whatever the bytes, decoding fails only with the typed :class:`MetadataError`; a valid
record survives encode -> decode -> encode unchanged; records of older writers (fewer
fields) decode to exactly what they carry; and the ``--vm-status`` views built from any
decodable slot are printable JSON.
"""

from __future__ import annotations

import contextlib
import json
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.errors import MetadataError
from hosted_engine.files.text import terminal_line
from hosted_engine.storage.host_stats import host_status
from hosted_engine.storage.metadata import (
    RECORD_BYTES,
    SLOT_BYTES,
    GlobalFlags,
    HostRecord,
    decode_global,
    decode_slot,
    encode_global,
    encode_slot,
)

FUZZ = settings(max_examples=150, deadline=None)

field_text = st.text(st.characters(codec="utf-8", exclude_characters="|\0"), max_size=40)
records = st.builds(
    HostRecord,
    host_id=st.integers(1, 2000),
    host_ts=st.integers(0, 2**40),
    score=st.integers(-(2**20), 2**20),
    engine_status=st.one_of(
        field_text,
        st.sampled_from(["null", '{"vm": "up", "health": "good", "detail": "Up"}', "NaN"]),
    ),
    hostname=field_text,
    maintenance=st.booleans(),
    stopped=st.booleans(),
    conf_on_shared_storage=st.booleans(),
    local_conf_timestamp=st.integers(0, 2**40),
)
state_md = st.dictionaries(
    st.sampled_from(["state", "maintenance", "stopped", "timeout"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\n\0"), max_size=40),
)


def decodes_or_metadata_error(index: int, data: bytes) -> HostRecord | None:
    try:
        return decode_slot(index, data)
    except MetadataError:
        return None


# --- mutated valid slots ----------------------------------------------------------------------

mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete"]),
        st.integers(0, SLOT_BYTES - 1),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=6,
)


def mutate(slot: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(slot)
    for kind, position, value in edits:
        position %= max(1, len(data))
        if kind == "flip":
            data[position] ^= 1 << (value % 8)
        elif kind == "set":
            data[position] = value
        elif kind == "insert":
            data.insert(position, value)
        elif data:
            del data[position]
    return bytes(data)


@FUZZ
@given(records, state_md, mutations)
def test_mutated_slots_decode_or_fail_typed(
    record: HostRecord, md: dict[str, str], edits: list[tuple[str, int, int]]
) -> None:
    data = mutate(encode_slot(record, md, 0.0), edits)
    decoded = decodes_or_metadata_error(record.host_id, data)
    if decoded is not None:
        view = host_status(decoded, None)
        json.dumps(view, allow_nan=False)  # --json stays JSON
        assert "\n" not in terminal_line(decoded.hostname)


@FUZZ
@given(
    records,
    st.integers(0, 13),
    st.lists(st.tuples(st.integers(0, 13), field_text), max_size=4),
    st.booleans(),
)
def test_records_with_replaced_or_missing_fields_decode_or_fail_typed(
    record: HostRecord, keep: int, replacements: list[tuple[int, str]], fix_crc: bool
) -> None:
    """Fewer fields (as older writers wrote), junk in any field, with or without a CRC
    that matches: the CRC check and the field parsers are reached, not bypassed."""
    tokens = encode_slot(record, {}, 0.0)[:RECORD_BYTES].rstrip(b"\0").decode().split("|")
    tokens = tokens[: max(keep, 1)]
    for index, text in replacements:
        if index < len(tokens):
            tokens[index] = text
    if fix_crc and len(tokens) >= 10:
        zeroed = [*tokens[:9], "00000000", *tokens[10:]]
        tokens[9] = f"{zlib.crc32('|'.join(zeroed).encode()):08x}"
    raw = "|".join(tokens).encode()[:RECORD_BYTES]
    decoded = decodes_or_metadata_error(record.host_id, raw.ljust(SLOT_BYTES, b"\0"))
    if decoded is not None:
        assert decoded.field_count == min(len(raw.decode(errors="replace").split("|")), 12)
        json.dumps(host_status(decoded, True), allow_nan=False)


@FUZZ
@given(st.integers(0, 2001), st.binary(min_size=0, max_size=SLOT_BYTES + 8))
def test_random_bytes_fail_typed(index: int, data: bytes) -> None:
    decodes_or_metadata_error(index, data)
    with contextlib.suppress(MetadataError):
        decode_global(data)


# --- round trips -----------------------------------------------------------------------------


@FUZZ
@given(records, state_md)
def test_valid_records_round_trip(record: HostRecord, md: dict[str, str]) -> None:
    slot = encode_slot(record, md, 0.0)
    decoded = decode_slot(record.host_id, slot)
    assert (decoded.host_id, decoded.host_ts, decoded.score) == (
        record.host_id,
        record.host_ts,
        record.score,
    )
    assert (decoded.engine_status, decoded.hostname) == (record.engine_status, record.hostname)
    assert decoded.field_count == 12 and len(decoded.crc32) == 8
    assert encode_slot(decoded, md, 0.0) == slot


@FUZZ
@given(records, st.sampled_from([7, 8, 9, 10, 11]))
def test_older_formats_decode_to_what_they_carry(record: HostRecord, fields: int) -> None:
    tokens = encode_slot(record, {}, 0.0)[:RECORD_BYTES].rstrip(b"\0").decode().split("|")
    tokens = tokens[:fields]
    if fields >= 10:
        zeroed = [*tokens[:9], "00000000", *tokens[10:]]
        tokens[9] = f"{zlib.crc32('|'.join(zeroed).encode()):08x}"
    decoded = decode_slot(record.host_id, "|".join(tokens).encode().ljust(SLOT_BYTES, b"\0"))
    assert decoded.field_count == fields
    assert decoded.maintenance == (record.maintenance and fields >= 8)
    assert decoded.stopped == (record.stopped and fields >= 9)
    view = host_status(decoded, None)
    assert ("maintenance" in view, "stopped" in view, "crc32" in view) == (
        fields >= 8,
        fields >= 9,
        fields >= 10,
    )
    assert "conf_on_shared_storage" not in view and "local_conf_timestamp" not in view


@FUZZ
@given(st.booleans(), st.lists(st.text(max_size=20), max_size=5))
def test_global_blocks_round_trip_and_junk_lines_only_warn(on: bool, junk: list[str]) -> None:
    block = encode_global(GlobalFlags(maintenance=on))
    assert decode_global(block) == (GlobalFlags(maintenance=on), [])
    text = block.rstrip(b"\0").decode() + "".join(f"\n{line}" for line in junk)
    data = text.encode()[:SLOT_BYTES].ljust(SLOT_BYTES, b"\0")
    try:
        flags, _warnings = decode_global(data)
    except MetadataError:
        return
    assert isinstance(flags, GlobalFlags)
