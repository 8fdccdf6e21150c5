"""Maintenance modes and the recovery verbs that need the host-id leases."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from enum import StrEnum

from hosted_engine.client.base import ClientBase
from hosted_engine.errors import HostedEngineError, LeaseHeldError, MetadataError, UsageError


class MaintenanceMode(StrEnum):
    GLOBAL = "global"
    LOCAL = "local"
    NONE = "none"


class MaintenanceClient(ClientBase):
    def set_maintenance(self, mode: MaintenanceMode | str) -> None:
        """As the reference: every mode writes the global flag and both local flags.

        All or nothing: the local flags are read (so an unreadable or malformed ha.conf is
        refused) and the global flag is read before either is written. The flag being
        turned on is written first, so no moment has this host in no maintenance at
        all; when the second write fails, the first is undone and the error raised.
        """
        try:
            mode = MaintenanceMode(mode)
        except ValueError:
            raise UsageError(f"Invalid value '{mode}' for --mode") from None
        from hosted_engine.config import ha_state
        from hosted_engine.vm.base import VmState

        if mode is MaintenanceMode.LOCAL and self.backend.status().state is not VmState.DOWN:
            raise UsageError(
                "Unable to enter local maintenance mode: the engine VM is running on the "
                "current host, please migrate it before entering local maintenance mode."
            )
        board = self._whiteboard()
        path, lock = self.config.ha_state_path, self.config.local_config_lock
        want_global, local = mode is MaintenanceMode.GLOBAL, mode is MaintenanceMode.LOCAL
        before = ha_state.read_flags(path)
        try:
            was_global = board.read_global().maintenance
        except MetadataError:
            was_global = False  # a corrupt slot 0 reads as no global maintenance

        def set_global(on: bool) -> None:
            board.update_global(maintenance=on)

        def set_local(on: bool) -> None:
            ha_state.set_flags(path, local=on, manual=on, lock=lock)

        def restore_local() -> None:
            ha_state.set_flags(
                path, local=before[ha_state.LOCAL], manual=before[ha_state.LOCAL_MANUAL], lock=lock
            )

        steps: list[tuple[Callable[[], None], Callable[[], None]]] = [
            (lambda: set_global(want_global), lambda: set_global(was_global)),
            (lambda: set_local(local), restore_local),
        ]
        if not want_global:
            steps.reverse()
        done: list[Callable[[], None]] = []
        try:
            for apply, undo in steps:
                apply()
                done.append(undo)
        except BaseException:
            for undo in reversed(done):
                with contextlib.suppress(HostedEngineError, OSError):
                    undo()
            raise

    def local_maintenance(self) -> bool:
        from hosted_engine.config import ha_state

        return ha_state.local_maintenance(self.config.ha_state_path)

    def clean_metadata(self, host_id: int | None = None, force: bool = False) -> str:
        """Forget a host's slot. Never a live host's: its broker holds the host-id lease."""
        from hosted_engine.storage.metadata import MAX_HOST_ID

        target = self.config.host_id if host_id is None else host_id
        if not 1 <= target <= MAX_HOST_ID:
            raise UsageError(f"--host-id must be between 1 and {MAX_HOST_ID} (got {target})")
        try:
            lease = self.leases.acquire_host_id(target, self.config.hostname)
        except LeaseHeldError:
            raise UsageError(
                f"Host {target} is live: its broker holds the host-id lease. Stop the agent "
                "and broker of that host before cleaning its metadata."
            ) from None
        try:
            board = self._whiteboard()
            try:
                record = board.read_slot(target)
            except MetadataError as e:
                if not force:
                    raise UsageError(
                        f"Metadata of host {target} is unreadable ({e}). Consider --force-cleanup."
                    ) from None
                record = None
            else:
                if record is None:
                    return f"Metadata for host {target} is already clean."
                if not record.stopped and not force:
                    raise UsageError(
                        f"Cannot clean unclean metadata block of host {target} (its agent "
                        "did not stop cleanly). Consider --force-cleanup."
                    )
            board.clear_slot(target)
        finally:
            lease.release()
        return f"Metadata for host {target} cleaned."

    def reinitialize_lockspace(self, force: bool = False) -> str:
        if not force:
            scan = self._whiteboard().scan()
            if not scan.global_flags.maintenance:
                raise UsageError("Lockfile reset can be performed in global maintenance mode only.")
            active = sorted(h for h, r in scan.hosts.items() if not r.stopped)
            if active:
                raise UsageError(
                    "Lockfile reset cannot be performed with an active agent "
                    f"(host ids: {', '.join(map(str, active))})."
                )
            from hosted_engine.storage.metadata import MAX_HOST_ID

            # every id, not only those with a slot: a broker holds its lease before its
            # first write, and keeps it while its writes fail or after its slot was cleaned
            held = [
                h for h in range(1, MAX_HOST_ID + 1) if self.leases.host_id_holder(h) is not None
            ]
            if held:
                raise UsageError(
                    "Lockfile reset cannot be performed while brokers hold their host-id "
                    f"leases (host ids: {', '.join(map(str, held))}); stop them first."
                )
        self.leases.reinitialize()
        return "Lockspace reinitialized."
