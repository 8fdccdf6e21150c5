"""Host records in the shape ``hosted-engine --vm-status --json`` prints (ha-anchor §7.2).

Kept in one place so the broker's answer and the client's direct read of a domain (no
daemon running) can never drift apart.
"""

from __future__ import annotations

from typing import Any

from hosted_engine.storage.metadata import HostRecord


def host_status(record: HostRecord, live_data: bool | None) -> dict[str, Any]:
    """The reference's key order; ``live-data`` None means no broker could judge it."""
    status: dict[str, Any] = {
        "host-id": record.host_id,
        "host-ts": record.host_ts,
        "score": record.score,
        "engine-status": record.engine.to_dict(),
        "hostname": record.hostname,
        "maintenance": record.maintenance,
        "stopped": record.stopped,
        "crc32": record.crc32,
        "conf_on_shared_storage": record.conf_on_shared_storage,
        "local_conf_timestamp": record.local_conf_timestamp,
        "extra": record.extra,
    }
    if live_data is not None:
        status["live-data"] = live_data
    return status
