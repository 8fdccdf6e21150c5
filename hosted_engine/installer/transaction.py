"""All-or-nothing changes: prepared early, committed together, undone together.

Elements prepare everything that may fail without changing what others see; commit is
then a few renames. Unlike the reference, elements commit in the order they were added, a
commit that fails half-way undoes the elements already committed, and nothing relies on
``__del__``.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Callable

from hosted_engine.errors import TransactionError


class TransactionElement(abc.ABC):
    @abc.abstractmethod
    def prepare(self) -> None:
        """Do everything that may fail, invisibly."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the prepared change visible; should be quick and unlikely to fail."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Throw away what :meth:`prepare` did."""

    def rollback(self) -> None:
        """Undo a commit because a later element of the same transaction failed to commit."""
        return None

    def finish(self) -> None:
        """The whole transaction committed: drop what was kept for :meth:`rollback`."""
        return None


class State(enum.Enum):
    OPEN = "open"
    PREPARED = "prepared"
    COMMITTED = "committed"
    ABORTED = "aborted"


class Transaction:
    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.state = State.OPEN
        self._logger = logger or logging.getLogger(__name__)
        self._elements: list[TransactionElement] = []
        self._prepared: list[TransactionElement] = []

    def append(self, element: TransactionElement) -> None:
        """Add ``element``; once the transaction is prepared, it is prepared at once."""
        if self.state in (State.COMMITTED, State.ABORTED):
            raise TransactionError(f"transaction {self.name} is already {self.state.value}")
        self._elements.append(element)
        if self.state is State.PREPARED:
            self._prepare(element)

    def prepare(self) -> None:
        if self.state is not State.OPEN:
            raise TransactionError(f"transaction {self.name} is already {self.state.value}")
        self.state = State.PREPARED
        for element in self._elements:
            self._prepare(element)

    def _prepare(self, element: TransactionElement) -> None:
        element.prepare()
        self._prepared.append(element)

    def commit(self) -> None:
        if self.state is not State.PREPARED:
            raise TransactionError(f"transaction {self.name} is {self.state.value}, not prepared")
        committed: list[TransactionElement] = []
        for element in self._prepared:
            try:
                element.commit()
            except Exception as e:
                self._logger.debug("commit of %r failed", element, exc_info=True)
                for done in reversed(committed):
                    self._quietly(done.rollback)
                self._prepared = [el for el in self._prepared if el not in committed]
                self.abort()
                raise TransactionError(f"transaction {self.name} failed to commit: {e}") from e
            committed.append(element)
        self.state = State.COMMITTED
        for element in committed:
            self._quietly(element.finish)

    def abort(self) -> None:
        """Throw away every prepared element; errors are logged, never raised."""
        if self.state in (State.COMMITTED, State.ABORTED):
            return
        self.state = State.ABORTED
        for element in reversed(self._prepared):
            self._quietly(element.abort)
        self._prepared = []

    def _quietly(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            self._logger.warning("transaction %s: %r failed", self.name, action, exc_info=True)

    def __enter__(self) -> Transaction:
        self.prepare()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
