"""Writes hosted-engine.conf from the ``HOSTED_ENGINE_CONFIG/<name>`` keys that are set.

One key per name the daemons read (keys.CONFIG_NAMES), so a typo in a name is refused
when the run starts, with the closest name suggested, instead of a file the broker
rejects later. The file is written in a fixed order, so the same values give the same
bytes and a re-run leaves the file alone.
"""

from __future__ import annotations

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Stage, event

HEADER = "# hosted-engine.conf, written by hosted-engine-host-deploy"


class Ha(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION, *keys.CONFIG_KEYS.values())

    def _deploying(self) -> bool:
        return self.environment[keys.ACTION] == "deploy"

    def _values(self) -> dict[str, str]:
        values = {}
        for name, declared in keys.CONFIG_KEYS.items():
            value = self.environment[declared]
            if value is not None:
                values[name] = value
        return values

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.ha.validate",
        condition=lambda self: self._deploying(),
    )
    def validate(self) -> None:
        values = self._values()
        missing = [keys.CONFIG_KEYS[n].name for n in keys.CONFIG_REQUIRED if not values.get(n)]
        if missing:
            raise HostDeployError(
                f"hosted-engine.conf needs {', '.join(missing)}: set them "
                f"({missing[0]}=str:VALUE) on the command line or in an answer file"
            )
        host_id = values["host_id"]
        if not host_id.isdigit() or not 1 <= int(host_id) <= 250:
            raise HostDeployError(
                f"{keys.CONFIG_KEYS['host_id'].name}: {host_id!r} is not a host id 1..250"
            )
        for name, value in values.items():
            if "\n" in value or "\r" in value or "\0" in value:
                raise HostDeployError(
                    f"{keys.CONFIG_KEYS[name].name}: a value must be one line without NUL"
                )

    @event(
        stage=Stage.MISC,
        name="hosted-engine-host-deploy.ha.configure",
        condition=lambda self: self._deploying(),
    )
    def configure(self) -> None:
        lines = [HEADER, *(f"{name}={value}" for name, value in self._values().items())]
        self.dialog.note(f"Writing {keys.CONFIG_FILE}")
        self.write_file(keys.CONFIG_FILE, lines, mode=0o644)


def create_plugins(context: Context) -> None:
    Ha(context)
