"""Environment keys the framework itself owns (plugins declare their own)."""

from __future__ import annotations

import os
import tempfile

from .environment import key
from .values import BOOL, INT, STR

PRODUCT = "hosted-engine-installer"

# BASE: how the run is put together and how it went.
ERROR = key("BASE/error", BOOL, False, description="An event failed")
ABORTED = key("BASE/aborted", BOOL, False, description="The user or manager aborted")
EXIT_MAX = 255  # the OS keeps only the low 8 bits: 256 would be a success


def _exit_code_problem(code: int) -> str | None:
    if 0 <= code <= EXIT_MAX:
        return None
    return f"an exit code must be between 0 and {EXIT_MAX} (got {code})"


EXIT_CODE = key(
    "BASE/exitCode",
    INT,
    0,
    description="Exit code requested by plugins",
    check=_exit_code_problem,
)
PLUGIN_PATH = key("BASE/pluginPath", STR, "", description="':'-separated plugin directories")
PLUGIN_GROUPS = key("BASE/pluginGroups", STR, "", description="':'-separated groups to load")

# CORE: files and sequencing.
CONFIG_FILE_NAME = key(
    "CORE/configFileName", STR, f"/etc/{PRODUCT}.conf", description="':'-separated, under the root"
)
CONFIG_FILE_APPEND = key(
    "CORE/configFileAppend", STR, description="':'-separated extra config or answer files"
)
LOG_DIR = key("CORE/logDir", STR, tempfile.gettempdir())
LOG_FILE_NAME = key("CORE/logFileName", STR)
LOG_FILE_NAME_PREFIX = key("CORE/logFileNamePrefix", STR, PRODUCT)
LOG_REMOVE_AT_EXIT = key("CORE/logRemoveAtExit", BOOL, False)
IGNORE_MISSING_BEFORE_AFTER = key(
    "CORE/ignoreMissingBeforeAfter", BOOL, False, description="Only warn about dangling names"
)

# DIALOG: who is on the other side.
DIALECT = key("DIALOG/dialect", STR, "human", description="human or machine")
CUSTOMIZATION = key("DIALOG/customization", BOOL, False, description="Offer the command line")
AUTO_ACCEPT_DEFAULT = key("DIALOG/autoAcceptDefault", BOOL, False)
ANSWER_FILE = key("DIALOG/answerFile", STR, description="Where to write the answer file")

# SYSTEM: the machine being changed.
ROOT = key("SYSTEM/root", STR, "/", description="Prefix for every system path (tests)")
COMMAND_PATH = key(
    "SYSTEM/commandPath",
    STR,
    os.environ.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)
# A provider that leaves the services to whoever runs the installer (the lab starts its
# daemons itself, under its own watchdogs): plugins skip what needs them running.
SERVICES_CALLER = "caller"
SERVICES_PROVIDER = key(
    "SYSTEM/servicesProvider",
    STR,
    "auto",
    description=f"auto|systemd|recording|command|{SERVICES_CALLER}",
)
SERVICES_COMMAND = key(
    "SYSTEM/servicesCommand",
    STR,
    description="servicesProvider=command: the argv (shell-split) run as <argv> <action> <unit>",
)
PACKAGER_PROVIDER = key("PACKAGER/provider", STR, "auto", description="auto|apt|dnf|offline")

ALL = (
    ERROR,
    ABORTED,
    EXIT_CODE,
    PLUGIN_PATH,
    PLUGIN_GROUPS,
    CONFIG_FILE_NAME,
    CONFIG_FILE_APPEND,
    LOG_DIR,
    LOG_FILE_NAME,
    LOG_FILE_NAME_PREFIX,
    LOG_REMOVE_AT_EXIT,
    IGNORE_MISSING_BEFORE_AFTER,
    DIALECT,
    CUSTOMIZATION,
    AUTO_ACCEPT_DEFAULT,
    ANSWER_FILE,
    ROOT,
    COMMAND_PATH,
    SERVICES_PROVIDER,
    SERVICES_COMMAND,
    PACKAGER_PROVIDER,
)
