"""Removes hosted-engine from this host (``HOSTED_ENGINE/action=remove``).

Refused, before anything changes, when this is the last hosted-engine host: the engine
VM would lose its only place to run, which is rarely what the admin meant
(``HOST_DEPLOY/forceRemove`` says it is). Otherwise the daemons stop (services plugin),
this host's metadata slot is cleaned while the configuration still exists, and the
configuration and PKI files go in the transaction: a failure before the commit leaves
every file in place.
"""

from __future__ import annotations

import json
import os
import time

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Priority, Stage, TransactionElement, event

REMOVED = (keys.CONFIG_FILE, keys.CA_FILE, keys.CERT_FILE, keys.KEY_FILE)


class RemoveFile(TransactionElement):
    """Moves the file aside at commit (one rename, undone by one rename), and deletes it
    once the whole transaction committed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._aside: str | None = None

    def __repr__(self) -> str:
        return f"RemoveFile({self.path!r})"

    def prepare(self) -> None:
        if os.path.lexists(self.path) and not os.path.isfile(self.path):
            raise HostDeployError(f"{self.path} is not a regular file: remove it by hand")

    def commit(self) -> None:
        if os.path.isfile(self.path):
            self._aside = f"{self.path}.removed-{time.strftime('%Y%m%d%H%M%S')}"
            os.replace(self.path, self._aside)

    def rollback(self) -> None:
        if self._aside is not None:
            os.replace(self._aside, self.path)
            self._aside = None

    def abort(self) -> None:
        return None

    def finish(self) -> None:
        if self._aside is not None:
            os.unlink(self._aside)
            self._aside = None


class Undeploy(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION, keys.FORCE_REMOVE)
        self.commands.detect("hosted-engine")
        self._host_id: int | None = None

    def _removing(self) -> bool:
        return self.environment[keys.ACTION] == "remove"

    def _conf(self) -> dict[str, str]:
        try:
            with open(self.resolve(keys.CONFIG_FILE), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise HostDeployError(f"cannot read {keys.CONFIG_FILE}: {e.strerror}") from None
        values = {}
        for line in lines:
            name, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                values[name.strip()] = value.strip()
        return values

    def _hosted_engine(self, *args: str) -> list[str]:
        argv = [self.commands.require("hosted-engine"), "--config", self.resolve(keys.CONFIG_FILE)]
        done = self.execute([*argv, *args], check=False)
        if done.rc != 0:
            said = " ".join(line.strip() for line in (*done.stderr, *done.stdout) if line.strip())
            raise HostDeployError(f"hosted-engine {' '.join(args)} failed: {said or done.rc}")
        return list(done.stdout)

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.undeploy.validate",
        condition=lambda self: self._removing(),
    )
    def validate(self) -> None:
        raw = self._conf().get("host_id")
        if raw is None:
            self.dialog.note(f"No {keys.CONFIG_FILE} with a host_id: no metadata to clean")
            return
        if not raw.isdigit():
            raise HostDeployError(f"{keys.CONFIG_FILE}: host_id {raw!r} is not a number")
        self._host_id = int(raw)
        force = keys.FORCE_REMOVE.name
        try:
            status = json.loads("\n".join(self._hosted_engine("--vm-status", "--json")))
        except (HostDeployError, ValueError) as e:
            if self.environment[keys.FORCE_REMOVE]:
                self.logger.warning("Cannot read the cluster's status (%s): removing anyway", e)
                return
            raise HostDeployError(
                f"cannot tell whether other hosts remain ({e}); set {force}=bool:True to "
                "remove anyway"
            ) from None
        others = sorted(int(h) for h in status if h.isdigit() and int(h) != self._host_id)
        if others:
            self.dialog.note(f"Other hosted-engine hosts: {', '.join(map(str, others))}")
        elif self.environment[keys.FORCE_REMOVE]:
            self.logger.warning("Removing the last hosted-engine host (%s is set)", force)
        else:
            raise HostDeployError(
                f"host {self._host_id} is the last hosted-engine host: removing it leaves the "
                f"engine VM nowhere to run; add another host first, or set {force}=bool:True"
            )

    @event(
        stage=Stage.MISC,
        priority=Priority.LOW,
        name="hosted-engine-host-deploy.undeploy.remove",
        condition=lambda self: self._removing(),
    )
    def remove(self) -> None:
        if self._host_id is not None:
            self.dialog.note(f"Cleaning the metadata of host {self._host_id}")
            for line in self._hosted_engine("--clean-metadata", f"--host-id={self._host_id}"):
                self.logger.info("%s", line)
        for path in REMOVED:
            if os.path.isfile(self.resolve(path)):
                self.dialog.note(f"Removing {path}")
                self.transaction.append(RemoveFile(self.resolve(path)))


def create_plugins(context: Context) -> None:
    Undeploy(context)
