"""Runs on the remote host, as ``python3 -c <this source> ARG...``; standard library only.

It reads one framed bundle from stdin (a header line ``HE-INSTALLER-BUNDLE 1 <size>
<sha256>`` and exactly ``size`` bytes of tar), checks the digest, unpacks it into a fresh
private temporary directory, runs the installer with the rest of stdin as its dialog, and
removes the directory afterwards. Explicit framing replaces the reference's reliance on
``tar`` stopping at the end of the archive on a shared stdin.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO

MAGIC = "HE-INSTALLER-BUNDLE"
VERSION = "1"
EXIT_BAD_BUNDLE = 2


def _safe_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar.getmembers():
        name = member.name
        if name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"unsafe path in bundle: {name}")
        if not (member.isfile() or member.isdir()):
            raise ValueError(f"unexpected member type in bundle: {name}")
        yield member


def read_bundle(stream: BinaryIO) -> bytes:
    header = stream.readline().decode("ascii", "replace").split()
    if len(header) != 4 or header[0] != MAGIC or header[1] != VERSION:
        raise ValueError(f"not a bundle header: {' '.join(header)!r}")
    size, digest = int(header[2]), header[3]
    payload = stream.read(size)
    if len(payload) != size:
        raise ValueError(f"bundle truncated: {len(payload)} of {size} bytes")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError("bundle checksum mismatch")
    return payload


def main(argv: Sequence[str]) -> int:
    try:
        payload = read_bundle(sys.stdin.buffer)
    except ValueError as e:
        sys.stderr.write(f"hosted-engine-installer bootstrap: {e}\n")
        return EXIT_BAD_BUNDLE
    os.umask(0o077)
    workdir = tempfile.mkdtemp(prefix="hosted-engine-installer-")
    try:
        with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
            tar.extractall(workdir, members=list(_safe_members(tar)))
        sys.path.insert(0, os.path.join(workdir, "lib"))
        sys.dont_write_bytecode = True
        from hosted_engine.installer.cli import main as installer

        plugins = os.path.join(workdir, "plugins")
        return installer([f"PREPEND:BASE/pluginPath=str:{plugins}", *argv])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
