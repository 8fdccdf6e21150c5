"""Lets the manager in: its public key in the deploy user's ``authorized_keys``.

The key is checked before anything is written (one line, a known type, base64 whose blob
names the same type), because a pasted key with a line break or a missing type would
lock the manager out without a word. Adding is idempotent: a key already there, with any
comment or options, is not added twice.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Stage, event

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def parse_key(text: str) -> tuple[str, str]:
    """``(type, base64)`` of an OpenSSH public key line, or a HostDeployError saying why not."""
    what = keys.SSH_KEY.name
    if "\n" in text.strip() or "\r" in text:
        raise HostDeployError(f"{what}: a public key is one line: paste the .pub file's line")
    fields = text.split()
    kind = next((f for f in fields if f in KEY_TYPES), None)
    if kind is None:
        raise HostDeployError(
            f"{what}: no known key type in {text[:40]!r}...: want one of {', '.join(KEY_TYPES)}"
        )
    blob = fields[fields.index(kind) + 1] if fields.index(kind) + 1 < len(fields) else ""
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        named = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise HostDeployError(f"{what}: the {kind} key's data is not valid base64") from None
    if named != kind:
        raise HostDeployError(f"{what}: the key says {kind} but its data is a {named!r} key")
    return kind, blob


class Ssh(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION, keys.SSH_ENABLE, keys.SSH_USER, keys.SSH_KEY)

    def _enabled(self) -> bool:
        return self.environment[keys.ACTION] == "deploy" and self.environment[keys.SSH_ENABLE]

    def _account(self) -> tuple[str, int, int]:
        """(home, uid, gid) from /etc/passwd under the root; root's default without one."""
        user = self.environment[keys.SSH_USER]
        try:
            with open(self.resolve("/etc/passwd"), encoding="utf-8") as f:
                for line in f:
                    fields = line.rstrip("\n").split(":")
                    if len(fields) >= 7 and fields[0] == user:
                        return fields[5] or "/", int(fields[2]), int(fields[3])
        except (OSError, ValueError):
            pass
        if user == "root":
            return "/root", 0, 0
        raise HostDeployError(
            f"{keys.SSH_USER.name}: no user {user!r} in /etc/passwd: create it (useradd) "
            f"or deploy as root"
        )

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.ssh.validate",
        condition=lambda self: self._enabled(),
    )
    def validate(self) -> None:
        text = self.environment[keys.SSH_KEY]
        if not text:
            raise HostDeployError(
                f"{keys.SSH_KEY.name} is not set but {keys.SSH_ENABLE.name} is: give the "
                "manager's public key (one line of its .pub file)"
            )
        parse_key(text)
        self._account()

    @event(
        stage=Stage.MISC,
        name="hosted-engine-host-deploy.ssh.authorize",
        condition=lambda self: self._enabled(),
    )
    def authorize(self) -> None:
        text = self.environment[keys.SSH_KEY]
        assert text is not None
        kind, blob = parse_key(text)
        home, uid, gid = self._account()
        path = os.path.join(home, ".ssh", "authorized_keys")
        try:
            with open(self.resolve(path), encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        for line in current.splitlines():
            fields = line.split()
            if kind in fields and blob in fields:
                self.dialog.note(f"SSH: the manager's {kind} key is already in {path}")
                return
        prefix = current if current.endswith("\n") or not current else current + "\n"
        self.dialog.note(f"SSH: adding the manager's {kind} key to {path}")
        ours = os.geteuid() in (0, uid)
        self.write_file(
            path,
            prefix + text.strip() + "\n",
            mode=0o600,
            dir_mode=0o700,
            owner=uid if ours else None,
            group=gid if ours else None,
        )


def create_plugins(context: Context) -> None:
    Ssh(context)
