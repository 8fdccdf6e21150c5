"""Configuration and answer files: INI files whose ``[environment:*]`` sections hold values.

Sections say *when* and *how hard* a value applies:
``default`` (before the run, unless the command line set the key), ``init`` (before the run,
always), ``override`` (before the questions), ``enforce`` (after the questions). Answer
files are the same format, written with a ``default`` section, so replaying one only fills
what the command line did not.
"""

from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hosted_engine.errors import EnvironmentKeyError, InstallerConfigError, InstallerUsageError

from . import values
from .environment import Environment
from .values import Assignment

SECTIONS = ("default", "init", "override", "enforce")
SECTION_PREFIX = "environment:"
QUESTION_PREFIX = "QUESTION/"


@dataclass
class ConfigValues:
    files: list[str] = field(default_factory=list)
    sections: dict[str, list[Assignment]] = field(
        default_factory=lambda: {name: [] for name in SECTIONS}
    )


def expand(names: list[str], *, required: bool) -> list[Path]:
    """Each file (if present) followed by its ``<file>.d/*.conf``, sorted."""
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        directory = Path(f"{name}.d")
        extra = sorted(directory.glob("*.conf")) if directory.is_dir() else []
        exists = path.exists()
        if required and not exists and not extra:
            raise InstallerConfigError(f"{name}: no such file")
        paths += ([path] if exists else []) + extra  # read() refuses what is not a file
    return paths


MAX_FILE_BYTES = 4 << 20  # far more than any configuration or answer file


def _read_text(path: Path) -> str:
    """The file's text; only a regular file is read, and it is opened without blocking,
    so a FIFO or a device given as a configuration file is refused instead of hanging."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InstallerConfigError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > MAX_FILE_BYTES:
            raise InstallerConfigError(f"{path}: more than the {MAX_FILE_BYTES} bytes allowed")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InstallerConfigError(f"{path}: more than the {MAX_FILE_BYTES} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InstallerConfigError(
            f"{path}: not UTF-8 text (invalid byte at offset {e.start})"
        ) from None


def read(paths: list[Path]) -> ConfigValues:
    result = ConfigValues()
    for path in paths:
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            text = _read_text(path)
            if "\x00" in text:
                raise InstallerConfigError(f"{path}: holds a NUL character, so it is not text")
            parser.read_string(text, str(path))
        except (OSError, configparser.Error) as e:
            raise InstallerConfigError(f"{path}: {' '.join(str(e).split())}") from None
        for section in parser.sections():
            if not section.startswith(SECTION_PREFIX):
                continue  # other tools may keep their settings in the same file
            kind = section[len(SECTION_PREFIX) :]
            if kind not in SECTIONS:
                raise InstallerConfigError(f"{path}: unknown section [{section}]")
            for name, text in parser.items(section):
                try:
                    assignment = Assignment.parse(f"{name}={text}", source=str(path))
                except InstallerUsageError as e:
                    raise InstallerConfigError(f"{path}: [{section}] {e}") from None
                result.sections[kind].append(assignment)
        result.files.append(str(path))
    return result


def apply(environment: Environment, assignments: list[Assignment], *, only_defaults: bool) -> None:
    """Apply in file order (a later file wins); ``only_defaults`` skips keys that were
    already assigned before, e.g. on the command line."""
    if only_defaults:
        assignments = [a for a in assignments if not environment.is_assigned(a.key)]
    for assignment in assignments:
        try:
            environment.set(assignment.key, assignment.combine(environment.get(assignment.key)))
        except (InstallerUsageError, EnvironmentKeyError) as e:
            raise InstallerConfigError(f"{assignment.source}: {e}") from None


def answer_file_text(environment: Environment) -> str:
    """Every answer-flagged key and recorded answer; secrets are named but not written."""
    lines = [
        "# hosted-engine-installer answer file; replay with CORE/configFileAppend=str:<this file>",
        f"[{SECTION_PREFIX}default]",
    ]
    for name in environment.names():
        value = environment.get(name)
        if value is None:
            continue
        if not (name.startswith(QUESTION_PREFIX) or environment.definition(name).answer):
            continue
        if environment.is_secret(name):
            lines.append(f"# {name} is secret and was not recorded")
            continue
        lines.append(f"{name}={values.encode(value)}".replace("\n", "\n "))
    return "\n".join(lines) + "\n"


def write_private(path: str, text: str) -> None:
    """Write ``path`` atomically with mode 0600 (answer files may name private details)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
