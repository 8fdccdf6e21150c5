"""``--vm-status`` output: the reference's text layout (ha-anchor §7.1) and JSON (§7.2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hosted_engine.client import ClusterStatus

LABELS = {
    "host-id": "Host ID",
    "host-ts": "Host timestamp",
    "score": "Score",
    "engine-status": "Engine status",
    "hostname": "Hostname",
    "maintenance": "Local maintenance",
    "live-data": "Status up-to-date",
    "extra": "Extra metadata (valid at timestamp)",
}
BANNER = "\n\n!! Cluster is in GLOBAL MAINTENANCE mode !!\n\n"


def _host_text(host: Mapping[str, Any]) -> str:
    lines = [f"\n\n--== Host {host.get('hostname')} (id: {host.get('host-id')}) status ==--\n"]
    live = host.get("live-data")
    for key, value in host.items():
        if key == "extra":
            continue
        label = LABELS.get(key, key)
        if key == "engine-status":
            value = json.dumps(value) if live is not False else "unknown stale-data"
        elif key == "live-data" and value is None:
            value = "unknown"
        lines.append(f"{label:35}: {value}")
    if "live-data" not in host:
        lines.append(f"{LABELS['live-data']:35}: unknown (no local broker; read from storage)")
    extra = str(host.get("extra", "")).rstrip("\n")
    lines.append(f"{LABELS['extra']:35}:")
    lines.extend(f"\t{line}" for line in extra.splitlines())
    return "\n".join(lines)


def render_text(status: ClusterStatus) -> str:
    """The reference prints the banner, each host, then the banner again, line by line."""
    banner = BANNER if status.global_maintenance else ""
    hosts = "".join(_host_text(host) + "\n" for _, host in sorted(status.hosts.items()))
    return banner + hosts + banner


def render_json(status: ClusterStatus) -> str:
    return json.dumps(status.to_json_dict())
