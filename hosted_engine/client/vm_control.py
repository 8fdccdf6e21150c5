"""Starting and stopping the engine VM on this host, as the agent would."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from hosted_engine.client.base import ClientBase
from hosted_engine.errors import HostedEngineError
from hosted_engine.storage.history import Cause, Event, History, HistoryEntry, start_entry

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hosted_engine.vm.base import StopResult


class VmCommandError(HostedEngineError):
    """A VM verb that could not be carried out; the message says why."""


class VmControlClient(ClientBase):
    def vm_start(self) -> str:
        from hosted_engine.vm.base import AlreadyRunning, LeaseHeld, Started, StartFailed
        from hosted_engine.vm.definition import load_definition

        self._require_deployed()
        result = self.backend.start(load_definition(self.config.vm_conf_path))
        match result:
            case Started():
                self._record(Event.STARTED, "hosted-engine --vm-start")
                return "VM in WaitForLaunch"
            case AlreadyRunning(status=status):
                raise VmCommandError(f"VM exists and its status is {status.detail}")
            case LeaseHeld(holder=holder):
                raise VmCommandError(
                    f"The engine VM is running on another host ({holder or 'lease held'})"
                )
            case StartFailed(reason=reason):
                raise VmCommandError(f"VM failed to launch: {reason}")
        raise VmCommandError("VM failed to launch")  # pragma: no cover

    def vm_shutdown(self) -> str:
        self._require_deployed()
        said = _stopped(self.backend.shutdown(self.config.timing.vm_shutdown_grace), "shutdown")
        self._record(Event.STOPPED, "hosted-engine --vm-shutdown")
        return said

    def vm_poweroff(self) -> str:
        self._require_deployed()
        said = _stopped(self.backend.poweroff(), "poweroff")
        self._record(Event.STOPPED, "hosted-engine --vm-poweroff")
        return said

    def _record(self, event: Event, verb: str) -> None:
        """An admin's start or stop goes into the history too; a storage failure there
        does not undo what was done (it is logged)."""
        history = History(self.config.ha_dir)
        now = time.time()
        try:
            if event is Event.STARTED:
                entry = start_entry(now, self.config.host_id, history.last(), {}, None)
                entry = dataclasses.replace(entry, cause=Cause.ADMIN, detail=verb)
            else:
                entry = HistoryEntry(now, event, self.config.host_id, Cause.ADMIN, detail=verb)
            history.append(entry)
        except HostedEngineError as e:
            log.warning("%s done, but not recorded in the history: %s", verb, e)


def _stopped(result: StopResult, verb: str) -> str:
    from hosted_engine.vm.base import StopResult

    if result is StopResult.NOT_RUNNING:
        raise VmCommandError("Virtual machine does not exist")
    if result is StopResult.FAILED:
        raise VmCommandError(f"VM {verb} failed (see the VM log in the run directory)")
    return "VM is shutting down!" if verb == "shutdown" else "VM powered off"
