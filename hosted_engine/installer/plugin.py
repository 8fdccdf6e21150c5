"""The base class every plugin derives from, and the helpers it hands to plugin code."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .environment import Environment, Key
from .events import EventNamespace
from .files import Content, FileTransaction
from .keys import ROOT
from .system.execute import Completed

if TYPE_CHECKING:
    from .context import Context
    from .dialogs.dialog import Dialog
    from .system.commands import Commands
    from .system.packagers import Packager
    from .system.services import Services
    from .transaction import Transaction


class PluginMeta(type):
    """Gives class bodies a namespace that rejects a second definition of an event method."""

    @classmethod
    def __prepare__(  # type: ignore[override]
        mcs, name: str, bases: tuple[type, ...], **kwargs: Any
    ) -> EventNamespace:
        return EventNamespace()


class Plugin(metaclass=PluginMeta):
    """A set of events sharing state; creating it registers it with ``context``.

    Declare the environment keys you own in ``__init__`` (``self.declare(...)``), so values
    given on the command line or in files can be checked before the run starts.
    """

    def __init__(self, context: Context) -> None:
        self.context = context
        context.register(self)

    @property
    def name(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"

    def declare(self, *keys: Key[Any]) -> None:
        for declared in keys:
            self.context.environment.declare(declared, owner=self.name)

    @property
    def environment(self) -> Environment:
        return self.context.environment

    @property
    def dialog(self) -> Dialog:
        return self.context.dialog

    @property
    def logger(self) -> logging.Logger:
        return self.context.logger

    @property
    def services(self) -> Services:
        return self.context.services

    @property
    def packager(self) -> Packager:
        return self.context.packager

    @property
    def commands(self) -> Commands:
        return self.context.commands

    @property
    def transaction(self) -> Transaction:
        """The main transaction, prepared at TRANSACTION_BEGIN and committed at its END."""
        return self.context.transaction

    def resolve(self, path: str | os.PathLike[str]) -> str:
        """``path`` (absolute, as on the target system) under ``SYSTEM/root``."""
        return os.path.join(self.environment[ROOT], os.fspath(path).lstrip("/"))

    def execute(self, args: Sequence[str], **kwargs: Any) -> Completed:
        return self.context.execute(args, **kwargs)

    def write_file(
        self, path: str | os.PathLike[str], content: Content, **kwargs: Any
    ) -> FileTransaction:
        """Write ``path`` (under the root) as part of the main transaction."""
        element = FileTransaction(
            self.resolve(path), content, modified=self.context.modified_files, **kwargs
        )
        self.transaction.append(element)
        return element
