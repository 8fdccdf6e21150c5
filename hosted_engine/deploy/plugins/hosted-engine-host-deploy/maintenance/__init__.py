"""Keeps the host in local maintenance while it is being (re)deployed.

oVirt's configureha did this as a transaction element, and so do we: local maintenance
goes on before any change (so the agent does not start or migrate the engine VM on a
half-configured host) and off when the transaction commits. An aborted run leaves it on
on purpose: the host is not fit to run the engine until a deploy succeeds. On a first
deploy there is no configuration and no broker, so there is nothing to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Stage, TransactionElement, event

BROKER = keys.SERVICES[0]


class LocalMaintenance(TransactionElement):
    def __init__(self, set_mode: Callable[[str], None], warn: Callable[[str], None]) -> None:
        self._set_mode = set_mode
        self._warn = warn
        self.active = False

    def __repr__(self) -> str:
        return "LocalMaintenance()"

    def prepare(self) -> None:
        self._set_mode("local")
        self.active = True

    def commit(self) -> None:
        self._set_mode("none")
        self.active = False

    def rollback(self) -> None:
        self._set_mode("local")  # a later file failed to commit: the run failed after all
        self.active = True

    def abort(self) -> None:
        if self.active:
            self._warn(
                "Local maintenance stays on because the deploy failed: fix the problem and "
                "deploy again, or run hosted-engine --set-maintenance --mode=none"
            )


class Maintenance(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION)
        self.commands.detect("hosted-engine")

    def _set_mode(self, mode: str) -> None:
        command = [
            self.commands.require("hosted-engine"),
            "--config",
            self.resolve(keys.CONFIG_FILE),
            "--set-maintenance",
            f"--mode={mode}",
        ]
        self.dialog.note(f"Local maintenance: {'on' if mode == 'local' else 'off'}")
        done = self.execute(command, check=False)
        if done.rc != 0:
            said = " ".join(line.strip() for line in done.stderr if line.strip())
            raise HostDeployError(
                f"hosted-engine --set-maintenance --mode={mode} failed: {said or done.rc}"
            )

    def _daemons_run(self) -> bool:
        if not os.path.isfile(self.resolve(keys.CONFIG_FILE)):
            return False
        return self.services.exists(BROKER) and self.services.status(BROKER)

    @event(
        stage=Stage.EARLY_MISC,
        name="hosted-engine-host-deploy.maintenance.begin",
        condition=lambda self: self.environment[keys.ACTION] == "deploy",
    )
    def begin(self) -> None:
        if not self._daemons_run():
            self.logger.info("No hosted-engine daemons run here yet: no local maintenance")
            return
        warn: Callable[[str], None] = self.logger.warning
        self.transaction.append(LocalMaintenance(self._set_mode, warn))


def create_plugins(context: Context) -> None:
    Maintenance(context)
