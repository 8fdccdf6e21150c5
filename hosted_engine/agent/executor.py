"""Carries the policy's actions out through the VM backend, reporting typed outcomes."""

from __future__ import annotations

import logging

from hosted_engine.agent.states import Action, Outcome
from hosted_engine.config.host import HostConfig
from hosted_engine.errors import HostedEngineError
from hosted_engine.vm.base import (
    AlreadyRunning,
    LeaseHeld,
    Started,
    StartFailed,
    StopResult,
    VmBackend,
)
from hosted_engine.vm.definition import load_definition

log = logging.getLogger(__name__)


class Executor:
    def __init__(self, config: HostConfig, backend: VmBackend) -> None:
        self.config = config
        self.backend = backend

    def run(self, action: Action) -> Outcome:
        try:
            if action is Action.START_VM:
                return self._start()
            if action is Action.STOP_VM:
                return self._stopped(self.backend.shutdown(self.config.timing.vm_shutdown_grace))
            return self._stopped(self.backend.poweroff())
        except HostedEngineError as e:
            log.error("%s failed: %s", action.value, e)
            return Outcome.FAILED

    def _start(self) -> Outcome:
        definition = load_definition(self.config.vm_conf_path)
        result = self.backend.start(definition)
        match result:
            case Started(pid=pid):
                log.info("engine VM started (pid %d)", pid)
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
