"""The environment keys, dialog names and event names host deploy shares with its drivers.

The host-deploy plugins declare these keys; ``hosted-engine --deploy``, the manager's
"Add host" and the lab set them (command line, answer file, ``env-set``) or read them
back. Names are ovirt-host-deploy's where it had one, so its admins recognise them.

Only the framework is imported here: this module travels in the bundle sent to a host.
"""

from __future__ import annotations

from hosted_engine.installer import BOOL, INT, MULTI_STR, STR, Key, key

MAX_HOST_ID = 2000  # storage.metadata.MAX_HOST_ID (a test keeps them equal)


def whole_number(text: str) -> int | None:
    """ASCII digits only: ``int()`` also takes Arabic-Indic or full-width digits, which no
    config file of ours may hold."""
    return int(text) if text.isascii() and text.isdigit() else None


# --- what to do ---------------------------------------------------------------------------
ACTIONS = ("none", "deploy", "remove")
ACTION = key(
    "HOSTED_ENGINE/action",
    STR,
    "deploy",
    answer=True,
    description="deploy the HA daemons on this host, remove them, or leave them alone",
    check=lambda v: None if v in ACTIONS else f"want one of {', '.join(ACTIONS)}",
)

# --- hosted-engine.conf: one key per line of the file -------------------------------------
# ``HOSTED_ENGINE_CONFIG/<name>`` for every name hosted-engine.conf accepts; the host-deploy
# plugin declares them all (see ``config_key``) and writes the file from those that are set.
CONFIG_PREFIX = "HOSTED_ENGINE_CONFIG/"

# --- PKI enrollment (ovirt-host-deploy's "inline" mode) -----------------------------------
# The host makes its key and a CSR (event PKI_REQUEST_EVENT, MISC) and shows the CSR as
# the multi-string DIALOG_CERT_REQUEST; then (event PKI_INSTALL_EVENT, later in MISC) it
# takes CERT_CHAIN if set, else asks for it as the multi-string DIALOG_CERT_CHAIN: the
# cluster CA's PEM followed by the host certificate's PEM. A driver in the same run (the
# first host's setup) signs between the two events and sets CERT_CHAIN.
ENROLLMENTS = ("none", "inline")
ENROLLMENT = key(
    "VDSM/certificateEnrollment",
    STR,
    "inline",
    check=lambda v: None if v in ENROLLMENTS else f"want one of {', '.join(ENROLLMENTS)}",
)
CERT_ADDRESS = key(
    "VDSM/certificateAddress", STR, description="the host's address in its certificate"
)
CERT_REQUEST = key("VDSM/certificateRequest", STR, description="the CSR this host made (PEM)")
CERT_CHAIN = key("VDSM/certificateChain", STR, description="CA PEM then host certificate PEM")
DIALOG_CERT_REQUEST = "VDSM_CERTIFICATE_REQUEST"
DIALOG_CERT_CHAIN = "VDSM_CERTIFICATE_CHAIN"
PKI_REQUEST_EVENT = "hosted-engine-host-deploy.pki.request"
PKI_INSTALL_EVENT = "hosted-engine-host-deploy.pki.install"

# Where the host keeps what enrollment gave it (under SYSTEM/root), as the hostd unit reads.
PKI_DIR = "/etc/pki/hosted-engine"
CA_FILE, CERT_FILE, KEY_FILE = f"{PKI_DIR}/ca.pem", f"{PKI_DIR}/host.pem", f"{PKI_DIR}/host.key"
CONFIG_FILE = "/etc/hosted-engine/hosted-engine.conf"

# --- SSH trust ----------------------------------------------------------------------------
SSH_ENABLE = key("NETWORK/sshEnable", BOOL, False, answer=True)
SSH_USER = key("NETWORK/sshUser", STR, "root", answer=True)
SSH_KEY = key("NETWORK/sshKey", STR, answer=True, description="the manager's public key")

# --- firewall -----------------------------------------------------------------------------
HOSTD_PORT = 54323
NFTABLES_ENABLE = key("NETWORK/nftablesEnable", BOOL, False, answer=True)
NFTABLES_APPLY = key("NETWORK/nftablesApply", BOOL, True, answer=True)
FIREWALL_PORTS = key(
    "NETWORK/firewallPorts", MULTI_STR, ("22/tcp", f"{HOSTD_PORT}/tcp"), answer=True
)

# --- clock --------------------------------------------------------------------------------
MANAGER_TIME = key("HOST_DEPLOY/managerTime", INT, description="the manager's epoch seconds")
MAX_CLOCK_SKEW = key("HOST_DEPLOY/maxClockSkew", INT, 5, answer=True)

# --- services -----------------------------------------------------------------------------
SERVICES = ("hosted-engine-broker", "hosted-engine-hostd", "hosted-engine-agent")
SERVICES_START_EVENT = "hosted-engine-host-deploy.services.start"

# ==========================================================================================
# --- host-deploy plugin group (hosted-engine-host-deploy): keys added by its plugins -------
# ==========================================================================================

# Every name hosted-engine.conf accepts, in the order the file is written. The ``timing.``
# names are the fields of config/timing.py's Timing, the ``score.`` names the agent.conf
# names of agent/score.py's ScoreWeights; tests/deploy/host fails when one of them grows.
CONFIG_NAMES: tuple[str, ...] = (
    "host_id",
    "sdUUID",
    "storage",
    "domainType",
    "vmid",
    "fqdn",
    "hostname",
    "conf",
    "engine_health_url",
    "gateway",
    "bridge",
    "network_test",
    "tcp_t_address",
    "tcp_t_port",
    "iscsi_paths_blacklist",
    "run_dir",
    "state_dir",
    "log_dir",
    "lease_backend",
    "vm_backend",
    "process_command",
    "process_data_dir",
    "timing_profile",
    "watchdog",
    "libvirt_uri",
    "fault_file",
    "sanlock_run_dir",
    "sanlock_io_timeout",
    "metrics_listen",
    "ha_priority",
    *(
        f"timing.{name}"
        for name in (
            "loop_period",
            "monitor_period",
            "publish_period",
            "host_alive_timeout",
            "agent_report_timeout",
            "engine_starting_timeout",
            "engine_bad_health_timeout",
            "engine_stop_timeout",
            "engine_away_timeout",
            "unexpected_down_timeout",
            "retry_expiration",
            "vm_shutdown_grace",
            "health_check_timeout",
            "network_probe_timeout",
            "network_probe_interval",
            "storage_latency_limit",
            "rpc_timeout",
            "config_refresh_period",
            "config_max_age",
            "preempt_grace",
            "lease_renewal",
            "lease_timeout",
            "watchdog_timeout",
        )
    ),
    *(
        f"score.{name}"
        for name in (
            "base-score",
            "not-uptodate-config-penalty",
            "network-score-penalty",
            "mgmt-bridge-score-penalty",
            "cpu-load-score-penalty",
            "cpu-load-penalty-min",
            "cpu-load-penalty-max",
            "free-memory-score-penalty",
            "engine-retry-score-penalty",
            "engine-retry-max-attempts",
            "restart-threshold-score",
        )
    ),
)
# Without these three the daemons refuse the file (config/host.py from_values).
CONFIG_REQUIRED = ("host_id", "sdUUID", "storage")


def _one_line(value: str) -> str | None:
    if "\n" in value or "\r" in value or "\0" in value:
        return "a hosted-engine.conf value must be one line without NUL"
    return None


def config_key(name: str) -> Key[str | None]:
    """``HOSTED_ENGINE_CONFIG/<name>``: one line of hosted-engine.conf, None = not written."""
    return key(f"{CONFIG_PREFIX}{name}", STR, answer=True, check=_one_line)


CONFIG_KEYS: dict[str, Key[str | None]] = {name: config_key(name) for name in CONFIG_NAMES}


def _port_problem(port: int) -> str | None:
    return None if 1 <= port <= 65535 else f"a port must be 1..65535 (got {port})"


HOSTD_LISTEN_PORT = key(
    "HOST_DEPLOY/hostdPort",
    INT,
    HOSTD_PORT,
    answer=True,
    description="the port hosted-engine-hostd serves (preflight checks it is free)",
    check=_port_problem,
)
MIN_MEMORY_MB = key(
    "HOST_DEPLOY/minMemoryMB",
    INT,
    1024,
    answer=True,
    description="preflight: the least memory (MiB) a host may have",
)
CHECK_HOSTNAME = key(
    "HOST_DEPLOY/checkHostname",
    BOOL,
    True,
    answer=True,
    description="preflight: the hostname must resolve forward and back",
)
FORCE_REMOVE = key(
    "HOST_DEPLOY/forceRemove",
    BOOL,
    False,
    answer=True,
    description="remove even the last hosted-engine host (the engine VM stops being HA)",
)
HOST_DEPLOY_EVENT_PREFIX = "hosted-engine-host-deploy."
FIREWALL_FILE = "/etc/nftables.d/hosted-engine.nft"
FIREWALL_TABLE = "hosted_engine"
