"""The setup group's keys, whether this host is deployed already, and the answer files.

A host whose hosted-engine.conf names a host id the domain's registry gives to this same
host name is deployed: the run then changes nothing (the host-deploy group is told
``HOSTED_ENGINE/action=none``) and exits 0, so re-running an automation is safe.
"""

from __future__ import annotations

from pathlib import Path

from hosted_engine.config.host import load_host_config
from hosted_engine.deploy import keys as host_keys
from hosted_engine.deploy import paths, setup_domain, setup_values
from hosted_engine.deploy import setup_keys as K
from hosted_engine.errors import HostedEngineError
from hosted_engine.installer import Context, Plugin, Priority, Stage, event
from hosted_engine.installer import keys as core_keys
from hosted_engine.installer.configfiles import write_private

HOST_DEPLOY_KEYS = (
    host_keys.ACTION,
    host_keys.CERT_ADDRESS,
    host_keys.CERT_REQUEST,
    host_keys.CERT_CHAIN,
)


def _not_deployed(plugin: Plugin) -> bool:
    return not plugin.environment[K.DEPLOYED]


class Core(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(*K.ALL, *HOST_DEPLOY_KEYS, *(K.config_key(n) for n in K.CONFIG_NAMES))

    @event(stage=Stage.LATE_SETUP, name="hosted-engine-setup.core.deployed")
    def detect_deployed(self) -> None:
        path = Path(self.resolve(host_keys.CONFIG_FILE))
        if not path.is_file():
            return
        try:
            config = load_host_config(path)
            entries = setup_domain.read_registry(
                setup_domain.registry_path(config.storage, config.sd_uuid)
            )
        except HostedEngineError as e:
            self.logger.warning("%s exists but does not describe a deployed host: %s", path, e)
            return
        entry = setup_domain.holder(entries, config.host_id)
        if entry is None or entry.name != config.hostname:
            return
        env = self.environment
        env[K.DEPLOYED] = True
        env[host_keys.ACTION] = "none"
        self.dialog.note(
            f"This host is already deployed as host {config.host_id} of storage domain "
            f"{config.sd_uuid} ({path}); nothing to do."
        )

    @event(
        stage=Stage.MISC,
        priority=Priority.LOW,
        name="hosted-engine-setup.core.answers",
        condition=_not_deployed,
    )
    def write_answers(self) -> None:
        text = setup_values.answers_text(
            self.environment, K.ALL, "hosted-engine --deploy answers of this host"
        )
        self.write_file(paths.ANSWERS_FILE, text, mode=0o600)

    @event(
        stage=Stage.CLEANUP,
        name="hosted-engine-setup.core.generate-answer",
        condition=lambda self: (
            self.environment[K.GENERATE_ANSWER] is not None
            and not self.environment[core_keys.ERROR]
        ),
    )
    def generate_answer(self) -> None:
        path = self.environment[K.GENERATE_ANSWER]
        assert path is not None
        text = setup_values.answers_text(
            self.environment, K.ALL, "hosted-engine --deploy answers (--generate-answer)"
        )
        write_private(path, text)
        self.dialog.note(f"Answer file written to {path}")


def create_plugins(context: Context) -> None:
    Core(context)
