"""What every part of the client shares: the host's configuration and how to reach things.

Each verb runs in a fresh process, so the modules only some verbs need (VM backends,
leases, the metadata codec, HTTP) are imported by those verbs, not here: a cold
``--get-shared-config`` pays for the shared-configuration code only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hosted_engine.config.host import HostConfig
from hosted_engine.errors import (
    BrokerUnavailableError,
    NotDeployedError,
    RpcError,
    StorageError,
    UsageError,
)
from hosted_engine.jsonrpc import INTERACTIVE_TIMEOUT, RpcClient

if TYPE_CHECKING:
    from hosted_engine.config.shared import SharedConfig
    from hosted_engine.locking.base import LeaseManager
    from hosted_engine.storage.whiteboard import Whiteboard
    from hosted_engine.vm.base import VmBackend


class ClientBase:
    def __init__(
        self,
        config: HostConfig,
        leases: LeaseManager | None = None,
        backend: VmBackend | None = None,
    ) -> None:
        self.config = config
        self._leases = leases
        self._backend = backend

    @property
    def leases(self) -> LeaseManager:
        if self._leases is None:
            from hosted_engine.backends import lease_manager_for

            self._leases = lease_manager_for(self.config)
        return self._leases

    @property
    def backend(self) -> VmBackend:
        if self._backend is None:
            from hosted_engine.backends import vm_backend_for

            self._backend = vm_backend_for(self.config)
        return self._backend

    def _broker_call(self, method: str, timeout: float | None = None, **params: Any) -> Any:
        # an admin command: a hung broker must not hold it up longer than a few seconds
        limit = timeout or min(self.config.timing.rpc_timeout, INTERACTIVE_TIMEOUT)
        client = RpcClient(self.config.broker_socket, timeout=limit)
        try:
            return client.call(method, **params)
        finally:
            client.close()

    def _whiteboard(self) -> Whiteboard:
        from hosted_engine.storage.whiteboard import Whiteboard

        return Whiteboard(self.config.metadata_path)

    def _shared(self) -> SharedConfig:
        from hosted_engine.config.shared import SharedConfig

        return SharedConfig(self.config)

    def _require_deployed(self) -> None:
        if not self.config.is_deployed:
            raise NotDeployedError("You must run deploy first")

    def _vm_id(self) -> str:
        if not self.config.vm_id:
            raise NotDeployedError("You must run deploy first")
        return self.config.vm_id

    def _refresh_local_cache(self) -> None:
        """Let the local broker see a change at once; others pick it up within a period."""
        self.refresh_config_cache()

    def refresh_config_cache(self) -> bool:
        """Have the local broker re-read the shared configuration and the engine VM's OVF
        now (what a writer on another host asks, so this host shows its change at once);
        False when no broker answered: its periodic refresh will catch up."""
        try:
            self._broker_call("refresh_config", timeout=2.0)
        except (BrokerUnavailableError, RpcError):
            return False
        return True


def read_admin_file(path: Path, limit: int) -> bytes:
    """An admin's file, refused when over ``limit`` bytes (never read further than that)
    or not a regular file (a FIFO would hang the verb)."""
    from hosted_engine.files.regular import read_bounded

    data = read_bounded(path, limit, UsageError)
    if data is None:
        raise UsageError(f"cannot read {path}: No such file or directory")
    return data


def utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None


def _refuse_non_regular(path: Path) -> None:
    """A download replaces a regular file or creates one, nothing else: renaming over a
    symlink (say to /proc/self/fd/1), a device node or a FIFO would destroy it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not os.path.isdir(path.parent):
            raise UsageError(f"cannot write {path}: its directory does not exist") from None
        return
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"cannot write {path}: it exists and is not a regular file (refusing to replace it)"
        )


def save_admin_file(path: str | Path, data: bytes) -> None:
    """Write a download for the admin, whole or not at all, and only as a regular file."""
    from hosted_engine.files.atomic import write_atomically

    target = Path(path)
    _refuse_non_regular(target)

    def recheck(step: str) -> None:
        if step == "synced":  # right before the rename: the target may have been swapped
            _refuse_non_regular(target)

    try:
        write_atomically(target, data, checkpoint=recheck)
    except OSError as e:
        raise StorageError(f"cannot write {path}: {e.strerror}") from None
