"""Reading a file that must be a regular file of bounded size: never hang, never read on.

A plain ``open()`` of a FIFO blocks until somebody opens it for writing, and reading a
character device (``/dev/zero``) never ends, so a FIFO given as ``--config`` or planted
where a configuration file belongs used to hang its reader forever. Here the file is
opened with ``O_NONBLOCK`` (which makes opening a FIFO return at once and is ignored for
regular files), checked with ``fstat`` on the descriptor that was opened (no window for
a swap between the check and the read), and read no further than the limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hosted_engine.errors import HostedEngineError

# hosted-engine.conf, ha.conf, broker.conf, vm.conf: a few KiB; anything this big is not one
TEXT_FILE_LIMIT = 1024 * 1024


def read_bounded(path: Path, limit: int, error: type[HostedEngineError]) -> bytes | None:
    """The bytes of the regular file ``path``, None when it does not exist.

    Raises ``error`` (one line) for anything else: not a regular file (FIFO, device,
    socket, directory), more than ``limit`` bytes (an oversize file is not read), or an
    ``OSError`` such as a name too long or a permission denied.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
    except ValueError:  # a NUL in the name
        raise error(f"cannot read {path!r:.200}: the name holds a NUL byte") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"cannot read {path}: not a regular file")
        if info.st_size > limit:
            raise error(f"{path} is more than the {limit} bytes allowed")
        # Ask for what the file holds plus one byte (to notice growth), never for the
        # limit: a read of the limit allocates that much (64 MiB for an OVF_STORE copy)
        # every refresh, and glibc's heap keeps the high-water mark of such buffers.
        chunks: list[bytes] = []
        size = 0
        want = info.st_size + 1
        while size <= limit:
            chunk = os.read(fd, min(want, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            want = 64 * 1024  # it grew since fstat: read on in modest steps
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read
        raise error(f"{path} is more than the {limit} bytes allowed")
    return b"".join(chunks)


def read_text(
    path: Path, error: type[HostedEngineError], limit: int = TEXT_FILE_LIMIT
) -> str | None:
    """A regular file's UTF-8 text, None when it does not exist; ``error`` otherwise."""
    data = read_bounded(path, limit, error)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"cannot read {path}: not UTF-8 text (byte {e.start})") from None
