"""Finding plugin groups on disk and importing their plugins.

A group is a directory, directly under one of the ``BASE/pluginPath`` entries, named in
``BASE/pluginGroups``. Inside it, each directory holding an ``__init__.py`` is a plugin
package (directories without one are searched further). Discovery is sorted, so the load
order and the module names are the same on every run.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from hosted_engine.errors import PluginLoadError

if TYPE_CHECKING:
    from .context import Context

MODULE_ROOT = "hosted_engine_installer_plugins"


def split_list(value: str | None) -> list[str]:
    return [item for item in (value or "").split(":") if item]


def find_group(name: str, plugin_path: list[str]) -> Path | None:
    for directory in plugin_path:
        candidate = Path(directory) / name
        if candidate.is_dir():
            return candidate
    return None


def plugin_packages(group: Path) -> Iterator[Path]:
    for child in sorted(group.iterdir()):
        if not child.is_dir() or child.name.startswith(("_", ".")):
            continue
        if (child / "__init__.py").is_file():
            yield child
        else:
            yield from plugin_packages(child)


def module_name(group: str, package: Path, group_dir: Path) -> str:
    parts = [group, *package.relative_to(group_dir).parts]
    return ".".join([MODULE_ROOT, *(re.sub(r"[^A-Za-z0-9_]", "_", p) for p in parts)])


def _import(name: str, package: Path) -> ModuleType:
    for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[loaded]  # a fresh copy per run: no state leaks between runs
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot build an import spec for {package}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_groups(context: Context, groups: list[str], plugin_path: list[str]) -> list[str]:
    """Import every plugin of ``groups`` and call its ``create_plugins(context)``.

    Returns the module names loaded; any failure is a :class:`PluginLoadError` naming the
    plugin, so the run stops before it starts (exit code 2).
    """
    located = {name: find_group(name, plugin_path) for name in groups}
    missing = [name for name, where in located.items() if where is None]
    if missing:
        raise PluginLoadError(
            f"plugin groups {', '.join(missing)} are missing from the plugin path "
            f"{':'.join(plugin_path) or '(empty)'}"
        )
    loaded = []
    for group, group_dir in located.items():
        assert group_dir is not None
        for package in plugin_packages(group_dir):
            name = module_name(group, package, group_dir)
            where = f"plugin {group}/{package.relative_to(group_dir)}"
            try:
                module = _import(name, package)
                create = getattr(module, "create_plugins", None)
                if not callable(create):
                    raise PluginLoadError(
                        f"{where}: __init__.py defines no create_plugins(context)"
                    )
                create(context)
            except PluginLoadError as e:
                message = str(e) if str(e).startswith(where) else f"{where}: {e}"
                raise PluginLoadError(message) from e
            except SystemExit as e:  # not the plugin's to end the process, even while loading
                raise PluginLoadError(f"{where}: called sys.exit({e.code!r}) while loading") from e
            except Exception as e:
                raise PluginLoadError(f"{where}: {type(e).__name__}: {e}") from e
            loaded.append(name)
    return loaded
