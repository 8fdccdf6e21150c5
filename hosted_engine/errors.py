"""The one exception tree of hosted-engine.

Every error a user can cause or meet derives from :class:`HostedEngineError`, so each
entry point can turn any of them into a one-line message and a non-zero exit, and
anything else is a bug that deserves its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class HostedEngineError(Exception):
    """Base of every expected failure; ``str(e)`` is a complete one-line message."""


class UsageError(HostedEngineError):
    """The command line or an API call was misused."""


class ConfigError(HostedEngineError):
    """A configuration file or value is missing, malformed or inconsistent."""


class TimingError(ConfigError):
    """Timing values that cannot work together (checked at start-up)."""


class NotDeployedError(ConfigError):
    """The host has no usable hosted-engine.conf."""


# --- shared configuration -------------------------------------------------------------------
# The messages of the shared-configuration verbs are fixed by the reference's design (seed
# 000): scripts match them, so they are spelled out here and nowhere else.


class ConfigKeyError(ConfigError):
    """A key no configuration type has.

    The one multi-line message of the tree: the reference's CLI lists every writable
    type's keys under it, and ``str(e)`` is that whole listing.
    """

    def __init__(self, key: str, available: Mapping[str, Sequence[str]]) -> None:
        shown = key if len(key) <= 200 else f"{key[:200]}... ({len(key)} characters)"
        lines = [f"Invalid configuration key {shown}.", "Available keys are:"]
        lines += [f"{kind} : {sorted(keys)!r}" for kind, keys in available.items()]
        super().__init__("\n".join(lines))
        self.key = key
        self.available = {kind: sorted(keys) for kind, keys in available.items()}


class DuplicateConfigKeyError(UsageError):
    """A key found in several configuration types, asked for without ``--type``."""

    def __init__(self, key: str, types: Sequence[str]) -> None:
        super().__init__("Duplicate key, please specify the key type.")
        self.key = key
        self.types = tuple(types)


class ConfigTypeError(UsageError):
    """An unknown configuration type (the reference crashed with a traceback here, D7)."""

    def __init__(self, name: str, supported: Sequence[str]) -> None:
        super().__init__(
            f"Invalid configuration type {name}, supported types are: {', '.join(supported)}"
        )
        self.name = name


# --- shared storage -------------------------------------------------------------------------


class StorageError(HostedEngineError):
    """Shared storage could not be read or written."""


class MetadataError(StorageError):
    """A metadata block is malformed; the block is skipped, never guessed at."""


class MetadataTooNewError(MetadataError):
    """A block written by a newer parse version than this code understands (D4)."""

    def __init__(self, host_id: int, version: int, message: str) -> None:
        super().__init__(message)
        self.host_id = host_id
        self.version = version


class ChecksumError(MetadataError):
    """A block whose CRC-32 does not match its content."""


class ConfigArchiveError(StorageError):
    """The shared configuration archive is missing, corrupt, hostile or too large."""


class OvfStoreError(StorageError):
    """The OVF_STORE is missing what was asked for, corrupt, hostile or too large."""


class ConcurrentChangeError(StorageError):
    """A compare-and-swap of shared configuration (archive, OVF_STORE) lost: somebody
    wrote it first.

    Retryable: read again, re-apply the change, write again.
    """

    def __init__(self) -> None:
        super().__init__(
            "Update failed. The configuration file was changed by somebody else, try again."
        )


# --- leases ---------------------------------------------------------------------------------


class LeaseError(HostedEngineError):
    """A lease operation failed for a reason other than contention."""


class LeaseHeldError(LeaseError):
    """Somebody else holds the lease; ``holder`` says who when the backend knows."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class WatchdogError(LeaseError):
    """The watchdog cannot be armed, petted or reached (fencing is not guaranteed)."""


# --- engine VM ------------------------------------------------------------------------------


class VmError(HostedEngineError):
    """The VM backend failed to carry out a request."""


class VmDefinitionError(VmError):
    """The engine VM definition is missing or invalid."""


# --- daemons and RPC ------------------------------------------------------------------------


class RpcError(HostedEngineError):
    """A JSON-RPC call returned an error object; ``code`` is its JSON-RPC code."""

    def __init__(self, message: str, code: int = -32000, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class BrokerUnavailableError(HostedEngineError):
    """The local broker's socket cannot be reached."""


class ContractError(HostedEngineError):
    """A broker answer that does not fit the typed broker-agent contract (a wrong type, a
    missing field): refused whole, never half-read."""


class ContractVersionError(ContractError):
    """A broker speaking a contract major version this agent does not know."""

    def __init__(self, version: str, supported: int) -> None:
        super().__init__(
            f"the broker speaks contract version {version}; this agent understands "
            f"{supported}.x only (upgrade the agent along with the broker)"
        )
        self.version = version
        self.supported = supported


# --- installer ------------------------------------------------------------------------------


class InstallerError(HostedEngineError):
    """Base of the installer framework's errors."""


class InstallerUsageError(InstallerError):
    """A command-line argument, typed value or dialog answer is malformed."""


class EnvironmentKeyError(InstallerError):
    """An environment key is unknown, declared twice differently, or given a wrong type."""


class InstallerConfigError(InstallerError):
    """A configuration or answer file cannot be read or parsed."""


class PluginLoadError(InstallerError):
    """Plugins could not be found, imported or created (exit code 2)."""


class SequenceError(PluginLoadError):
    """The events cannot be put in one order: duplicates, cycles, dangling or late references."""


class DialogError(InstallerError):
    """The dialog channel closed or the other side broke the protocol."""


class DialogInputError(DialogError):
    """One input line is not text (invalid UTF-8, or a NUL); the channel itself still works."""


class InstallerAborted(InstallerError):
    """The user (or the manager on the other side of the dialog) asked to stop."""


class InstallerInterrupted(InstallerAborted):
    """A signal asked the run to stop; the run rolls back like any abort."""


class TransactionError(InstallerError):
    """A transaction element could not be prepared or committed."""


class CommandError(InstallerError):
    """A required program is missing or exited with an error."""


class ServiceError(InstallerError):
    """A service manager request failed."""


class PackagerError(InstallerError):
    """A package manager request failed."""


class HostDeployError(InstallerError):
    """A host-deploy check or step failed; the message names the value and the fix."""


class RemoteRunError(InstallerError):
    """A bundle could not be sent to, unpacked on or run on a remote host."""


class LabDeployError(InstallerError):
    """``hosted-engine --deploy`` of a lab host failed; the message is deploy's last line."""


# --- OVF ------------------------------------------------------------------------------------


class OvfError(VmDefinitionError):
    """An OVF document is unsafe, malformed or holds values no engine VM can have."""


class OvfEditError(OvfError):
    """An edit of an OVF document was refused; the document is unchanged."""


class DefinitionChangedError(HostedEngineError):
    """An edit was made against an OVF that has changed since it was read (its ETag)."""


class NoEngineOvfError(OvfStoreError):
    """An edit of the engine VM's OVF when the OVF_STORE holds none yet."""


# --- the host API boundary ------------------------------------------------------------------


class HostApiError(HostedEngineError):
    """A host API call failed; ``status`` is the HTTP status it stands for (the host's own
    answer, or 502/503 when the host answered nonsense or not at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PkiError(HostedEngineError):
    """A certificate, key or CA that cannot be made, read or trusted."""
