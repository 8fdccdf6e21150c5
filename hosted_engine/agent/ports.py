"""What the agent needs from its broker, as a protocol, and the JSON-RPC implementation.

The agent talks to :class:`BrokerPort` only, so a test or the simulator can hand it an
in-process broker; the daemon wires :class:`RpcBroker`, the real socket client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hosted_engine.broker_contract import BrokerSnapshot, VmLease
from hosted_engine.jsonrpc import RpcClient


@dataclass(frozen=True)
class StateReport:
    """What the agent publishes each loop through its broker."""

    state: str
    score: int
    maintenance: bool
    stopped: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)


class BrokerPort(Protocol):
    def get_snapshot(self) -> BrokerSnapshot:
        """Raises BrokerUnavailableError or RpcError (no broker), ContractError (a broker
        this agent cannot understand)."""
        ...

    def vm_lease(self) -> VmLease:
        """Only the VM lease, probed now (a standby's pause asks it between decisions)."""
        ...

    def report_state(self, report: StateReport) -> None: ...

    def notify(self, event: str, detail: str) -> None: ...

    def record_history(self, event: str, cause: str | None = None, detail: str = "") -> None:
        """The engine started (``cause`` None: the broker tells it) or stopped here."""
        ...

    def close(self) -> None:
        """Drop the connection; the next call reconnects."""
        ...


class RpcBroker:
    """The local broker over its Unix socket."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        self._rpc = RpcClient(socket_path, timeout=timeout)

    def get_snapshot(self) -> BrokerSnapshot:
        return BrokerSnapshot.from_json(self._rpc.call("get_snapshot"))

    def vm_lease(self) -> VmLease:
        return VmLease.from_json(self._rpc.call("vm_lease"))

    def report_state(self, report: StateReport) -> None:
        self._rpc.call(
            "report_state",
            state=report.state,
            score=report.score,
            maintenance=report.maintenance,
            stopped=report.stopped,
            metadata=dict(report.metadata),
        )

    def notify(self, event: str, detail: str) -> None:
        self._rpc.call("notify", event=event, detail=detail)

    def record_history(self, event: str, cause: str | None = None, detail: str = "") -> None:
        self._rpc.call("record_history", event=event, cause=cause, detail=detail)

    def close(self) -> None:
        self._rpc.close()
