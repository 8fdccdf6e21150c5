"""Host records in the shape ``hosted-engine --vm-status --json`` prints (ha-anchor §7.2).

Kept in one place so the broker's answer and the client's direct read of a domain (no
daemon running) can never drift apart.
"""

from __future__ import annotations

import json
from typing import Any

from hosted_engine.storage.metadata import HostRecord
from hosted_engine.vm.engine_status import UNKNOWN_ENGINE_STATUS


def engine_status_value(raw: str) -> Any:
    """The published engine status as the reference shows it: the JSON value itself.

    A writer publishes JSON ``null`` before its engine-health monitor has a value; it is
    shown as ``null``, not replaced by a made-up status (the agent still treats it as
    unknown). Only text that is not JSON at all, which the reference cannot show either,
    becomes the unknown status.
    """
    try:
        return json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return UNKNOWN_ENGINE_STATUS.to_dict()


def _not_json(word: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extensions, not JSON: --json must stay JSON."""
    raise ValueError(f"{word} is not JSON")


def host_status(record: HostRecord, live_data: bool | None) -> dict[str, Any]:
    """The reference's keys in its order; ``live-data`` None means no broker could judge it.

    Records of older writers have fewer fields, and the reference reads (and so shows)
    the optional tail only when present (ha-anchor §3.1): 8 fields give ``maintenance``,
    9 ``stopped``, 10 ``crc32``, 12 the two conf fields. Nothing is invented for them.
    """
    fields = record.field_count
    status: dict[str, Any] = {
        "host-id": record.host_id,
        "host-ts": record.host_ts,
        "score": record.score,
        "engine-status": engine_status_value(record.engine_status),
        "hostname": record.hostname,
    }
    if fields >= 8:
        status["maintenance"] = record.maintenance
    if fields >= 9:
        status["stopped"] = record.stopped
    if fields >= 10:
        status["crc32"] = record.crc32
    if fields >= 12:
        status["conf_on_shared_storage"] = record.conf_on_shared_storage
        status["local_conf_timestamp"] = record.local_conf_timestamp
    status["extra"] = record.extra
    if live_data is not None:
        status["live-data"] = live_data
    return status
