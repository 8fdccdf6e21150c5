"""The engine: the answers become hosted-engine.conf lines, and the first host waits for
the engine VM to come up healthy, saying so every few seconds, then tells how to log in.

With ``SYSTEM/servicesProvider=caller`` nothing was started, so there is nothing to wait
for: the caller (the lab) starts the daemons and waits for the engine itself."""

from __future__ import annotations

import time
from pathlib import Path

from hosted_engine.deploy import keys as host_keys
from hosted_engine.deploy import paths, setup_ask, setup_domain, setup_values
from hosted_engine.deploy import setup_keys as K
from hosted_engine.errors import InstallerError
from hosted_engine.installer import Context, Plugin, Priority, Stage, event
from hosted_engine.installer import keys as core_keys
from hosted_engine.vm.health import check_liveliness

PROGRESS_EVERY = 5.0
HOSTD_PORT_KEY = "HOST_DEPLOY/hostdPort"


def _active(plugin: Plugin) -> bool:
    return not plugin.environment[K.DEPLOYED]


def _services_started(plugin: Plugin) -> bool:
    return plugin.environment[core_keys.SERVICES_PROVIDER] != core_keys.SERVICES_CALLER


class Engine(Plugin):
    @event(
        stage=Stage.CUSTOMIZATION,
        name="hosted-engine-setup.engine.ask",
        after=("hosted-engine-setup.vm.ask",),
        condition=_active,
    )
    def ask(self) -> None:
        setup_ask.ask(self, K.ENGINE_PORT, "Port the engine listens on:")

    @event(
        stage=Stage.CUSTOMIZATION,
        priority=Priority.LAST,
        name="hosted-engine-setup.engine.config",
        condition=_active,
    )
    def fill_config(self) -> None:
        """Everything asked (and enforced): hand the host-deploy group its conf lines."""
        env = self.environment
        for name, value in setup_values.config_values(env, self.resolve).items():
            env.set(host_keys.CONFIG_PREFIX + name, value)
        env[host_keys.CERT_ADDRESS] = env[K.HOST_ADDRESS]
        if env.is_declared(HOSTD_PORT_KEY):  # the host-deploy group checks and serves it
            env.set(HOSTD_PORT_KEY, env[K.HOSTD_PORT])

    @event(
        stage=Stage.CLOSEUP,
        priority=Priority.LAST,
        name="hosted-engine-setup.engine.wait",
        condition=lambda self: _active(self) and _services_started(self),
    )
    def wait_healthy(self) -> None:
        env = self.environment
        url = setup_values.health_url(env)
        limit = float(env[K.HEALTH_TIMEOUT])
        started = time.monotonic()
        last_note = started
        self.dialog.note(f"Waiting for the engine VM to be healthy at {url}")
        while not check_liveliness(url, 1.0):
            now = time.monotonic()
            if now - started >= limit:
                raise InstallerError(
                    f"the engine VM is not healthy at {url} after {limit:.0f}s; see "
                    f"{self.resolve(paths.LOG_DIR)} (agent.log, broker.log)"
                )
            if now - last_note >= PROGRESS_EVERY:
                self.dialog.note(f"Still waiting for the engine VM ({now - started:.0f}s)")
                last_note = now
            time.sleep(0.2)
        self.dialog.note(f"The engine VM is healthy ({time.monotonic() - started:.1f}s).")
        disk = setup_domain.engine_disk(Path(str(env[K.CONNECTION])), str(env[K.SD_UUID]))
        if env[K.ADMIN_PASSWORD] is not None:
            login = "the admin password you chose"
        else:
            login = f"the password in {disk / 'admin-password'}"
        self.dialog.note(f"Manager: {setup_values.manager_url(env)}  login admin with {login}")


def create_plugins(context: Context) -> None:
    Engine(context)
