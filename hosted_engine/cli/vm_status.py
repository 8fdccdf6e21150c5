"""``--vm-status`` output: the reference's text layout (ha-anchor §7.1) and JSON (§7.2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hosted_engine.broker_contract import ScoreBreakdown, breakdown_from_extra
from hosted_engine.client import ClusterStatus
from hosted_engine.errors import ContractError
from hosted_engine.files.text import terminal_line
from hosted_engine.storage.metadata import state_from_extra

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
    name, host_id = terminal_line(host.get("hostname")), terminal_line(host.get("host-id"))
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
        lines.append(f"{terminal_line(label):35}: {terminal_line(value)}")
    if "live-data" not in host:
        lines.append(f"{LABELS['live-data']:35}: unknown (no local broker; read from storage)")
    extra = str(host.get("extra", "")).rstrip("\n")
    lines.append(f"{LABELS['extra']:35}:")
    # one printed line per written line: a \r, \v, U+2028... inside one is escaped, and
    # never starts a line of its own
    lines.extend(f"\t{terminal_line(line)}" for line in (extra.split("\n") if extra else ()))
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


# --- --explain: each host's score, term by term ----------------------------------------------


def _breakdown(host: Mapping[str, Any]) -> ScoreBreakdown | str:
    """The host's published breakdown, or why there is none to show."""
    try:
        breakdown = breakdown_from_extra(str(host.get("extra", "")))
    except ContractError as e:
        return f"unreadable breakdown: {e}"
    if breakdown is None:
        return "no breakdown published (agent not running, or an older version)"
    return breakdown


def _explain_host(host_id: int, host: Mapping[str, Any]) -> str:
    state = state_from_extra(str(host.get("extra", ""))) or "unknown"
    stale = " (stale data)" if host.get("live-data") is False else ""
    lines = [
        f"Host {host.get('hostname')} (id: {host_id}), state {state}: "
        f"score {host.get('score')}{stale}"
    ]
    breakdown = _breakdown(host)
    if isinstance(breakdown, str):
        return "\n".join([*lines, f"    {breakdown}"])
    lines.append(f"    {'base score':32}{breakdown.base:>6}")
    lines.extend(f"    {what:32}{-points:>6}" for what, points in breakdown.penalties)
    if breakdown.zero_because is not None:
        lines.append(f"    forced to 0: {breakdown.zero_because}")
    lines.append(f"    {'= score':32}{breakdown.total:>6}")
    return "\n".join(lines)


def render_explain(status: ClusterStatus) -> str:
    """``--vm-status --explain``: why every host scores what it does."""
    banner = "!! Cluster is in GLOBAL MAINTENANCE mode !!\n\n" if status.global_maintenance else ""
    return banner + "\n\n".join(_explain_host(h, v) for h, v in sorted(status.hosts.items())) + "\n"


def render_explain_json(status: ClusterStatus) -> str:
    """``--vm-status --explain --json``: the same, one object per host id."""
    out: dict[str, Any] = {}
    for host_id, host in sorted(status.hosts.items()):
        breakdown = _breakdown(host)
        entry: dict[str, Any] = {
            "score": host.get("score"),
            "state": state_from_extra(str(host.get("extra", ""))),
            "live-data": host.get("live-data"),
        }
        if isinstance(breakdown, str):
            entry["error"] = breakdown
        else:
            entry["base"] = breakdown.base
            entry["penalties"] = [[what, points] for what, points in breakdown.penalties]
            entry["zero_because"] = breakdown.zero_because
            entry["total"] = breakdown.total
        out[str(host_id)] = entry
    return json.dumps(out)
