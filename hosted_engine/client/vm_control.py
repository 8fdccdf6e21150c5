"""Starting and stopping the engine VM on this host, as the agent would."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hosted_engine.client.base import ClientBase
from hosted_engine.errors import HostedEngineError

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
        return _stopped(self.backend.shutdown(self.config.timing.vm_shutdown_grace), "shutdown")

    def vm_poweroff(self) -> str:
        self._require_deployed()
        return _stopped(self.backend.poweroff(), "poweroff")


def _stopped(result: StopResult, verb: str) -> str:
    from hosted_engine.vm.base import StopResult

    if result is StopResult.NOT_RUNNING:
        raise VmCommandError("Virtual machine does not exist")
    if result is StopResult.FAILED:
        raise VmCommandError(f"VM {verb} failed (see the VM log in the run directory)")
    return "VM is shutting down!" if verb == "shutdown" else "VM powered off"
