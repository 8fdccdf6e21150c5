"""The lab's live status view: one screen that says where the engine runs and why."""

from __future__ import annotations

import time
from typing import Any

from hosted_engine.files.text import terminal_line


def render(status: dict[str, Any]) -> str:
    engine = "healthy" if status["engine_healthy"] else "NOT healthy"
    where = status["engine_host"]
    lines = [
        f"hosted-engine lab  {status['dir']}  (profile {status['profile']})",
        f"engine: {engine} at {status['engine_url']}"
        + (f"  running on host {where}" if where else "  not running"),
    ]
    if status.get("manager_url"):
        password = status.get("admin_password") or "(not yet created)"
        lines.append(f"manager: {status['manager_url']}  login {status['admin_user']} / {password}")
    lines += [
        "",
        f"{'host':<6}{'broker':<9}{'agent':<9}{'VM':<5}{'state':<24}{'score':>6}  "
        f"{'engine':<14}{'lease':<10}last reset",
    ]
    for h in status["hosts"]:
        engine_status = h["engine"] or {}
        vm = "<==" if h["id"] == where else ""
        health = (
            f"{engine_status.get('vm', '-')}/{engine_status.get('health', '-')}"
            if h["live"] is not False
            else "stale"
        )
        state = terminal_line(h["state"] or "-")  # from the host's slot: never raw
        lease = terminal_line(h.get("lease") or "-")
        reset = h.get("last_reset")
        when = time.strftime("%H:%M:%S", time.localtime(reset)) if reset else "-"
        lines.append(
            f"{h['id']:<6}{h['broker']:<9}{h['agent']:<9}{vm:<5}{state:<24}"
            f"{h['score'] if h['score'] is not None else '-':>6}  {health:<14}{lease:<10}{when}"
        )
    return "\n".join(lines)
