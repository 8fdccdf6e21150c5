"""Property tests: encoding round-trips, and no input makes the decoder fail any other way."""

from __future__ import annotations

import contextlib
import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.errors import MetadataError
from hosted_engine.storage.metadata import (
    EXTRA_BYTES,
    RECORD_BYTES,
    SLOT_BYTES,
    TRUNCATED_LINE,
    HostRecord,
    decode_global,
    decode_slot,
    encode_record,
    encode_slot,
)

# Text the record can carry: no field separator, no NUL (the padding). Sizes are chosen
# so that even 4-byte characters keep the record within 512 bytes.
field_text = st.text(st.characters(codec="utf-8", exclude_characters="|\0"), max_size=45)
non_negative = st.integers(min_value=0, max_value=2**48)

records = st.builds(
    HostRecord,
    host_id=st.integers(min_value=1, max_value=2000),
    host_ts=non_negative,
    score=st.integers(min_value=-(2**31), max_value=2**31),
    engine_status=field_text,
    hostname=field_text,
    maintenance=st.booleans(),
    stopped=st.booleans(),
    conf_on_shared_storage=st.booleans(),
    local_conf_timestamp=non_negative,
)
state_metadata = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_characters="=\n\0"), min_size=1, max_size=30),
    st.text(st.characters(codec="utf-8", exclude_characters="\n\0"), max_size=300),
    max_size=20,
)
epoch_offsets = st.floats(min_value=0, max_value=2e9, allow_nan=False)


@given(records, state_metadata, epoch_offsets)
def test_encode_then_decode_is_identity(
    record: HostRecord, state_md: dict[str, str], epoch_offset: float
) -> None:
    slot = encode_slot(record, state_md, epoch_offset)
    assert len(slot) == SLOT_BYTES
    decoded = decode_slot(record.host_id, slot)
    assert dataclasses.replace(decoded, extra="", crc32="") == record
    assert encode_slot(decoded, state_md, epoch_offset) == slot
    assert len(decoded.extra.encode()) <= EXTRA_BYTES
    if not decoded.extra.endswith(TRUNCATED_LINE) and "state" in state_md:
        assert decoded.state == state_md["state"]


@given(
    records,
    st.text(st.characters(codec="utf-8", exclude_characters="|\0"), min_size=400, max_size=600),
)
def test_records_over_512_bytes_are_refused_never_cut(record: HostRecord, hostname: str) -> None:
    record = dataclasses.replace(record, hostname=hostname)
    try:
        text = encode_record(record)
    except MetadataError as e:
        assert "more than the 512" in str(e)
    else:
        assert len(text.encode()) <= RECORD_BYTES
        assert decode_slot(record.host_id, encode_slot(record, {}, 0.0)).hostname == hostname


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=2001), st.binary(max_size=SLOT_BYTES + 10))
def test_arbitrary_bytes_fail_only_with_metadata_errors(slot_index: int, data: bytes) -> None:
    with contextlib.suppress(MetadataError):
        decode_slot(slot_index, data)
    with contextlib.suppress(MetadataError):
        decode_global(data)


# Near-miss records reach the deeper parse rules that random bytes rarely get past.
record_like = st.lists(
    st.text(alphabet="0123456789-abcdef{}\"' ", max_size=12), min_size=1, max_size=14
).map("|".join)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=3), record_like, st.binary(max_size=64))
def test_near_miss_records_fail_only_with_metadata_errors(
    slot_index: int, record: str, tail: bytes
) -> None:
    data = record.encode()[:RECORD_BYTES].ljust(RECORD_BYTES, b"\0") + tail
    with contextlib.suppress(MetadataError):
        decode_slot(slot_index, data)


@given(records, state_metadata, st.integers(min_value=0, max_value=SLOT_BYTES - 1))
def test_any_flipped_byte_is_detected_or_harmless(
    record: HostRecord, state_md: dict[str, str], position: int
) -> None:
    """A corrupted record never decodes to different machine-readable values."""
    slot = bytearray(encode_slot(record, state_md, 0.0))
    slot[position] ^= 0x01
    try:
        decoded = decode_slot(record.host_id, bytes(slot))
    except MetadataError:
        return
    if position < len(encode_record(record).encode()):
        raise AssertionError("a flipped record byte went unnoticed")
    assert dataclasses.replace(decoded, extra="", crc32="") == record
