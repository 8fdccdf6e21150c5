"""A request to move the engine on purpose, kept on the shared domain until it is done.

``<ha_dir>/hosted-engine.switchover`` holds one JSON object. It is created with a hard
link of a fully written temporary file, which fails when a request is already there, so
two admins asking at once get one switchover and one refusal. The target host's broker
removes it once the engine started there; a request that outlived its deadline is
ignored by every agent and replaced by the next one.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hosted_engine.errors import StorageError, UsageError

SWITCHOVER_NAME = "hosted-engine.switchover"


class SwitchoverPendingError(UsageError):
    """Another switchover is pending (Patroni's 412)."""


@dataclass(frozen=True)
class Switchover:
    to_host: int
    by: str
    note: str
    requested_at: float  # epoch
    scheduled_at: float | None = None  # epoch; None: at once
    deadline: float = 0.0  # epoch after which the request is void
    id: str = ""

    @property
    def due_at(self) -> float:
        return self.requested_at if self.scheduled_at is None else self.scheduled_at

    def due(self, now: float) -> bool:
        return self.due_at <= now < self.deadline

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def describe(self) -> str:
        """One line (the file is on shared storage: anything may have written it)."""
        note = f": {self.note}" if self.note else ""
        text = f"switchover to host {self.to_host} by {self.by}{note}"
        return "".join(c if c.isprintable() else "?" for c in text)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Switchover:
        """Raises ValueError (or KeyError/TypeError) for anything that is not one."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        scheduled = data.get("scheduled_at")
        return cls(
            to_host=int(data["to_host"]),
            by=str(data["by"]),
            note=str(data.get("note", "")),
            requested_at=float(data["requested_at"]),
            scheduled_at=None if scheduled is None else float(scheduled),
            deadline=float(data["deadline"]),
            id=str(data["id"]),
        )


class SwitchoverStore:
    def __init__(self, ha_dir: Path) -> None:
        self.path = ha_dir / SWITCHOVER_NAME

    def read(self) -> Switchover | None:
        """The pending request; a file that is not one reads as none (and is replaced)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError(f"cannot read {self.path}: {e.strerror}") from None
        try:
            return Switchover.from_json(json.loads(raw[:65536]))
        except (ValueError, KeyError, TypeError):
            return None

    def create(self, request: Switchover, now: float) -> Switchover:
        """Store ``request`` (given a fresh id) unless a live one is pending."""
        current = self.read()
        if current is not None and not current.expired(now):
            raise SwitchoverPendingError(
                f"Switchover refused: another one is pending ({current.describe()})"
            )
        if self.path.exists():  # expired, or not a request: replaced
            self.clear()
        stored = Switchover(**{**asdict(request), "id": uuid.uuid4().hex})
        temp = self.path.with_name(f".{SWITCHOVER_NAME}.{stored.id}")
        try:
            with open(temp, "w") as f:
                json.dump(stored.to_json(), f)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temp, self.path)  # fails if another request got there first
            except FileExistsError:
                raise SwitchoverPendingError(
                    "Switchover refused: another one was requested at the same time"
                ) from None
        except OSError as e:
            raise StorageError(f"cannot write {self.path}: {e.strerror}") from None
        finally:
            temp.unlink(missing_ok=True)
        return stored

    def clear(self, request_id: str | None = None) -> bool:
        """Remove the request (only the one with ``request_id`` when given)."""
        if request_id is not None:
            current = self.read()
            if current is None or current.id != request_id:
                return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as e:
            raise StorageError(f"cannot remove {self.path}: {e.strerror}") from None
        return True
