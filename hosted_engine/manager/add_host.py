"""Add host: the manager deploys the host-deploy plugin group on a host over SSH.

The admin first learns the host's SSH key fingerprint (nothing else is done before it is
confirmed: a DNS surprise must not get the manager's key or the cluster's trust), then the
deploy runs as a background task whose every note and log line is kept as an event, so
the UI can show a live run instead of a long silent one, and a failure ends with the
installer's own specific error line, not "deploy failed".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from hosted_engine.deploy import HOST_DEPLOY_GROUP, PLUGIN_DIR, keys
from hosted_engine.errors import HostedEngineError
from hosted_engine.installer.bundle import Bundle, build_bundle
from hosted_engine.installer.dialogs import client as dc
from hosted_engine.manager.db import Database
from hosted_engine.manager.errors import one_line
from hosted_engine.manager.hosts import Hosts
from hosted_engine.pki import CertificateAuthority

if TYPE_CHECKING:
    import asyncssh

SSH_KEY_NAME = "manager_ssh_ed25519"


class AddHostError(HostedEngineError):
    """One line for the admin: what is wrong with this add-host request."""


class AddHostConflict(AddHostError):
    """The request clashes with the registry or with a run under way (HTTP 409)."""


@dataclass(frozen=True)
class Target:
    """Where a deploy goes: the host's SSH end and the key the admin confirmed."""

    name: str
    address: str
    ssh_port: int = 22
    ssh_user: str = "root"
    fingerprint: str | None = None


@dataclass
class Deploy:
    """One run on a host, watched live: its events in order, ``status`` running until it
    ends ``complete`` or ``failed`` (with ``error``, the one line that says why)."""

    id: str
    target: Target
    action: str  # "deploy" or "remove" (HOSTED_ENGINE/action)
    host_id: int
    status: str = "running"
    events: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    task: asyncio.Task[None] | None = None

    def add(self, level: str, text: str) -> None:
        self.events.append({"level": level, "text": text})

    def view(self, after: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.target.name,
            "host_id": self.host_id,
            "action": self.action,
            "status": self.status,
            "events": self.events[after:],
            "next": len(self.events),
            "error": self.error,
        }


@dataclass
class AddHostSettings:
    """``python`` runs the bundle on the host; ``extra_args`` are added to every run's
    command line (a test's ``SYSTEM/root``, a services provider, a command path)."""

    ssh_key: Path
    ca_dir: Path | None = None
    python: str = "python3"
    extra_args: tuple[str, ...] = ()
    connect_timeout: float = 15.0


def _asyncssh() -> ModuleType:
    """asyncssh, imported on first use. Its import takes a quarter of a second and runs
    ``ldconfig``, ``gcc`` and ``ld`` (``ctypes.util`` looking for optional libraries):
    every start of the engine VM would pay that for a page used now and then. Its DSA
    support warns on import, onto the manager's log; that is kept quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        import asyncssh as module
    return module


def ensure_ssh_key(path: Path) -> asyncssh.SSHKey:
    """The manager's SSH key, made on first use (private, 0600)."""
    ssh = _asyncssh()
    key: asyncssh.SSHKey
    if path.exists():
        try:
            key = ssh.read_private_key(str(path))
        except (OSError, ssh.KeyImportError) as err:
            raise AddHostError(f"cannot read the manager's SSH key {path}: {err}") from None
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ssh.generate_private_key("ssh-ed25519", comment="hosted-engine-manager")
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key


class AddHost:
    """The deploys this manager has run (in memory: a run is watched live, its outcome
    lands in the database's events and host registry)."""

    def __init__(self, db: Database, settings: AddHostSettings, hosts: Hosts) -> None:
        self.db = db
        self.settings = settings
        self.hosts = hosts  # told when a host leaves the registry
        self.deploys: dict[str, Deploy] = {}
        self.targets: dict[int, Target] = {}  # host id -> how it was reached
        self._ids = itertools.count(1)
        self._bundle: Bundle | None = None
        self._key: asyncssh.SSHKey | None = None

    @property
    def key(self) -> asyncssh.SSHKey:
        if self._key is None:
            self._key = ensure_ssh_key(self.settings.ssh_key)
        return self._key

    def public_key(self) -> str:
        return str(self.key.export_public_key().decode().strip())

    def bundle(self) -> Bundle:
        if self._bundle is None:
            self._bundle = build_bundle([HOST_DEPLOY_GROUP], [str(PLUGIN_DIR)])
        return self._bundle

    def ca(self) -> CertificateAuthority:
        if self.settings.ca_dir is None:
            raise AddHostError("the manager has no cluster CA: start it with --ca-dir DIR")
        try:
            return CertificateAuthority.load(self.settings.ca_dir)
        except (OSError, HostedEngineError, ValueError) as err:
            raise AddHostError(f"cannot load the cluster CA: {one_line(str(err))}") from None

    async def fingerprint(self, target: Target) -> str:
        """The host's SSH key fingerprint, learnt without logging in."""
        ssh = _asyncssh()
        try:
            key = await asyncio.wait_for(
                ssh.get_server_host_key(target.address, target.ssh_port),
                self.settings.connect_timeout,
            )
        except (OSError, ssh.Error, TimeoutError) as err:
            raise AddHostError(
                f"cannot reach {target.address}:{target.ssh_port} over SSH: {err or 'timed out'}"
            ) from None
        if key is None:
            raise AddHostError(f"{target.address}:{target.ssh_port} offered no SSH host key")
        return str(key.get_fingerprint("sha256"))

    def conflict(self, action: str, target: Target, host_id: int) -> str | None:
        """Why this run cannot start now, or None: one run at a time per host (by id, name
        or SSH end: two installers on one host would undo each other's files), and a
        deploy never takes over a registered host's id or name."""
        for other in self.deploys.values():
            if other.status != "running":
                continue
            same_end = (other.target.address, other.target.ssh_port) == (
                target.address,
                target.ssh_port,
            )
            if other.host_id == host_id or other.target.name == target.name or same_end:
                verb = "a deploy" if other.action == "deploy" else "an undeploy"
                return (
                    f"{verb} of {other.target.name} (host id {other.host_id}, "
                    f"{other.target.address}:{other.target.ssh_port}) is running: "
                    f"wait for it to end (GET /api/hosts/deploys/{other.id})"
                )
        if action == "deploy":
            for row in self.db.hosts():
                if row.id == host_id:
                    return f"host id {host_id} is already registered, as {row.name}"
                if row.name == target.name:
                    return f"a host named {target.name} is already registered, as host id {row.id}"
        return None

    def start(
        self, target: Target, action: str, arguments: Sequence[str], host_id: int, hostd_port: int
    ) -> Deploy:
        """Checked again here, with no wait between the check and the start: two requests
        that both passed the caller's early check cannot both start."""
        if (why := self.conflict(action, target, host_id)) is not None:
            raise AddHostConflict(why)
        deploy = Deploy(str(next(self._ids)), target, action, host_id)
        self.deploys[deploy.id] = deploy
        deploy.task = asyncio.create_task(self._run(deploy, arguments, host_id, hostd_port))
        return deploy

    async def aclose(self) -> None:
        for deploy in self.deploys.values():
            if deploy.task is not None and not deploy.task.done():
                deploy.task.cancel()
                await asyncio.gather(deploy.task, return_exceptions=True)

    # --- the run --------------------------------------------------------------------------

    def arguments(self, action: str, config: Mapping[str, str], hostd_port: int) -> list[str]:
        args = [
            f"HOSTED_ENGINE/action=str:{action}",
            f"{keys.MANAGER_TIME.name}=int:{int(time.time())}",
            f"{keys.HOSTD_LISTEN_PORT.name}=int:{hostd_port}",
        ]
        if action == "deploy":
            args += [
                f"{keys.SSH_ENABLE.name}=bool:True",
                f"{keys.SSH_KEY.name}=str:{self.public_key()}",
            ]
        args += [f"{keys.CONFIG_PREFIX}{k}=str:{v}" for k, v in config.items()]
        return [*args, *self.settings.extra_args]

    async def _run(
        self, deploy: Deploy, arguments: Sequence[str], host_id: int, hostd_port: int
    ) -> None:
        target = deploy.target
        try:
            code = await self._session(deploy, arguments)
            if code != 0 or deploy.error:
                raise AddHostError(deploy.error or f"the installer ended with status {code}")
            event = await self._record(deploy, host_id, hostd_port)
        except Exception as err:  # a background task: whatever broke ends the run Failed, said
            deploy.error = one_line(str(err) or type(err).__name__)
            deploy.status = "failed"
            deploy.add("ERROR", f"Failed: {deploy.error}")
            verb = "deploy" if deploy.action == "deploy" else "undeploy"
            with contextlib.suppress(Exception):  # the database may be what failed
                self.db.add_event(
                    "host", target.name, f"{verb} of {target.name} failed: {deploy.error}"
                )
            return
        deploy.add("INFO", "Complete")
        deploy.status = "complete"  # last: a watcher that sees it has every event
        with contextlib.suppress(Exception):
            self.db.add_event("host", target.name, event)

    async def _record(self, deploy: Deploy, host_id: int, hostd_port: int) -> str:
        """The host's run succeeded: the registry follows it, or the run is not Complete
        (a deployed host the manager does not know, or an undeployed one it still polls,
        is what the admin must hear about). Returns the event to record."""
        target = deploy.target
        try:
            if deploy.action == "deploy":
                self.db.upsert_host(host_id, target.name, target.address, hostd_port)
            else:
                self.db.remove_host(host_id)
        except Exception as err:  # sqlite3 errors, a full or read-only disk
            done = "deployed" if deploy.action == "deploy" else "undeployed"
            change = "register it" if deploy.action == "deploy" else "remove it from its registry"
            raise AddHostError(
                f"{target.name} was {done}, but the manager could not {change}: "
                f"{one_line(str(err) or type(err).__name__)}"
            ) from None
        if deploy.action == "deploy":
            self.targets[host_id] = target
            self.hosts.forget_round()  # the next list shows the new host
            return f"host {target.name} added"
        self.targets.pop(host_id, None)
        await self.hosts.forget(host_id)
        return (
            f"hosted engine undeployed from {target.name}: host {target.name} removed "
            "from the manager"
        )

    async def _session(self, deploy: Deploy, arguments: Sequence[str]) -> int | None:
        target = deploy.target
        deploy.add("INFO", f"Connecting to {target.address}:{target.ssh_port} as {target.ssh_user}")
        ssh = _asyncssh()
        from hosted_engine.installer.remote import start_remote  # asyncssh is loaded now

        try:
            connection = await asyncio.wait_for(
                ssh.connect(
                    target.address,
                    target.ssh_port,
                    username=target.ssh_user,
                    client_keys=[self.key],
                    known_hosts=None,  # checked below against the confirmed fingerprint
                    agent_path=None,
                ),
                self.settings.connect_timeout,
            )
        except (OSError, ssh.Error, TimeoutError) as err:
            raise AddHostError(
                f"cannot log in to {target.address}:{target.ssh_port} as {target.ssh_user}: "
                f"{err or 'timed out'}"
            ) from None
        async with connection:
            seen = connection.get_server_host_key()
            found = seen.get_fingerprint("sha256") if seen is not None else None
            if found != target.fingerprint:
                raise AddHostError(
                    f"{target.address}'s SSH key is {found}, not the confirmed "
                    f"{target.fingerprint}: check the address, then confirm again"
                )
            deploy.add("INFO", "Sending the host-deploy bundle")
            async with start_remote(
                connection, self.bundle(), arguments, python=self.settings.python
            ) as run:
                await self._drive(deploy, run.client)
            if run.exit_status not in (0, None) and not deploy.error:
                tail = [line for line in run.stderr if line.strip()]
                deploy.error = tail[-1] if tail else None
        return run.exit_status

    async def _drive(self, deploy: Deploy, client: dc.MachineDialogClient) -> None:
        """Every line becomes an event; the CSR is signed; command prompts are let go."""
        csr: str | None = None
        while not client.terminated:
            event = await client.next_event()
            if isinstance(event, dc.Note):
                if event.text.strip():
                    deploy.add("NOTE", event.text)
            elif isinstance(event, dc.Log):
                deploy.add(event.level, event.text)
                if event.level == "ERROR" and deploy.error is None:
                    deploy.error = event.text  # the first is the specific one, then a summary
            elif isinstance(event, dc.DisplayMultiString):
                if event.name == keys.DIALOG_CERT_REQUEST:
                    csr = "\n".join(event.lines) + "\n"
                    deploy.add("INFO", "Signing the host's certificate request")
            elif isinstance(event, dc.QueryMultiString) and event.name == keys.DIALOG_CERT_CHAIN:
                if csr is None:
                    await client.answer(event, dc.ABORT)
                    raise AddHostError("the host asked for a certificate before its request")
                await client.answer(event, self._chain(csr, deploy.target.address))
            elif isinstance(event, dc.QueryString) and event.name in dc.COMMAND_PROMPTS:
                command = "install" if event.name == dc.COMMAND_PROMPTS[0] else "quit"
                await client.send(command)
            elif isinstance(event, dc.QueryString | dc.QueryMultiString | dc.QueryValue):
                await client.answer(
                    event, dc.ABORT if not isinstance(event, dc.QueryString) else ""
                )
                raise AddHostError(f"the host asked {event.name}, which the manager cannot answer")
            elif isinstance(event, dc.Confirm):
                await client.answer(event, False)
                raise AddHostError(f"the host asked to confirm {event.name}: {event.description}")

    def _chain(self, csr: str, address: str) -> str:
        ca = self.ca()
        try:
            cert = ca.sign_csr(csr.encode(), address)
        except (HostedEngineError, ValueError) as err:
            raise AddHostError(f"cannot sign the host's request: {one_line(str(err))}") from None
        pems = [c.public_bytes(Encoding.PEM).decode() for c in (ca.certificate, cert)]
        return "".join(pems)
