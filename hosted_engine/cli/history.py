"""``--history`` text: one line per start or stop, oldest first, as patronictl shows its."""

from __future__ import annotations

import time

from hosted_engine.client import HistoryEntry

_HEADER = ("Time", "Event", "Host", "From", "Cause", "Down (s)", "Detail")


def render_history(entries: list[HistoryEntry]) -> str:
    rows = [
        (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at)),
            e.event.value,
            str(e.host_id),
            "-" if e.from_host is None else str(e.from_host),
            e.cause.value,
            "-" if e.downtime is None else f"{e.downtime:.1f}",
            e.detail.replace("\n", " ")[:80],
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in (_HEADER, *rows)) for i in range(len(_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (_HEADER, *rows)
    )
