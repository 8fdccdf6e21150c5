"""The metadata codec: one 4096-byte slot per host, byte-compatible with the reference's v1.

A host slot is a 512-byte ``|``-separated record (the part other hosts act on) followed
by human-readable ``key=value`` lines (the part people read in ``--vm-status``). Slot 0
holds the global flags. Two reference defects are fixed here rather than reproduced:
a block from a newer writer is reported as :class:`MetadataTooNewError`, never parsed
by guesswork (D4), and the human text is cut at a line boundary so a slot can never
spill into the next host's slot (D5).
"""

from __future__ import annotations

import dataclasses
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from hosted_engine.errors import ChecksumError, MetadataError, MetadataTooNewError
from hosted_engine.vm.engine_status import EngineStatus

__all__ = [
    "EXTRA_BYTES",
    "FEATURE_VERSION",
    "FIELD_COUNT",
    "GLOBAL_KEYS",
    "MAX_HOST_ID",
    "PARSE_VERSION",
    "RECORD_BYTES",
    "SLOT_BYTES",
    "TRUNCATED_LINE",
    "BytesLike",
    "GlobalFlags",
    "HostRecord",
    "decode_global",
    "decode_slot",
    "encode_global",
    "encode_record",
    "encode_slot",
]

MAX_HOST_ID = 2000  # the reference scans this many slots; sanlock's maximum host id

SLOT_BYTES = 4096
RECORD_BYTES = 512
EXTRA_BYTES = SLOT_BYTES - RECORD_BYTES
PARSE_VERSION = 1  # the lowest version able to read what we write
FEATURE_VERSION = 1
TRUNCATED_LINE = "truncated=True\n"

BytesLike = bytes | bytearray | memoryview

_MIN_TOKENS = 7
FIELD_COUNT = 12  # what encode_record writes
_CRC_INDEX = 9
_CRC_PLACEHOLDER = "00000000"
_LEADING_DIGITS = re.compile(r"\d+")
_INTEGER = re.compile(r"-?[0-9]+")


PRIORITY_KEY = "ha_priority"  # the extra metadata line hosts publish their priority in


def extra_value(extra: str, wanted: str) -> str | None:
    """The value of the ``wanted=`` line of a record's human text (lines end at ``\n``)."""
    for line in extra.split("\n"):
        key, sep, value = line.partition("=")
        if sep and key == wanted:
            return value
    return None


def priority_from_extra(extra: str) -> int:
    """A host's ``ha_priority`` from its record's text (0 when it publishes none, or a
    malformed one)."""
    raw = extra_value(extra, PRIORITY_KEY) or "0"
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else 0


def state_from_extra(extra: str) -> str | None:
    """The agent's state name from the ``state=`` line of a record's human text."""
    return extra_value(extra, "state")


@dataclass(frozen=True)
class HostRecord:
    """One host's published state; ``extra`` and ``crc32`` are filled in by decoding."""

    host_id: int
    host_ts: int  # the writer's monotonic whole seconds: compare only with its own history
    score: int
    engine_status: str  # raw JSON text, kept as written so a re-encode is byte-identical
    hostname: str
    maintenance: bool
    stopped: bool
    conf_on_shared_storage: bool = True
    local_conf_timestamp: int = 0
    extra: str = ""
    crc32: str = ""
    # How many ``|`` fields the writer wrote: 12 now, 10 from 2015-2016 writers, 8 or 7
    # before. Views show only the keys the writer had (the reference reads the tail
    # fields only when present); encoding always writes all 12.
    field_count: int = FIELD_COUNT

    @property
    def state(self) -> str | None:
        return state_from_extra(self.extra)

    @property
    def engine(self) -> EngineStatus:
        return EngineStatus.from_json(self.engine_status)

    @property
    def priority(self) -> int:
        return priority_from_extra(self.extra)


# --- host slots: encoding -------------------------------------------------------------------


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _crc(tokens: list[str]) -> str:
    """CRC-32 of the joined record with the CRC field itself set to zeros."""
    zeroed = [*tokens[:_CRC_INDEX], _CRC_PLACEHOLDER, *tokens[_CRC_INDEX + 1 :]]
    return f"{zlib.crc32('|'.join(zeroed).encode()):08x}"


def _check_text(host_id: int, what: str, text: str, forbidden: str) -> None:
    """Refuse text that would break the format: separators, NULs, unencodable characters."""
    bad = sorted({c for c in text if c in forbidden})
    if bad:
        raise MetadataError(f"Metadata for host {host_id}: {what} {text[:60]!r} contains {bad}")
    try:
        text.encode()
    except UnicodeEncodeError as e:
        raise MetadataError(
            f"Metadata for host {host_id}: {what} {text[:60]!r} is not encodable as UTF-8: "
            f"{e.reason}"
        ) from None


def encode_record(record: HostRecord) -> str:
    """The 512-byte machine-readable part (without its NUL padding), with a fresh CRC."""
    host_id = record.host_id
    if not 1 <= host_id <= MAX_HOST_ID:
        raise MetadataError(f"host id must be between 1 and {MAX_HOST_ID} (got {host_id})")
    _check_text(host_id, "engine status", record.engine_status, "|\0")
    _check_text(host_id, "hostname", record.hostname, "|\0")
    tokens = [
        str(PARSE_VERSION),
        str(FEATURE_VERSION),
        str(record.host_ts),
        str(host_id),
        str(record.score),
        record.engine_status,
        record.hostname,
        _flag(record.maintenance),
        _flag(record.stopped),
        _CRC_PLACEHOLDER,
        _flag(record.conf_on_shared_storage),
        str(record.local_conf_timestamp),
    ]
    tokens[_CRC_INDEX] = _crc(tokens)
    text = "|".join(tokens)
    size = len(text.encode())
    if size > RECORD_BYTES:
        raise MetadataError(
            f"Metadata for host {host_id}: the record is {size} bytes, more than the "
            f"{RECORD_BYTES} a slot holds (hostname or engine status too long)"
        )
    return text


def _ctime(seconds: float) -> str:
    try:
        return time.ctime(seconds)
    except (OverflowError, ValueError, OSError):
        return "time out of range"


def _extra_lines(record: HostRecord, state_md: Mapping[str, str], epoch_offset: float) -> list[str]:
    lines = [
        f"metadata_parse_version={PARSE_VERSION}",
        f"metadata_feature_version={FEATURE_VERSION}",
        f"timestamp={record.host_ts} ({_ctime(record.host_ts + epoch_offset)})",
        f"host-id={record.host_id}",
        f"score={record.score}",
        f"vm_conf_refresh_time={record.local_conf_timestamp} "
        f"({_ctime(record.local_conf_timestamp + epoch_offset)})",
        f"conf_on_shared_storage={record.conf_on_shared_storage}",
    ]
    for key in sorted(state_md):
        _check_text(record.host_id, "state metadata key", key, "=\n\0")
        _check_text(record.host_id, "state metadata value", state_md[key], "\n\0")
        lines.append(f"{key}={state_md[key]}")
    return [line + "\n" for line in lines]


def _bounded(lines: list[str]) -> bytes:
    """The lines that fit in the slot after the record, cut at a line boundary (D5)."""
    encoded = [line.encode() for line in lines]
    if sum(map(len, encoded)) <= EXTRA_BYTES:
        return b"".join(encoded)
    budget = EXTRA_BYTES - len(TRUNCATED_LINE)
    kept = bytearray()
    for line in encoded:
        if len(kept) + len(line) > budget:
            break
        kept += line
    return bytes(kept) + TRUNCATED_LINE.encode()


def encode_slot(record: HostRecord, state_md: Mapping[str, str], epoch_offset: float) -> bytes:
    """The whole 4096-byte slot; ``record.extra`` is ignored, the text is built afresh.

    ``epoch_offset`` (epoch minus monotonic time) only makes the human-readable
    timestamps readable; nothing machine-read depends on it.
    """
    head = encode_record(record).encode().ljust(RECORD_BYTES, b"\0")
    extra = _bounded(_extra_lines(record, state_md, epoch_offset))
    return (head + extra).ljust(SLOT_BYTES, b"\0")


# --- host slots: decoding -------------------------------------------------------------------


def _until_nul(data: BytesLike) -> bytes:
    raw = bytes(data)
    end = raw.find(0)
    return raw if end < 0 else raw[:end]


def _integer(host: int, what: str, token: str) -> int:
    if not (token.isascii() and token.isdigit()) and not _INTEGER.fullmatch(token):
        raise MetadataError(f"Metadata for host {host}: {what} {token[:40]!r} is not an integer")
    return int(token)


def _zero_or_one(host: int, what: str, token: str) -> bool:
    if token not in ("0", "1"):
        raise MetadataError(f"Metadata for host {host}: {what} {token[:40]!r} is not 0 or 1")
    return token == "1"


def decode_slot(slot_index: int, data: BytesLike) -> HostRecord:
    """Parse one host slot; anything malformed raises a :class:`MetadataError` subclass."""
    host = slot_index
    view = memoryview(data)
    if len(view) < RECORD_BYTES:
        raise MetadataError(
            f"Malformed metadata for host {host}: "
            f"received {len(view)} of {RECORD_BYTES} expected bytes"
        )
    try:
        text = _until_nul(view[:RECORD_BYTES]).decode()
    except UnicodeDecodeError:
        raise MetadataError(f"Malformed metadata for host {host}: record is not UTF-8") from None

    digits = _LEADING_DIGITS.match(text)
    if digits is None:
        raise MetadataError(f"Malformed metadata for host {host}: no metadata version")
    version = int(digits.group())
    if version > PARSE_VERSION:
        raise MetadataTooNewError(
            host,
            version,
            f"Metadata version {version} from host {host} too new for this agent "
            f"(highest compatible version: {PARSE_VERSION})",
        )

    tokens = text.split("|")
    if len(tokens) < _MIN_TOKENS:
        raise MetadataError(
            f"Malformed metadata for host {host}: {len(tokens)} fields, expected at least "
            f"{_MIN_TOKENS}"
        )
    feature = _integer(host, "feature version", tokens[1])
    if feature < FEATURE_VERSION:
        raise MetadataError(
            f"Metadata feature version {feature} from host {host} too old for this agent "
            f"(lowest compatible version: {FEATURE_VERSION})"
        )
    host_id = _integer(host, "host id", tokens[3])
    count = len(tokens)
    crc32 = ""
    if count > _CRC_INDEX:
        crc32, expected = tokens[_CRC_INDEX], _crc(tokens)
        if crc32 != expected:
            raise ChecksumError(
                f"Metadata for host {host}: provided checksum {crc32[:40]!r} "
                f"does not match the data {expected}"
            )
    if host_id != slot_index:
        raise MetadataError(f"Metadata in slot {slot_index} claims to be from host {host_id}")
    # the two conf fields were added together: read them only when both are there
    conf_shared, conf_ts = tokens[10:12] if count >= 12 else ("1", "0")
    return HostRecord(
        host_id=host_id,
        host_ts=_integer(host, "host timestamp", tokens[2]),
        score=_integer(host, "score", tokens[4]),
        engine_status=tokens[5],
        hostname=tokens[6],
        maintenance=_zero_or_one(host, "maintenance", tokens[7] if count > 7 else "0"),
        stopped=_zero_or_one(host, "stopped", tokens[8] if count > 8 else "0"),
        conf_on_shared_storage=_zero_or_one(host, "conf_on_shared_storage", conf_shared),
        local_conf_timestamp=_integer(host, "local_conf_timestamp", conf_ts),
        extra=_until_nul(view[RECORD_BYTES:SLOT_BYTES]).decode(errors="replace"),
        crc32=crc32,
        field_count=min(count, FIELD_COUNT),
    )


# --- global metadata (slot 0) ---------------------------------------------------------------


@dataclass(frozen=True)
class GlobalFlags:
    maintenance: bool = False


GLOBAL_KEYS = frozenset(f.name for f in dataclasses.fields(GlobalFlags))


def _to_bool(key: str, value: str) -> bool:
    """The reference's to_bool: only the first character counts."""
    first = value[:1].lower()
    if first in ("t", "y", "1"):
        return True
    if first in ("f", "n", "0"):
        return False
    raise MetadataError(f"Global metadata: {key}={value[:40]!r} is not a boolean")


def encode_global(flags: GlobalFlags) -> bytes:
    """``maintenance=1`` and nothing else: no trailing newline.

    The reference's reader splits the NUL-stripped block on newlines and takes every
    piece as ``key=value``, so a trailing newline is an empty "key" it complains about
    (``Invalid global metadata key``) on every read of every host.
    """
    text = "\n".join(f"{key}={_flag(getattr(flags, key))}" for key in sorted(GLOBAL_KEYS))
    return text.encode().ljust(SLOT_BYTES, b"\0")


def decode_global(data: BytesLike) -> tuple[GlobalFlags, list[str]]:
    """The flags and a warning per line we do not understand (they are not fatal)."""
    view = memoryview(data)
    if len(view) < SLOT_BYTES:
        raise MetadataError(
            f"Malformed global metadata: received {len(view)} of {SLOT_BYTES} expected bytes"
        )
    try:
        text = _until_nul(view[:SLOT_BYTES]).decode()
    except UnicodeDecodeError:
        raise MetadataError("Malformed global metadata: not UTF-8") from None
    values: dict[str, bool] = {}
    warnings: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            warnings.append(f"Invalid global metadata line: {line[:60]!r}")
        elif key not in GLOBAL_KEYS:
            warnings.append(f"Invalid global metadata key: {key[:60]!r}")
        else:
            values[key] = _to_bool(key, value)
    return GlobalFlags(**values), warnings
