"""Bundles: the framework plus chosen plugin groups, as one reproducible tar.

Layout: ``lib/hosted_engine/{__init__,errors}.py``, ``lib/hosted_engine/installer/**`` and
``lib/hosted_engine/deploy/{__init__,keys}.py`` (the host-deploy contract)
(importable with ``lib`` on ``sys.path``), ``plugins/<group>/**``, and ``MANIFEST.json``
(groups and a SHA-256 per file). Members are sorted and have fixed owners and times, so
the same sources always give the same bytes and the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.errors import RemoteRunError

from .bootstrap import MAGIC, VERSION
from .loader import find_group

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../hosted_engine
_SKIP_PARTS = {"__pycache__"}
DEPLOY_CONTRACT = ("__init__.py", "keys.py")


@dataclass(frozen=True)
class Bundle:
    payload: bytes
    groups: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def framed(self) -> bytes:
        """The payload as the remote bootstrap reads it: header line, then the tar."""
        header = f"{MAGIC} {VERSION} {len(self.payload)} {self.sha256}\n"
        return header.encode("ascii") + self.payload

    def names(self) -> list[str]:
        with tarfile.open(fileobj=io.BytesIO(self.payload)) as tar:
            return tar.getnames()


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not _SKIP_PARTS & set(relative.parts) and path.suffix != ".pyc":
            yield path


def framework_files() -> Iterator[tuple[str, Path]]:
    for name in ("__init__.py", "errors.py"):
        yield f"lib/hosted_engine/{name}", _PACKAGE_ROOT / name
    # The host-deploy contract: its plugins import it, and it imports only the framework.
    for name in DEPLOY_CONTRACT:
        yield f"lib/hosted_engine/deploy/{name}", _PACKAGE_ROOT / "deploy" / name
    installer = _PACKAGE_ROOT / "installer"
    for path in _files(installer):
        yield f"lib/hosted_engine/installer/{path.relative_to(installer)}", path


def build_bundle(groups: Iterable[str], plugin_path: Iterable[str]) -> Bundle:
    """Bundle the framework and ``groups``, found along ``plugin_path`` like the loader does."""
    chosen = tuple(groups)
    directories = list(plugin_path)
    members: list[tuple[str, Path]] = list(framework_files())
    for group in chosen:
        found = find_group(group, directories)
        if found is None:
            raise RemoteRunError(f"plugin group {group} not found in {':'.join(directories)}")
        members += [(f"plugins/{group}/{p.relative_to(found)}", p) for p in _files(found)]
    contents = {name: path.read_bytes() for name, path in members}
    manifest = {
        "format": 1,
        "groups": list(chosen),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
    }
    contents["MANIFEST.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(contents):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(contents[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(contents[name]))
    return Bundle(buffer.getvalue(), chosen)
