"""The installer's own plugins, always loaded first: log, configuration, dialog, system."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ConfigPlugin
from .dialog import DialogPlugin
from .log import LogPlugin
from .system import SystemPlugin

if TYPE_CHECKING:
    from ..context import Context


def create_plugins(context: Context) -> None:
    for plugin in (LogPlugin, ConfigPlugin, DialogPlugin, SystemPlugin):
        plugin(context)
