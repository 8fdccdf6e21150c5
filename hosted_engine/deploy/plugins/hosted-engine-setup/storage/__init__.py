"""Storage: where the domain is, whether this is the first host, and this host's id.

The storage directory decides the path: without a hosted-engine domain this is the first
host (a new sdUUID, host id 1 by default); with one, this host joins it, takes the first
answers from the domain's ``fhanswers.conf`` and the first free host id. The id is checked
again at validation under the domain's deploy lock, which is then held until the run ends.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from hosted_engine.deploy import keys as host_keys
from hosted_engine.deploy import setup_ask, setup_domain, setup_values
from hosted_engine.deploy import setup_keys as K
from hosted_engine.errors import ConfigArchiveError, InstallerUsageError, PkiError
from hosted_engine.installer import Context, Plugin, Priority, Stage, event
from hosted_engine.pki import CertificateAuthority
from hosted_engine.storage.config_archive import ConfigArchive
from hosted_engine.storage.domain import ha_dir
from hosted_engine.vm.definition import from_values
from hosted_engine.vm.ovf.writer import ovf_from_definition


def _directory(value: str) -> str | None:
    path = Path(value)
    if not path.is_absolute():
        return "want an absolute path"
    if not path.is_dir():
        return f"{value} does not exist or is not a directory; mount the storage there first"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{value} is not writable by this user"
    return None


def _active(plugin: Plugin) -> bool:
    return not plugin.environment[K.DEPLOYED]


class Storage(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.lock: setup_domain.DeployLock | None = None
        self.ca: CertificateAuthority | None = None
        self.new_domain: setup_domain.NewDomain | None = None

    # --- questions ------------------------------------------------------------------------
    @event(stage=Stage.CUSTOMIZATION, name="hosted-engine-setup.storage.ask", condition=_active)
    def ask(self) -> None:
        env = self.environment
        setup_ask.ask(self, K.DOMAIN_TYPE, "Storage type (localfs, posixfs):")
        storage = Path(
            setup_ask.ask(self, K.CONNECTION, "Storage directory (mounted):", check=_directory)
        )
        found = setup_domain.find_domains(storage)
        sd_uuid = env[K.SD_UUID]
        if sd_uuid is None and len(found) > 1:
            raise InstallerUsageError(
                f"{storage} holds several hosted-engine domains ({', '.join(found)}); "
                f"set {K.SD_UUID.name} to the one to join"
            )
        if sd_uuid is None:
            sd_uuid = found[0] if found else str(uuid.uuid4())
            env[K.SD_UUID] = sd_uuid
        first = sd_uuid not in found
        env[K.FIRST_HOST] = first
        if first:
            self.dialog.note(f"No hosted-engine domain in {storage}: this is the first host.")
            if env[K.HOST_ID] is None:
                env[K.HOST_ID] = 1
            return
        self.dialog.note(f"Joining hosted-engine domain {sd_uuid} in {storage}.")
        self._load_shared_answers(storage, sd_uuid)
        self.lock = setup_domain.DeployLock(storage, sd_uuid)
        self.lock.acquire()  # held to the end: the id chosen now stays free until commit
        entries = setup_domain.read_registry(setup_domain.registry_path(storage, sd_uuid))
        host_id = env[K.HOST_ID]
        if host_id is None:
            env[K.HOST_ID] = host_id = setup_domain.free_host_id(entries)
            self.dialog.note(f"This host takes the free host id {host_id}.")
        elif (reason := self._taken(entries, host_id)) is not None:
            raise InstallerUsageError(f"{K.HOST_ID.name}: {reason}")

    def _load_shared_answers(self, storage: Path, sd_uuid: str) -> None:
        """The first host's shared answers become this host's unless it set them itself."""
        try:
            members = ConfigArchive.in_domain(ha_dir(storage, sd_uuid)).read().members
        except ConfigArchiveError as e:
            raise InstallerUsageError(f"cannot read the domain's configuration: {e}") from None
        text = members.get("fhanswers.conf", b"").decode("utf-8", "replace")
        env = self.environment
        for assignment in setup_values.parse_answers(text, "fhanswers.conf"):
            if not env.is_assigned(assignment.key):
                env.set(assignment.key, assignment.value)

    def _taken(self, entries: list[setup_domain.HostEntry], host_id: int) -> str | None:
        entry = setup_domain.holder(entries, host_id)
        if entry is None:
            return None
        return f"host id {host_id} is taken by {entry.name} ({entry.address}); pick a free one"

    # --- validation -----------------------------------------------------------------------
    @event(stage=Stage.VALIDATION, name="hosted-engine-setup.storage.validate", condition=_active)
    def validate(self) -> None:
        env = self.environment
        storage, sd_uuid = Path(str(env[K.CONNECTION])), str(env[K.SD_UUID])
        if (reason := _directory(str(storage))) is not None:
            raise InstallerUsageError(f"{K.CONNECTION.name}: {reason}")
        if env[K.FIRST_HOST]:
            if (storage / sd_uuid).exists():
                raise InstallerUsageError(
                    f"{storage / sd_uuid} exists but is no hosted-engine domain; remove it or "
                    f"choose another {K.SD_UUID.name}"
                )
            return
        if self.lock is None:
            self.lock = setup_domain.DeployLock(storage, sd_uuid)
        self.lock.acquire()
        entries = setup_domain.read_registry(setup_domain.registry_path(storage, sd_uuid))
        host_id = env[K.HOST_ID]
        assert host_id is not None
        if (reason := self._taken(entries, host_id)) is not None:
            raise InstallerUsageError(f"{K.HOST_ID.name}: {reason}")

    # --- changes --------------------------------------------------------------------------
    def _entry(self) -> setup_domain.HostEntry:
        env = self.environment
        return setup_domain.HostEntry(
            int(env[K.HOST_ID] or 0),
            str(env[K.HOST_NAME]),
            str(env[K.HOST_ADDRESS]),
            env[K.HOSTD_PORT],
        )

    @event(
        stage=Stage.MISC,
        priority=Priority.HIGH,
        name="hosted-engine-setup.storage.domain",
        condition=_active,
    )
    def write_domain(self) -> None:
        env = self.environment
        storage, sd_uuid = Path(str(env[K.CONNECTION])), str(env[K.SD_UUID])
        if not env[K.FIRST_HOST]:
            path = setup_domain.registry_path(storage, sd_uuid)
            self.transaction.append(setup_domain.JoinRegistry(path, self._entry()))
            ca = setup_domain.ca_dir(storage, sd_uuid)
            try:
                self.ca = CertificateAuthority.load(ca)
            except PkiError as e:
                self.dialog.note(
                    f"The cluster CA is not usable here ({e}): this host's certificate request "
                    "will be shown; have it signed by the CA and paste the chain back."
                )
            return
        config = setup_values.config_values(env, self.resolve)
        vm_id = str(env[K.VM_UUID])
        ovf = ovf_from_definition(from_values(setup_values.vm_conf(env)))
        with self.dialog.progress("Creating the storage domain"):
            element = setup_domain.NewDomain(
                storage,
                sd_uuid,
                setup_values.archive_members(env, config),
                vm_id,
                ovf,
                self._entry(),
                admin_password=env[K.ADMIN_PASSWORD],
            )
            self.transaction.append(element)  # prepared at once: the staging domain exists
        self.ca = element.ca

    @event(
        stage=Stage.MISC,
        name="hosted-engine-setup.storage.sign",
        after=(host_keys.PKI_REQUEST_EVENT,),
        before=(host_keys.PKI_INSTALL_EVENT,),
        condition=lambda self: _active(self) and self.ca is not None,
    )
    def sign(self) -> None:
        """Sign this host's request between the host-deploy PKI events."""
        env = self.environment
        request = env[host_keys.CERT_REQUEST]
        if request is None or self.ca is None:
            return
        address = str(env[K.HOST_ADDRESS])
        cert = self.ca.sign_csr(request.encode(), address)
        from cryptography.hazmat.primitives import serialization

        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        env[host_keys.CERT_CHAIN] = self.ca.cert_path.read_text() + pem
        self.dialog.note(f"Signed this host's certificate for {address} with the cluster CA.")

    @event(stage=Stage.CLEANUP, name="hosted-engine-setup.storage.unlock")
    def unlock(self) -> None:
        if self.lock is not None:
            self.lock.release()


def create_plugins(context: Context) -> None:
    Storage(context)
