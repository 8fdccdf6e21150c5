"""Starts the HA daemons in dependency order once the files are in place, or stops them.

The broker comes first (the agent talks to it), hostd only when enrollment gave the host
a certificate (it serves TLS only), the agent last. A daemon already running is
restarted only when this run changed a file, so a re-run with the same answers leaves a
working host alone. With ``SYSTEM/servicesProvider=caller`` (the lab) the daemons are the
caller's to start: the run names them and starts nothing.
"""

from __future__ import annotations

import os

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Priority, Stage, event
from hosted_engine.installer import keys as core_keys

BROKER, HOSTD, AGENT = keys.SERVICES


class Services(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION)

    def _wanted(self) -> list[str]:
        has_cert = os.path.isfile(self.resolve(keys.CERT_FILE))
        if not has_cert:
            self.logger.info("No %s: %s is not started", keys.CERT_FILE, HOSTD)
        return [s for s in keys.SERVICES if s != HOSTD or has_cert]

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.services.validate",
        condition=lambda self: self.environment[keys.ACTION] != "none",
    )
    def validate(self) -> None:
        if self.environment[keys.ACTION] != "deploy":
            return
        missing = [s for s in (BROKER, AGENT) if not self.services.exists(s)]
        if missing:
            raise HostDeployError(
                f"service(s) {', '.join(missing)} are not installed: install the "
                "hosted-engine package (its units) first"
            )

    @event(
        stage=Stage.CLOSEUP,
        name=keys.SERVICES_START_EVENT,
        condition=lambda self: self.environment[keys.ACTION] == "deploy",
    )
    def start(self) -> None:
        if self.environment[core_keys.SERVICES_PROVIDER] == core_keys.SERVICES_CALLER:
            said = f"The services are left to the caller: start {', '.join(self._wanted())}"
            self.logger.info("%s", said)
            self.dialog.note(said)
            return
        changed = bool(self.context.modified_files)
        with self.dialog.progress("Starting the hosted-engine services"):
            for service in self._wanted():
                self.services.startup(service, True)
                if not self.services.status(service):
                    self.dialog.note(f"Starting {service}")
                    self.services.state(service, True)
                elif changed:
                    self.dialog.note(f"Restarting {service} (its configuration changed)")
                    self.services.restart(service)
                else:
                    self.dialog.note(f"{service} is running")

    @event(
        stage=Stage.MISC,
        priority=Priority.HIGH,
        name="hosted-engine-host-deploy.services.stop",
        condition=lambda self: self.environment[keys.ACTION] == "remove",
    )
    def stop(self) -> None:
        for service in reversed(keys.SERVICES):
            if not self.services.exists(service):
                continue
            if self.services.status(service):
                self.dialog.note(f"Stopping {service}")
                self.services.state(service, False)
            self.services.startup(service, False)


def create_plugins(context: Context) -> None:
    Services(context)
