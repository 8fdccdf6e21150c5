"""The shared configuration (seed 000): get, set, list, download and upload."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hosted_engine.client.base import ClientBase, read_admin_file, save_admin_file
from hosted_engine.errors import UsageError

if TYPE_CHECKING:
    from hosted_engine.config.shared import ConfigChange


class SharedConfigClient(ClientBase):
    def locate_shared_config(self, key: str, config_type: str | None = None) -> str:
        """The type holding ``key``; raises the seed's key, type and duplicate errors."""
        return self._shared().locate(key, config_type)

    def get_shared_config(self, key: str, config_type: str | None = None) -> tuple[str, str]:
        """``(value, type)``, read from the archive itself, never a cache."""
        return self._shared().get(key, config_type)

    def get_all_config(self, config_type: str | None = None) -> dict[str, dict[str, str]]:
        return self._shared().get_all(config_type)

    def get_all_config_keys(self, config_type: str | None = None) -> dict[str, list[str]]:
        return self._shared().keys(config_type)

    def set_shared_config(
        self, key: str, value: str, config_type: str | None = None, *, force: bool = False
    ) -> ConfigChange | None:
        """Set one key; None when it already had the value. The engine VM definition is
        changed only with ``force``: a wrong value can keep the VM from starting."""
        shared = self._shared()
        if not force and shared.locate(key, config_type) == "vm":
            raise UsageError(
                "Changing the engine VM definition needs confirmation: add --force "
                "(a wrong value can keep the engine VM from starting)"
            )
        change = shared.set(key, value, config_type)
        if change is not None:
            self._refresh_local_cache()
        return change

    def download_shared_config(self, path: str | Path) -> None:
        """Save the configuration archive (checked first: never hand out a hostile tar)."""
        save_admin_file(path, self._shared().download())

    def upload_shared_config(self, path: str | Path) -> ConfigChange | None:
        """Replace the whole configuration archive with the tar at ``path``, once checked."""
        from hosted_engine.storage.config_archive import MAX_ARCHIVE_BYTES

        data = read_admin_file(Path(path), MAX_ARCHIVE_BYTES)
        change = self._shared().upload(data, str(path))
        if change is not None:
            self._refresh_local_cache()
        return change
