"""Carries the policy's actions out through the VM backend, reporting typed outcomes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hosted_engine.agent.states import Action, Outcome
from hosted_engine.errors import HostedEngineError
from hosted_engine.vm.base import (
    AlreadyRunning,
    LeaseHeld,
    Started,
    StartFailed,
    StopResult,
    VmBackend,
)
from hosted_engine.vm.definition import VmDefinition

log = logging.getLogger(__name__)


class Executor:
    """``definition`` is read at each start: the VM starts with the latest definition the
    broker cached, not with the one the agent saw when it started."""

    def __init__(
        self, backend: VmBackend, definition: Callable[[], VmDefinition], shutdown_grace: float
    ) -> None:
        self.backend = backend
        self.definition = definition
        self.shutdown_grace = shutdown_grace
        self.started_new = False  # the last START_VM started a VM (not found one running)

    def run(self, action: Action) -> Outcome:
        try:
            if action is Action.START_VM:
                return self._start()
            if action is Action.STOP_VM:
                return self._stopped(self.backend.shutdown(self.shutdown_grace))
            return self._stopped(self.backend.poweroff())
        except HostedEngineError as e:
            log.error("%s failed: %s", action.value, e)
            return Outcome.FAILED

    def _start(self) -> Outcome:
        self.started_new = False
        result = self.backend.start(self.definition())
        match result:
            case Started(pid=pid):
                log.info("engine VM started (pid %d)", pid)
                self.started_new = True
                return Outcome.OK
            case AlreadyRunning():
                log.info("engine VM already running here")
                return Outcome.OK
            case LeaseHeld(holder=holder):
                log.info("engine VM lease held by %s: another host runs the engine", holder)
                return Outcome.LEASE_HELD
            case StartFailed(reason=reason):
                log.error("engine VM failed to start: %s", reason)
                return Outcome.FAILED
        return Outcome.FAILED  # pragma: no cover - the match is exhaustive

    @staticmethod
    def _stopped(result: StopResult) -> Outcome:
        return Outcome.FAILED if result is StopResult.FAILED else Outcome.OK
