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

# Every slot is written by another host, so nothing from one may reach the terminal raw:
# an escape sequence could rewrite the screen, a line break could fake a whole host
# block. C0, DEL and C1 controls and the Unicode line and paragraph separators are shown
# as \xHH / \uHHHH escapes; everything else (backslashes included) prints as written.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0)]
_ESCAPES = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in (0x2028, 0x2029)}


def escape(value: object) -> str:
    """``value`` as one line of plain text, safe to print on a terminal."""
    return str(value).translate(_ESCAPES)


def _host_text(host: Mapping[str, Any]) -> str:
    name, host_id = escape(host.get("hostname")), escape(host.get("host-id"))
    lines = [f"\n\n--== Host {name} (id: {host_id}) status ==--\n"]
    live = host.get("live-data")
    for key, value in host.items():
        if key == "extra":
            continue
        label = LABELS.get(key, key)
        if key == "engine-status":
            value = json.dumps(value) if live is not False else "unknown stale-data"
        elif key == "live-data" and value is None:
            value = "unknown"
        lines.append(f"{escape(label):35}: {escape(value)}")
    if "live-data" not in host:
        lines.append(f"{LABELS['live-data']:35}: unknown (no local broker; read from storage)")
    extra = str(host.get("extra", "")).rstrip("\n")
    lines.append(f"{LABELS['extra']:35}:")
    # one printed line per written line: a \r, \v, U+2028... inside one is escaped, and
    # never starts a line of its own
    lines.extend(f"\t{escape(line)}" for line in (extra.split("\n") if extra else ()))
    return "\n".join(lines)


def render_text(status: ClusterStatus) -> str:
    """The reference prints the banner, each host, then the banner again, line by line.

    With no host at all that is the banner twice when global maintenance is on, and
    nothing otherwise (the caller then exits 1, as the reference does for an empty
    host dict).
    """
    banner = BANNER if status.global_maintenance else ""
    hosts = "".join(_host_text(host) + "\n" for _, host in sorted(status.hosts.items()))
    return banner + hosts + banner


def render_json(status: ClusterStatus) -> str:
    return json.dumps(status.to_json_dict())
