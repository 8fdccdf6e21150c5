"""The answers of ``hosted-engine --deploy``: oVirt's OVEHOSTED_* names where it had one.

An answer file written by one run (``--generate-answer``, ``/etc/hosted-engine/answers.conf``)
replays it; ``SHARED`` are the answers every host of the cluster has in common, which the
first host stores as ``fhanswers.conf`` in the configuration archive so an additional host
needs only its storage path. Keys marked "ours" exist because this re-creation runs the
engine VM as a process and a lab needs to tune timings, leases and faults per host.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from hosted_engine.deploy import keys as host_keys
from hosted_engine.installer import BOOL, INT, STR, Key, key
from hosted_engine.storage.metadata import MAX_HOST_ID

DOMAIN_TYPES = ("localfs", "posixfs")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda v: None if v in choices else f"want one of {', '.join(choices)}"


def _range(low: int, high: int) -> Callable[[int], str | None]:
    return lambda v: None if low <= v <= high else f"want {low}..{high}"


def mac_problem(value: str) -> str | None:
    if not _MAC.match(value):
        return "want a MAC address like 00:16:3e:12:34:56 (lower case)"
    if int(value[:2], 16) & 1:
        return "a multicast MAC address cannot be a NIC's"
    return None


def name_problem(value: str) -> str | None:
    return None if _NAME.match(value) else "want a host name or address (letters, digits, . -)"


def uuid_problem(value: str) -> str | None:
    try:
        return None if str(uuid.UUID(value)) == value else "want a lower-case UUID"
    except ValueError:
        return "want a UUID like 0e7bc6f4-2c0e-4e28-8f1e-7d7bb1d6b4b9"


def _listen_problem(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "want HOST:PORT"
    return None


# --- storage (asked first, as oVirt does) ---------------------------------------------------
DOMAIN_TYPE = key(
    "OVEHOSTED_STORAGE/domainType", STR, "localfs", answer=True, check=_one_of(DOMAIN_TYPES)
)
CONNECTION = key(
    "OVEHOSTED_STORAGE/storageDomainConnection",
    STR,
    answer=True,
    description="an existing, mounted directory that holds (or will hold) the domain",
)
SD_UUID = key("OVEHOSTED_STORAGE/sdUUID", STR, answer=True, check=uuid_problem)
HOST_ID = key("OVEHOSTED_STORAGE/hostID", INT, answer=True, check=_range(1, MAX_HOST_ID))
IMG_SIZE_GB = key("OVEHOSTED_STORAGE/imgSizeGB", INT, 50, answer=True, check=_range(1, 1 << 20))

# --- network --------------------------------------------------------------------------------
FQDN = key("OVEHOSTED_NETWORK/fqdn", STR, answer=True, check=name_problem)
BRIDGE = key("OVEHOSTED_NETWORK/bridgeName", STR, "ovirtmgmt", answer=True, check=name_problem)
GATEWAY = key("OVEHOSTED_NETWORK/gateway", STR, answer=True, check=name_problem)
NETWORK_TEST = key(  # ours
    "OVEHOSTED_NETWORK/networkTest",
    STR,
    "ping",
    answer=True,
    check=_one_of(("ping", "dns", "tcp", "none")),
)
HOST_NAME = key("OVEHOSTED_NETWORK/hostName", STR, answer=True, check=name_problem)  # ours
HOST_ADDRESS = key(  # ours: where the manager reaches this host's API
    "OVEHOSTED_NETWORK/hostAddress", STR, answer=True, check=name_problem
)
HOSTD_PORT = key(
    "OVEHOSTED_NETWORK/hostdPort",
    INT,
    host_keys.HOSTD_PORT,
    answer=True,
    check=_range(1, 65535),
)

# --- the engine VM --------------------------------------------------------------------------
MEM_MB = key("OVEHOSTED_VM/vmMemSizeMB", INT, 4096, answer=True, check=_range(64, 1 << 24))
VCPUS = key("OVEHOSTED_VM/vmVCpus", INT, 2, answer=True, check=_range(1, 512))
MAC = key("OVEHOSTED_VM/vmMACAddr", STR, answer=True, check=mac_problem)
VM_UUID = key("OVEHOSTED_VM/vmUUID", STR, answer=True, check=uuid_problem)

# --- the engine -----------------------------------------------------------------------------
ADMIN_PASSWORD = key("OVEHOSTED_ENGINE/adminPassword", STR, secret=True)
ENGINE_PORT = key(  # ours: the engine VM's process listens on FQDN:PORT
    "OVEHOSTED_ENGINE/enginePort", INT, 8080, answer=True, check=_range(1, 65535)
)
ENGINE_COMMAND = key(  # ours: the engine VM's payload; {listen} and {disk} are substituted
    "OVEHOSTED_ENGINE/engineCommand",
    STR,
    answer=True,
    description="default: the manager, with its certificate and host registry on the disk",
)
HEALTH_TIMEOUT = key(  # ours
    "OVEHOSTED_ENGINE/healthTimeout", INT, 600, answer=True, check=_range(1, 86400)
)

# --- notifications (broker.conf) ------------------------------------------------------------
SMTP_SERVER = key("OVEHOSTED_NOTIF/smtpServer", STR, "localhost", answer=True, check=name_problem)
SMTP_PORT = key("OVEHOSTED_NOTIF/smtpPort", INT, 25, answer=True, check=_range(1, 65535))
SOURCE_EMAIL = key("OVEHOSTED_NOTIF/sourceEmail", STR, "root@localhost", answer=True)
DEST_EMAIL = key("OVEHOSTED_NOTIF/destEmail", STR, "root@localhost", answer=True)

# --- ours: what a lab or a test tunes -------------------------------------------------------
TIMING_PROFILE = key("OVEHOSTED_HA/timingProfile", STR, "default", answer=True)
LEASE_BACKEND = key(
    "OVEHOSTED_HA/leaseBackend",
    STR,
    "fcntl",
    answer=True,
    check=_one_of(("fcntl", "sanlock")),
)
WATCHDOG = key("OVEHOSTED_HA/watchdog", STR, answer=True, description="none, a device, unix:PATH")
FAULT_FILE = key("OVEHOSTED_HA/faultFile", STR, answer=True)
METRICS_LISTEN = key("OVEHOSTED_HA/metricsListen", STR, answer=True, check=_listen_problem)
SANLOCK_RUN_DIR = key("OVEHOSTED_HA/sanlockRunDir", STR, answer=True)

# --- the run itself (not answers) -----------------------------------------------------------
FIRST_HOST = key("OVEHOSTED_CORE/firstHost", BOOL, True, description="no domain found yet")
DEPLOYED = key("OVEHOSTED_CORE/alreadyDeployed", BOOL, False, description="nothing to do")
GENERATE_ANSWER = key("OVEHOSTED_CORE/generateAnswer", STR, description="--generate-answer")

ALL: tuple[Key[Any], ...] = (
    DOMAIN_TYPE,
    CONNECTION,
    SD_UUID,
    HOST_ID,
    IMG_SIZE_GB,
    FQDN,
    BRIDGE,
    GATEWAY,
    NETWORK_TEST,
    HOST_NAME,
    HOST_ADDRESS,
    HOSTD_PORT,
    MEM_MB,
    VCPUS,
    MAC,
    VM_UUID,
    ADMIN_PASSWORD,
    ENGINE_PORT,
    ENGINE_COMMAND,
    HEALTH_TIMEOUT,
    SMTP_SERVER,
    SMTP_PORT,
    SOURCE_EMAIL,
    DEST_EMAIL,
    TIMING_PROFILE,
    LEASE_BACKEND,
    WATCHDOG,
    FAULT_FILE,
    METRICS_LISTEN,
    SANLOCK_RUN_DIR,
    FIRST_HOST,
    DEPLOYED,
    GENERATE_ANSWER,
)

# What every host shares: stored by the first host as fhanswers.conf in the archive.
PER_HOST = frozenset(
    k.name
    for k in (HOST_ID, HOST_NAME, HOST_ADDRESS, HOSTD_PORT, WATCHDOG, FAULT_FILE, METRICS_LISTEN)
) | {SANLOCK_RUN_DIR.name}
SHARED = tuple(k for k in ALL if k.answer and not k.secret and k.name not in PER_HOST)

# The hosted-engine.conf lines this group fills in (the host-deploy group writes the file).
CONFIG_NAMES = (
    "host_id",
    "sdUUID",
    "storage",
    "domainType",
    "vmid",
    "hostname",
    "fqdn",
    "engine_health_url",
    "gateway",
    "bridge",
    "network_test",
    "run_dir",
    "state_dir",
    "log_dir",
    "timing_profile",
    "process_command",
    "process_data_dir",
    "watchdog",
    "fault_file",
    "lease_backend",
    "sanlock_run_dir",
    "metrics_listen",
)


config_key = host_keys.config_key  # declared as the host-deploy group declares it
