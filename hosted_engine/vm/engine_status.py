"""The engine-health value every host publishes in its metadata record.

Kept apart from the VM backend interface so that reading the whiteboard (every
``--vm-status``) does not load the backend machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineStatus:
    """The engine-health value published in metadata (reference JSON keys and words).

    vm: up | down | down_unexpected | down_missing | unknown
    health: good | bad | unknown
    """

    vm: str
    health: str
    detail: str
    reason: str | None = None

    def to_dict(self) -> dict[str, str]:
        d = {"vm": self.vm, "health": self.health, "detail": self.detail}
        if self.reason is not None:
            d["reason"] = self.reason
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> EngineStatus:
        if not isinstance(data, dict):
            return UNKNOWN_ENGINE_STATUS
        reason = data.get("reason")
        return cls(
            vm=str(data.get("vm", "unknown")),
            health=str(data.get("health", "unknown")),
            detail=str(data.get("detail", "unknown")),
            reason=None if reason is None else str(reason),
        )

    @classmethod
    def from_json(cls, text: str) -> EngineStatus:
        try:
            return cls.from_dict(json.loads(text))
        except ValueError:
            return UNKNOWN_ENGINE_STATUS

    @property
    def rank(self) -> int:
        """The reference's engine_status_score: who has the best engine."""
        if self.vm == "up":
            if self.health == "good":
                return 4
            if self.health == "bad" and self.detail != "Paused":
                return 3
            return 2
        if self.vm in ("down", "down_unexpected", "down_missing"):
            return 1
        return 0


UNKNOWN_ENGINE_STATUS = EngineStatus("unknown", "unknown", "unknown", "serialization error")
