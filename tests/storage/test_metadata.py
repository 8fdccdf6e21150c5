"""The slot codec against ha-anchor §3.1/§3.2: layout, CRC, every parse rule, D4 and D5."""

from __future__ import annotations

import dataclasses
import time
import zlib

import pytest

from hosted_engine.errors import ChecksumError, MetadataError, MetadataTooNewError
from hosted_engine.storage.metadata import (
    EXTRA_BYTES,
    RECORD_BYTES,
    SLOT_BYTES,
    TRUNCATED_LINE,
    GlobalFlags,
    HostRecord,
    decode_global,
    decode_slot,
    encode_global,
    encode_record,
    encode_slot,
)
from hosted_engine.vm.engine_status import EngineStatus

REFERENCE_RECORD = (
    '1|1|2964731|1|3400|{"vm": "up", "health": "good", "detail": "Up"}'
    "|host1.example.com|0|0|aad55945|1|2964725"
)
STATE_MD = {"maintenance": "False", "state": "EngineUp", "stopped": "False"}
EPOCH_OFFSET = 1_700_000_000.0


def raw_slot(record: str, extra: str = "") -> bytes:
    return record.encode().ljust(RECORD_BYTES, b"\0") + extra.encode().ljust(EXTRA_BYTES, b"\0")


def with_crc(tokens: list[str]) -> str:
    """The reference's rule, stated independently: CRC-32 of the record, field 9 zeroed."""
    zeroed = [*tokens[:9], "00000000", *tokens[10:]]
    return "|".join([*tokens[:9], f"{zlib.crc32('|'.join(zeroed).encode()):08x}", *tokens[10:]])


def reference_tokens() -> list[str]:
    return REFERENCE_RECORD.split("|")


def sample_record(**changes: object) -> HostRecord:
    record = HostRecord(
        host_id=2,
        host_ts=1875020,
        score=3400,
        engine_status=EngineStatus("down", "bad", "unknown", "vm not running").to_json(),
        hostname="host2.example.com",
        maintenance=False,
        stopped=False,
        local_conf_timestamp=1875014,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


# --- the reference example ------------------------------------------------------------------


def test_reference_example_crc_is_crc32_with_field_9_zeroed() -> None:
    assert with_crc(reference_tokens()) == REFERENCE_RECORD


def test_reference_example_decodes() -> None:
    record = decode_slot(1, raw_slot(REFERENCE_RECORD))
    assert record == HostRecord(
        host_id=1,
        host_ts=2964731,
        score=3400,
        engine_status='{"vm": "up", "health": "good", "detail": "Up"}',
        hostname="host1.example.com",
        maintenance=False,
        stopped=False,
        conf_on_shared_storage=True,
        local_conf_timestamp=2964725,
        extra="",
        crc32="aad55945",
    )
    assert record.engine == EngineStatus("up", "good", "Up")


def test_reference_example_reencodes_byte_identically() -> None:
    record = decode_slot(1, raw_slot(REFERENCE_RECORD))
    assert encode_record(record) == REFERENCE_RECORD
    assert (
        encode_slot(record, STATE_MD, EPOCH_OFFSET)[:RECORD_BYTES]
        == raw_slot(REFERENCE_RECORD)[:RECORD_BYTES]
    )


# --- encoding layout ------------------------------------------------------------------------


def test_slot_layout_matches_the_reference() -> None:
    record = sample_record()
    slot = encode_slot(record, {"stopped": "False", "state": "EngineDown"}, EPOCH_OFFSET)
    assert len(slot) == SLOT_BYTES
    head = slot[:RECORD_BYTES].rstrip(b"\0").decode()
    assert head == encode_record(record)
    extra = slot[RECORD_BYTES:].rstrip(b"\0").decode()
    assert extra == (
        "metadata_parse_version=1\n"
        "metadata_feature_version=1\n"
        f"timestamp=1875020 ({time.ctime(1875020 + EPOCH_OFFSET)})\n"
        "host-id=2\n"
        "score=3400\n"
        f"vm_conf_refresh_time=1875014 ({time.ctime(1875014 + EPOCH_OFFSET)})\n"
        "conf_on_shared_storage=True\n"
        "state=EngineDown\n"
        "stopped=False\n"
    )


def test_decoded_slot_round_trips_byte_identically() -> None:
    slot = encode_slot(sample_record(maintenance=True, stopped=True), STATE_MD, EPOCH_OFFSET)
    record = decode_slot(2, slot)
    assert record.maintenance and record.stopped
    assert record.state == "EngineUp"
    assert record.crc32 == encode_record(record).split("|")[9]
    assert encode_slot(record, STATE_MD, EPOCH_OFFSET) == slot


def test_state_is_none_without_a_state_line() -> None:
    assert decode_slot(2, encode_slot(sample_record(), {}, 0.0)).state is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hostname": "a|b"}, "hostname"),
        ({"engine_status": '{"vm": "x|y"}'}, "engine status"),
        ({"hostname": "a\0b"}, "hostname"),
        ({"hostname": "h" * 600}, "more than the 512"),
        ({"engine_status": "é" * 230}, "more than the 512"),  # 460 chars of 2 bytes
        ({"hostname": "h\ud800"}, "not encodable as UTF-8"),
        ({"host_id": 0}, "between 1 and 2000"),
        ({"host_id": 2001}, "between 1 and 2000"),
    ],
)
def test_records_that_cannot_be_written_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(MetadataError, match=message):
        encode_slot(sample_record(**changes), {}, 0.0)


@pytest.mark.parametrize(
    "state_md",
    [{"a=b": "1"}, {"a\nb": "1"}, {"state": "x\ny=z"}, {"state": "x\0"}, {"s": "\udc80"}],
)
def test_state_metadata_that_would_forge_lines_is_refused(state_md: dict[str, str]) -> None:
    with pytest.raises(MetadataError, match="state metadata"):
        encode_slot(sample_record(), state_md, 0.0)


# --- D5: the human text never spills past the slot ------------------------------------------


def test_huge_state_metadata_is_cut_at_a_line_boundary() -> None:
    state_md = {f"key{i:04}": "v" * 50 for i in range(200)} | {"state": "EngineUp"}
    slot = encode_slot(sample_record(), state_md, EPOCH_OFFSET)
    assert len(slot) == SLOT_BYTES
    extra = decode_slot(2, slot).extra
    assert extra.endswith("\n" + TRUNCATED_LINE)
    kept = extra.removesuffix(TRUNCATED_LINE).splitlines()
    assert kept[-1] == f"key{len(kept) - 8:04}=" + "v" * 50  # whole lines, in key order
    assert len(extra.encode()) <= EXTRA_BYTES


def test_single_line_longer_than_the_slot_is_dropped_whole() -> None:
    slot = encode_slot(sample_record(), {"a": "x" * 5000, "state": "EngineUp"}, 0.0)
    extra = decode_slot(2, slot).extra
    assert "a=" not in extra and "state=" not in extra  # cut at the first line that overflows
    assert extra.endswith("conf_on_shared_storage=True\n" + TRUNCATED_LINE)


def test_text_that_just_fits_is_not_marked_truncated() -> None:
    base = encode_slot(sample_record(), {}, EPOCH_OFFSET)
    used = len(base[RECORD_BYTES:].rstrip(b"\0"))
    filler = "x" * (EXTRA_BYTES - used - len("k=\n"))
    slot = encode_slot(sample_record(), {"k": filler}, EPOCH_OFFSET)
    assert slot[-1:] == b"\n"  # the text fills the slot exactly
    assert decode_slot(2, slot).extra.endswith(f"k={filler}\n")


# --- parse rules ----------------------------------------------------------------------------


def test_fewer_than_512_bytes_is_malformed() -> None:
    with pytest.raises(MetadataError, match="received 511 of 512 expected bytes"):
        decode_slot(1, raw_slot(REFERENCE_RECORD)[:511])


def test_exactly_512_bytes_is_enough() -> None:
    assert decode_slot(1, raw_slot(REFERENCE_RECORD)[:512]).extra == ""


@pytest.mark.parametrize("record", ["2|1|x", "17|garbage", "2", "10|1|2964731|1|3400"])
def test_newer_parse_version_is_reported_not_guessed(record: str) -> None:
    """D4: whatever follows, a newer version is an error carrying host and version."""
    with pytest.raises(MetadataTooNewError) as caught:
        decode_slot(5, raw_slot(record))
    version = int(record.split("|")[0])
    assert caught.value.host_id == 5
    assert caught.value.version == version
    assert str(caught.value) == (
        f"Metadata version {version} from host 5 too new for this agent "
        "(highest compatible version: 1)"
    )


@pytest.mark.parametrize("record", ["", "|1|2", "x1|1|2|3|4|5|6", " 1|1|2|1|4|5|6"])
def test_record_without_a_leading_version_is_malformed(record: str) -> None:
    with pytest.raises(MetadataError, match="no metadata version"):
        decode_slot(1, raw_slot(record) if record else b"\x01" + bytes(SLOT_BYTES - 1))


def test_fewer_than_seven_fields_is_malformed() -> None:
    with pytest.raises(MetadataError, match="6 fields, expected at least 7"):
        decode_slot(1, raw_slot("1|1|100|1|3400|{}"))


def test_older_feature_version_is_too_old() -> None:
    with pytest.raises(MetadataError, match="feature version 0 from host 1 too old"):
        decode_slot(1, raw_slot("1|0|100|1|3400|{}|h"))


def test_seven_fields_decode_with_defaults_for_the_optional_tail() -> None:
    record = decode_slot(1, raw_slot("1|1|100|1|3400|{}|h"))
    assert record == HostRecord(1, 100, 3400, "{}", "h", False, False, True, 0, "", "", 7)


def test_eight_and_nine_fields_give_maintenance_then_stopped() -> None:
    assert decode_slot(1, raw_slot("1|1|100|1|3400|{}|h|1")).maintenance
    record = decode_slot(1, raw_slot("1|1|100|1|3400|{}|h|0|1"))
    assert (record.maintenance, record.stopped, record.crc32) == (False, True, "")
    assert record.field_count == 9


def test_ten_fields_carry_a_checked_crc_but_no_conf_fields() -> None:
    record_text = with_crc(["1", "1", "100", "1", "3400", "{}", "h", "0", "1", ""])
    record = decode_slot(1, raw_slot(record_text))
    assert record.crc32 == record_text.split("|")[9]
    assert (record.conf_on_shared_storage, record.local_conf_timestamp) == (True, 0)


def test_eleven_fields_do_not_read_half_of_the_conf_pair() -> None:
    record_text = with_crc(["1", "1", "100", "1", "3400", "{}", "h", "0", "1", "", "0"])
    assert decode_slot(1, raw_slot(record_text)).conf_on_shared_storage is True


def test_newer_feature_version_with_extra_fields_still_decodes() -> None:
    tokens = [*reference_tokens(), "future"]
    tokens[1] = "2"
    record = decode_slot(1, raw_slot(with_crc(tokens)))
    assert record.host_ts == 2964731


def test_crc_mismatch_is_a_checksum_error() -> None:
    tampered = REFERENCE_RECORD.replace("|3400|", "|3401|")
    with pytest.raises(ChecksumError) as caught:
        decode_slot(1, raw_slot(tampered))
    expected = with_crc(tampered.split("|")).split("|")[9]
    assert str(caught.value) == (
        f"Metadata for host 1: provided checksum 'aad55945' does not match the data {expected}"
    )


def test_empty_crc_field_is_a_mismatch_not_a_pass() -> None:
    with pytest.raises(ChecksumError):
        decode_slot(1, raw_slot(REFERENCE_RECORD.replace("aad55945", "")))


def test_host_id_must_match_the_slot() -> None:
    with pytest.raises(MetadataError, match="slot 2 claims to be from host 1"):
        decode_slot(2, raw_slot(REFERENCE_RECORD))


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (1, "x", "feature version 'x' is not an integer"),
        (2, "12a", "host timestamp '12a' is not an integer"),
        (3, "", "host id '' is not an integer"),
        (4, "1_0", "score '1_0' is not an integer"),
        (7, "yes", "maintenance 'yes' is not 0 or 1"),
        (8, "2", "stopped '2' is not 0 or 1"),
        (10, "True", "conf_on_shared_storage 'True' is not 0 or 1"),
        (11, " 5", "local_conf_timestamp ' 5' is not an integer"),
    ],
)
def test_malformed_fields_are_errors(index: int, value: str, message: str) -> None:
    tokens = reference_tokens()
    tokens[index] = value
    with pytest.raises(MetadataError, match=message):
        decode_slot(1, raw_slot(with_crc(tokens)))


def test_record_that_is_not_utf8_is_malformed() -> None:
    data = bytearray(raw_slot(REFERENCE_RECORD))
    data[100] = 0xFF
    with pytest.raises(MetadataError, match="not UTF-8"):
        decode_slot(1, bytes(data))


def test_bad_utf8_in_the_human_text_does_not_lose_the_record() -> None:
    data = raw_slot(REFERENCE_RECORD, "state=EngineUp\n")[: SLOT_BYTES - 1] + b"\xff"
    assert decode_slot(1, data).state == "EngineUp"


def test_decoding_accepts_a_memoryview_of_a_larger_buffer() -> None:
    buffer = bytearray(SLOT_BYTES) + raw_slot(REFERENCE_RECORD, "state=EngineUp\n")
    view = memoryview(buffer)[SLOT_BYTES:]
    assert decode_slot(1, view).state == "EngineUp"


# --- global metadata ------------------------------------------------------------------------


def test_global_flags_round_trip() -> None:
    for flags in (GlobalFlags(), GlobalFlags(maintenance=True)):
        block = encode_global(flags)
        assert len(block) == SLOT_BYTES
        assert decode_global(block) == (flags, [])


def test_global_block_format() -> None:
    assert encode_global(GlobalFlags(maintenance=True)).rstrip(b"\0") == b"maintenance=1"
    assert encode_global(GlobalFlags(maintenance=False)).rstrip(b"\0") == b"maintenance=0"


def _reference_global_reader(block: bytes) -> tuple[dict[str, bool], list[str]]:
    """The reference reader's rule (ha-anchor 3.2, facts only): strip the NUL padding,
    split on newlines, every piece is ``key=value``, any other key is an error line."""
    values: dict[str, bool] = {}
    errors: list[str] = []
    for token in block.decode().rstrip("\0").split("\n"):
        key, _, value = token.partition("=")
        if key == "maintenance":
            values[key] = value[:1].lower() in ("t", "y", "1")
        else:
            errors.append(f"Invalid global metadata key: {token}")
    return values, errors


@pytest.mark.parametrize("on", [False, True])
def test_the_reference_reader_takes_our_global_block_without_complaint(on: bool) -> None:
    assert _reference_global_reader(encode_global(GlobalFlags(maintenance=on))) == (
        {"maintenance": on},
        [],
    )


def test_a_trailing_newline_written_by_older_versions_still_decodes() -> None:
    block = b"maintenance=1\n".ljust(SLOT_BYTES, b"\0")
    assert decode_global(block) == (GlobalFlags(maintenance=True), [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[("1", True), ("True", True), ("yes", True), ("t", True), ("Y", True)],
        *[("0", False), ("false", False), ("No", False), ("F", False)],
    ],
)
def test_global_values_are_normalised_like_to_bool(value: str, expected: bool) -> None:
    block = f"maintenance={value}".encode().ljust(SLOT_BYTES, b"\0")
    assert decode_global(block) == (GlobalFlags(maintenance=expected), [])


@pytest.mark.parametrize("value", ["", "2", "on", "maybe"])
def test_global_value_that_is_not_a_boolean_is_an_error(value: str) -> None:
    block = f"maintenance={value}\n".encode().ljust(SLOT_BYTES, b"\0")
    with pytest.raises(MetadataError, match="is not a boolean"):
        decode_global(block)


def test_unknown_global_keys_and_lines_are_warnings() -> None:
    text = "colour=blue\nmaintenance=1\n\njunk\n"
    flags, warnings = decode_global(text.encode().ljust(SLOT_BYTES, b"\0"))
    assert flags == GlobalFlags(maintenance=True)
    assert warnings == [
        "Invalid global metadata key: 'colour'",
        "Invalid global metadata line: 'junk'",
    ]


def test_empty_global_block_means_defaults() -> None:
    assert decode_global(bytes(SLOT_BYTES)) == (GlobalFlags(), [])


def test_short_global_block_is_rejected() -> None:
    with pytest.raises(MetadataError, match="received 4095 of 4096 expected bytes"):
        decode_global(encode_global(GlobalFlags())[:4095])


def test_global_block_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(MetadataError, match="not UTF-8"):
        decode_global(b"maintenance=\xff".ljust(SLOT_BYTES, b"\0"))
