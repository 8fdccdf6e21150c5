"""A plugin-based installer framework: stages, typed environment, dialogs, transactions.

Plugin groups are directories of plugin packages; each plugin registers events that run
in a fixed sequence of stages. See ``docs/installer.md`` for a guide.
"""

from __future__ import annotations

from .context import Context
from .environment import Environment, Key, key
from .events import event
from .files import FileTransaction
from .plugin import Plugin
from .runner import RunResult
from .stages import Priority, Stage
from .transaction import Transaction, TransactionElement
from .values import BOOL, INT, MULTI_STR, NONE, STR, Assignment

__all__ = [
    "BOOL",
    "INT",
    "MULTI_STR",
    "NONE",
    "STR",
    "Assignment",
    "Context",
    "Environment",
    "FileTransaction",
    "Key",
    "Plugin",
    "Priority",
    "RunResult",
    "Stage",
    "Transaction",
    "TransactionElement",
    "event",
    "key",
]
