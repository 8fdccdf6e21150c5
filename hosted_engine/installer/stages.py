"""The fixed stages of a run and the priorities that order events inside a stage.

Stages are the coarse plan every installer shares (defaults, questions, validation, the
rollback window, close-up, termination); priorities let plugins that do not know each
other still agree on "early" and "late" within a stage without naming one another.
"""

from __future__ import annotations

import enum


class Priority(enum.IntEnum):
    """Smaller runs first; plain ints such as ``Priority.HIGH - 10`` are accepted too."""

    FIRST = 1000
    HIGH = 2000
    MEDIUM = 3000
    DEFAULT = 5000
    POST = 7000
    LOW = 9000
    LAST = 90000


class Stage(enum.IntEnum):
    """Stages in run order.

    A stage whose ``if_success`` is true is entered, and its events keep running, only
    while the run has no error; the others (INIT, CLEANUP, PRE_TERMINATE, TERMINATE) run
    always, so defaults get set and the run can always report and clean up.
    """

    id: str
    description: str
    if_success: bool

    def __new__(cls, value: int, id_: str, description: str, if_success: bool) -> Stage:
        member = int.__new__(cls, value)
        member._value_ = value
        member.id = id_
        member.description = description
        member.if_success = if_success
        return member

    BOOT = (0, "boot", "Booting", True)
    INIT = (1, "init", "Initializing", False)
    SETUP = (2, "setup", "Environment setup", True)
    INTERNAL_PACKAGES = (3, "internal_packages", "Environment packages setup", True)
    PROGRAMS = (4, "programs", "Programs detection", True)
    LATE_SETUP = (5, "late_setup", "Environment setup (late)", True)
    CUSTOMIZATION = (6, "customization", "Environment customization", True)
    VALIDATION = (7, "validation", "Setup validation", True)
    TRANSACTION_BEGIN = (8, "transaction-prepare", "Transaction setup", True)
    EARLY_MISC = (9, "early_misc", "Misc configuration (early)", True)
    PACKAGES = (10, "packages", "Package installation", True)
    MISC = (11, "misc", "Misc configuration", True)
    # The reference reused the id "cleanup" here, which made logs ambiguous.
    TRANSACTION_END = (12, "transaction-commit", "Transaction commit", True)
    CLOSEUP = (13, "closeup", "Closing up", True)
    CLEANUP = (14, "cleanup", "Clean up", False)
    PRE_TERMINATE = (15, "pre-terminate", "Pre-termination", False)
    TERMINATE = (16, "terminate", "Termination", False)
    REBOOT = (17, "reboot", "Reboot", True)
