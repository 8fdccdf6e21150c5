"""The shared storage side of ``hosted-engine --deploy``: the domain, its CA and host registry.

The first host lays out a whole domain (HA files, configuration archive, OVF_STORE, the
engine VM's disk directory with the cluster CA, the manager's client certificate and the
host registry ``hosts.json``) in a hidden staging directory beside the final one and
renames it into place at the commit: an aborted deploy leaves the storage directory as it
found it, and other hosts never see half a domain. An additional host changes only the
registry, replaced atomically at the commit, under a lock file next to the metadata that
it holds from validation to the end of the run so two hosts cannot take the same id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosted_engine.deploy.paths import DISK, REGISTRY
from hosted_engine.errors import StorageError, UsageError
from hosted_engine.installer import TransactionElement
from hosted_engine.pki import CertificateAuthority, write_key_pair
from hosted_engine.storage.config_archive import ConfigArchive
from hosted_engine.storage.domain import HA_DIR_NAME, METADATA_NAME, create_domain
from hosted_engine.storage.metadata import MAX_HOST_ID
from hosted_engine.storage.ovf_store import OvfStore

LOCK_NAME = "hosted-engine.deploy.lock"
STAGING_PREFIX = ".deploying-"


def find_domains(storage: Path) -> list[str]:
    """The sdUUIDs of the hosted-engine domains in ``storage`` (those with a metadata file)."""
    try:
        children = sorted(storage.iterdir())
    except OSError:
        return []
    return [
        child.name
        for child in children
        if not child.name.startswith(".") and (child / HA_DIR_NAME / METADATA_NAME).is_file()
    ]


def engine_disk(storage: Path, sd_uuid: str) -> Path:
    """The directory that plays the engine VM's disk (the manager's data lives there)."""
    return storage / sd_uuid / DISK


def ca_dir(storage: Path, sd_uuid: str) -> Path:
    """The cluster CA, kept on the engine VM's disk as the engine keeps its own."""
    return engine_disk(storage, sd_uuid) / "pki"


@dataclass(frozen=True)
class HostEntry:
    host_id: int
    name: str
    address: str
    port: int

    def as_json(self) -> dict[str, Any]:
        return {
            "host_id": self.host_id,
            "name": self.name,
            "address": self.address,
            "port": self.port,
        }


def read_registry(path: Path) -> list[HostEntry]:
    """The hosts deployed so far; a missing registry is an empty one."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise StorageError(f"{path}: unreadable host registry: {e}") from None
    try:
        return [
            HostEntry(int(e["host_id"]), str(e["name"]), str(e["address"]), int(e["port"]))
            for e in raw
        ]
    except (KeyError, TypeError, ValueError) as e:
        raise StorageError(f"{path}: bad host registry entry: {e}") from None


def registry_path(storage: Path, sd_uuid: str) -> Path:
    return engine_disk(storage, sd_uuid) / REGISTRY


def holder(entries: list[HostEntry], host_id: int) -> HostEntry | None:
    return next((e for e in entries if e.host_id == host_id), None)


def free_host_id(entries: list[HostEntry]) -> int:
    taken = {e.host_id for e in entries}
    for candidate in range(1, MAX_HOST_ID + 1):
        if candidate not in taken:
            return candidate
    raise UsageError(f"every host id (1..{MAX_HOST_ID}) of this storage domain is taken")


def _registry_text(entries: list[HostEntry]) -> str:
    ordered = sorted(entries, key=lambda e: e.host_id)
    return json.dumps([e.as_json() for e in ordered], indent=2) + "\n"


class DeployLock:
    """An exclusive lock on ``<ha_agent>/hosted-engine.deploy.lock`` (fcntl: released by
    the kernel if the deploy dies)."""

    def __init__(self, storage: Path, sd_uuid: str) -> None:
        self.path = storage / sd_uuid / HA_DIR_NAME / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, timeout: float = 30.0) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except OSError as e:
            raise StorageError(f"cannot open the deploy lock {self.path}: {e.strerror}") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StorageError(
                        f"another host has been deploying on this domain for {timeout:.0f}s "
                        f"(lock {self.path}); wait for it to finish and retry"
                    ) from None
                time.sleep(0.1)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def seed_admin(disk: Path, password: str) -> None:
    """The manager's ``admin`` with the chosen password, in its database on the disk, so
    its first start keeps it instead of generating one."""
    from argon2 import PasswordHasher

    from hosted_engine.manager.auth import ADMIN_USER
    from hosted_engine.manager.db import open_database

    db = open_database(disk)
    try:
        db.add_user(ADMIN_USER, PasswordHasher().hash(password))
    finally:
        db.close()


class NewDomain(TransactionElement):
    """The whole domain of the first host, built in staging, renamed in at the commit."""

    def __init__(
        self,
        storage: Path,
        sd_uuid: str,
        archive: Mapping[str, bytes],
        vm_id: str,
        ovf: bytes,
        host: HostEntry,
        *,
        admin_password: str | None = None,
    ) -> None:
        self.storage, self.sd_uuid = storage, sd_uuid
        self._admin_password = admin_password
        self.staging = storage / f"{STAGING_PREFIX}{sd_uuid}"
        self._archive, self._vm_id, self._ovf, self._host = dict(archive), vm_id, ovf, host
        self.ca: CertificateAuthority | None = None
        self._committed = False

    def prepare(self) -> None:
        if (self.storage / self.sd_uuid).exists():
            raise StorageError(f"{self.storage / self.sd_uuid} already exists")
        shutil.rmtree(self.staging, ignore_errors=True)  # left by a deploy that was killed
        try:
            self.staging.mkdir()
            ha = create_domain(self.staging, self.sd_uuid)
            ConfigArchive.in_domain(ha).create(self._archive)
            OvfStore(ha).put_vm_ovf(self._vm_id, self._ovf, "deploy", overwrite=False)
            disk = engine_disk(self.staging, self.sd_uuid)
            pki = ca_dir(self.staging, self.sd_uuid)
            self.ca = CertificateAuthority.create(pki)
            write_key_pair(
                self.ca.issue_client("manager"), pki / "manager.pem", pki / "manager.key"
            )
            (disk / REGISTRY).write_text(_registry_text([self._host]))
            if self._admin_password is not None:
                seed_admin(disk, self._admin_password)
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise

    def commit(self) -> None:
        os.rename(self.staging / self.sd_uuid, self.storage / self.sd_uuid)
        self._committed = True
        self.staging.rmdir()

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def rollback(self) -> None:
        if self._committed:
            shutil.rmtree(self.storage / self.sd_uuid, ignore_errors=True)


class JoinRegistry(TransactionElement):
    """An additional host's line in the registry, written at the commit (lock held)."""

    def __init__(self, path: Path, host: HostEntry) -> None:
        self.path, self._host = path, host
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._old: str | None = None

    def prepare(self) -> None:
        entries = [e for e in read_registry(self.path) if e.host_id != self._host.host_id]
        with contextlib.suppress(FileNotFoundError):
            self._old = self.path.read_text()
        self._tmp.write_text(_registry_text([*entries, self._host]))

    def commit(self) -> None:
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._tmp.unlink(missing_ok=True)

    def rollback(self) -> None:
        if self._old is not None:
            self.path.write_text(self._old)
