"""Every verb, every hostile input: one line of error, a non-zero exit, nothing changed.

Hostile input is what an admin's typo, a script's bug or another user can hand the CLI:
FIFOs and devices where files belong (a FIFO used to hang a reader forever), symlinks and
devices as download targets (a download used to rename itself over them), names too long
for the kernel, bytes that are not UTF-8, NULs and line separators in values and files,
numbers out of range. Each case runs ``main()`` in-process on a lab laid out on disk (no
daemons) and hashes the lab's files before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hosted_engine.lab.layout import create_lab, host_config_path

from .conftest import Cli, Result, console_script, subprocess_env

# A FIFO reader hangs in open(): the per-test timeout turns a hang into a failure.
pytestmark = pytest.mark.timeout(30)


@dataclass(frozen=True)
class Lab:
    dir: Path
    tmp: Path

    @property
    def conf(self) -> Path:
        return host_config_path(self.dir, 1)

    def digest(self) -> dict[str, str]:
        """Every file of the lab and of the scratch dir (lock files aside: taking a lock
        creates its file, and that changes nothing anyone reads)."""
        out: dict[str, str] = {}
        for root in (self.dir, self.tmp):
            for path in sorted(root.rglob("*")):
                if path.name.endswith(".lock") or path.name == "hosted-engine.lockspace":
                    continue
                if path.is_symlink():
                    out[str(path)] = "-> " + os.readlink(path)
                elif path.is_fifo():
                    out[str(path)] = "fifo"
                elif path.is_file():
                    out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                elif path.is_dir():
                    out[str(path)] = "dir"
        return out


@pytest.fixture(scope="module")
def lab_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lab for the module, copied for each test (creating one costs more)."""
    lab_dir = tmp_path_factory.mktemp("template") / "lab"
    create_lab(lab_dir, 1, "fast")
    return lab_dir


@pytest.fixture
def lab(tmp_path: Path, lab_template: Path) -> Lab:
    """A copy of the template: its hosted-engine.conf names absolute paths of the template,
    so every path in it is rewritten to the copy."""
    lab_dir = tmp_path / "lab"
    shutil.copytree(lab_template, lab_dir, symlinks=True)
    conf = host_config_path(lab_dir, 1)
    conf.write_text(conf.read_text().replace(str(lab_template), str(lab_dir)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Lab(lab_dir, scratch)


# --- hostile paths ----------------------------------------------------------------------------

MakePath = Callable[[Lab], str]


def _fifo(lab: Lab) -> str:
    path = lab.tmp / "fifo"
    os.mkfifo(path)
    return str(path)


def _file(name: str, data: bytes) -> MakePath:
    def make(lab: Lab) -> str:
        path = lab.tmp / name
        path.write_bytes(data)
        return str(path)

    return make


def _link(target: str) -> MakePath:
    def make(lab: Lab) -> str:
        path = lab.tmp / "link"
        path.symlink_to(target)
        return str(path)

    return make


def _conf_with(extra: str) -> MakePath:
    """The lab's good hosted-engine.conf with ``extra`` lines appended."""

    def make(lab: Lab) -> str:
        path = lab.tmp / "hostile.conf"
        path.write_text(lab.conf.read_text() + extra)
        return str(path)

    return make


LONG_NAME: MakePath = lambda lab: str(lab.tmp / ("x" * 300))  # noqa: E731
LONG_PATH: MakePath = lambda lab: "/" + "/".join(["d" * 250] * 20)  # noqa: E731
MISSING_DIR: MakePath = lambda lab: str(lab.tmp / "no-such-dir" / "file")  # noqa: E731
SURROGATE: MakePath = lambda lab: str(lab.tmp / "no-\udcff-file")  # noqa: E731

READ_PATHS: dict[str, MakePath] = {
    "fifo": _fifo,
    "directory": lambda lab: str(lab.tmp),
    "link-to-chardev": _link("/dev/zero"),
    "dangling-link": _link("/nonexistent/target"),
    "long-name": LONG_NAME,
    "long-path": LONG_PATH,
    "missing-dir": MISSING_DIR,
    "not-utf8-name": SURROGATE,
    "not-utf8-content": _file("latin1", b"host_id=1\nfqdn=moteur\xe9\n"),
    "nul-content": _file("nul", b"host_id=1\nsdUUID=a\x00b\nstorage=/x\x00y\n"),
    "huge": _file("huge", b"#" * (3 * 1024 * 1024) + b"\n"),
}

# hostile hosted-engine.conf contents
CONF_CONTENTS: dict[str, MakePath] = {
    "timing-inf": _conf_with("timing.host_alive_timeout=inf\n"),
    "timing-nan": _conf_with("timing.loop_period=nan\n"),
    "timing-1e10": _conf_with("timing.engine_stop_timeout=1e10\n"),
    "timing-negative": _conf_with("timing.rpc_timeout=-1\n"),
    "host-id-huge": _conf_with("host_id=99999999999999999999999999999\n"),
    "port-out-of-range": _conf_with("tcp_t_port=70000\n"),
    "nul-in-path": _conf_with("state_dir=/tmp/a\x00b\n"),
    "control-in-value": _conf_with("fqdn=a\x1bb\n"),
    "long-state-dir": _conf_with("state_dir=/" + "/".join(["s" * 255] * 20) + "\n"),
    "long-storage-name": _conf_with("storage=/" + "x" * 300 + "\n"),
}

# --- the verbs ----------------------------------------------------------------------------------

Argv = Callable[[Lab], list[str]]


def _out(lab: Lab) -> str:
    return str(lab.tmp / "out")


def _archive_copy(lab: Lab) -> str:
    from hosted_engine.config.host import load_host_config

    source = load_host_config(lab.conf).ha_dir / "hosted-engine.configuration"
    target = lab.tmp / "archive.tar"
    target.write_bytes(source.read_bytes())
    return str(target)


VERBS: dict[str, Argv] = {
    "vm-status": lambda lab: ["--vm-status"],
    "vm-status-json": lambda lab: ["--vm-status", "--json"],
    "set-maintenance": lambda lab: ["--set-maintenance", "--mode=global"],
    "vm-start": lambda lab: ["--vm-start"],
    "vm-shutdown": lambda lab: ["--vm-shutdown"],
    "vm-poweroff": lambda lab: ["--vm-poweroff"],
    "check-deployed": lambda lab: ["--check-deployed"],
    "check-liveliness": lambda lab: ["--check-liveliness"],
    "clean-metadata": lambda lab: ["--clean-metadata", "--force-cleanup", "--host-id=2"],
    "reinitialize-lockspace": lambda lab: ["--reinitialize-lockspace"],
    "get-all-config": lambda lab: ["--get-all-config"],
    "show-vm-definition": lambda lab: ["--show-vm-definition"],
    "set-shared-config": lambda lab: ["--set-shared-config", "fqdn", "x.example", "--force"],
    "get-shared-config": lambda lab: ["--get-shared-config", "fqdn"],
    "download-shared-config": lambda lab: ["--download-shared-config", _out(lab)],
    "upload-shared-config": lambda lab: ["--upload-shared-config", _archive_copy(lab)],
    "download-vm-ovf": lambda lab: ["--download-vm-ovf", _out(lab)],
    "convert-vm-conf": lambda lab: ["--convert-vm-conf", "--force"],
}


@pytest.fixture
def run(cli: Cli, lab: Lab) -> Iterator[Callable[..., Result]]:
    """Run the CLI and check it failed cleanly and changed nothing."""

    def check(*argv: str) -> Result:
        before = lab.digest()
        result = cli(*argv)
        assert result.code in (1, 2), result
        assert "Traceback" not in result.err + result.out, result
        if "--json" in argv:
            assert result.err == "" and len(result.out.splitlines()) == 1, result
            assert "error" in json.loads(result.out)
        elif result.err.startswith("Invalid configuration key "):
            # the reference's one multi-line message: the unknown key, then every key
            assert result.out == "" and result.err.splitlines()[1] == "Available keys are:"
        else:
            assert result.out == "" and len(result.err.splitlines()) == 1, result
        assert lab.digest() == before
        assert not (lab.tmp / "out").exists()
        return result

    yield check


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("hostile", [*READ_PATHS, *CONF_CONTENTS])
def test_every_verb_refuses_a_hostile_config(
    run: Callable[..., Result], lab: Lab, verb: str, hostile: str
) -> None:
    make = READ_PATHS.get(hostile) or CONF_CONTENTS[hostile]
    run(*VERBS[verb](lab), "--config", make(lab))


@pytest.mark.parametrize("hostile", ["fifo", "long-name", "nul-content", "not-utf8-content"])
def test_a_hostile_config_from_the_environment_is_refused_too(
    run: Callable[..., Result], lab: Lab, hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTED_ENGINE_CONFIG", READ_PATHS[hostile](lab))
    run("--get-all-config")


@pytest.mark.parametrize("verb", ["upload-shared-config", "upload-vm-ovf", "convert-vm-conf"])
@pytest.mark.parametrize("hostile", READ_PATHS)
def test_uploads_refuse_hostile_files(
    run: Callable[..., Result], lab: Lab, verb: str, hostile: str
) -> None:
    run(f"--{verb}", READ_PATHS[hostile](lab), "--force", "--config", str(lab.conf))


# download targets: what must never be replaced, and where nothing can be written
WRITE_TARGETS: dict[str, MakePath] = {
    "fifo": _fifo,
    "directory": lambda lab: str(lab.tmp),
    "link-to-stdout": _link("/proc/self/fd/1"),
    "link-to-devnull": _link("/dev/null"),
    "link-to-a-file": _link("/etc/hostname"),
    "dangling-link": _link("/nonexistent/target"),
    "long-name": LONG_NAME,
    "long-path": LONG_PATH,
    "missing-dir": MISSING_DIR,
    "parent-is-a-file": lambda lab: _file("plain", b"x\n")(lab) + "/out",
}


@pytest.mark.parametrize("verb", ["download-shared-config", "download-vm-ovf"])
@pytest.mark.parametrize("hostile", WRITE_TARGETS)
def test_downloads_never_replace_what_is_not_a_regular_file(
    run: Callable[..., Result], lab: Lab, verb: str, hostile: str
) -> None:
    target = WRITE_TARGETS[hostile](lab)
    run(f"--{verb}", target, "--config", str(lab.conf))
    assert not list(lab.tmp.glob("*.tmp.*")), "a temp file was left behind"
    if hostile.startswith("link"):
        assert Path(target).is_symlink()


@pytest.mark.parametrize("verb", ["download-shared-config", "download-vm-ovf"])
def test_downloads_still_replace_a_regular_file(cli: Cli, lab: Lab, verb: str) -> None:
    target = lab.tmp / "backup"
    target.write_bytes(b"old")
    assert cli(f"--{verb}", target, "--config", lab.conf) == Result(0, "", "")
    assert target.read_bytes() != b"old"


# hostile arguments (with a good config)
ARGUMENTS: dict[str, list[str]] = {
    "key-not-utf8": ["--set-shared-config", "fqdn\udcff", "x"],
    "key-line-separator": ["--set-shared-config", "fqdn\u2028host_id", "7"],
    "key-huge": ["--set-shared-config", "k" * 100_000, "x"],
    "value-not-utf8": ["--set-shared-config", "fqdn", "\udcff", "--type=he_local"],
    "value-line-separator": ["--set-shared-config", "fqdn", "x\u2028host_id=7", "--type=he_local"],
    "value-nul": ["--set-shared-config", "fqdn", "a\x00b", "--type=he_local"],
    "value-huge": ["--set-shared-config", "fqdn", "v" * 100_000, "--type=he_local"],
    "value-timing-inf": ["--set-shared-config", "timing_profile", "inf", "--type=he_local"],
    "value-port": ["--set-shared-config", "tcp_t_port", "70000", "--type=he_local"],
    "value-long-path": ["--set-shared-config", "state_dir", "/" + "s" * 300, "--type=he_local"],
    "value-smtp-timeout": ["--set-shared-config", "smtp-port", "1e10"],
    "value-ha-separator": ["--set-shared-config", "local_maintenance", "False\u2028x=1"],
    "get-key-not-utf8": ["--get-shared-config", "\udcff"],
    "type-not-utf8": ["--get-all-config", "--type", "\udcff"],
    "type-huge": ["--get-all-config", "--type", "t" * 100_000],
    "type-json": ["--get-all-config", "--type", "\udcff", "--json"],
    "mode-not-utf8": ["--set-maintenance", "--mode", "global\udcff"],
    "mode-nul": ["--set-maintenance", "--mode", "global\x00"],
    "host-id-not-utf8": ["--clean-metadata", "--host-id", "\udcff"],
    "host-id-huge": ["--clean-metadata", "--host-id", "9" * 5000],
    "host-id-negative": ["--clean-metadata", "--host-id=-1"],
    "unknown-option-not-utf8": ["--vm-status", "--\udcff"],
    "verb-args-extra": ["--get-shared-config", "fqdn", "extra"],
}


@pytest.mark.parametrize("case", ARGUMENTS)
def test_hostile_arguments_are_refused(run: Callable[..., Result], lab: Lab, case: str) -> None:
    run(*ARGUMENTS[case], "--config", str(lab.conf))


# --- real processes: argv bytes that are not UTF-8 ---------------------------------------------


def _console(*argv: str | bytes | Path) -> Result:
    """The console script with raw argv bytes (``run_console`` takes text only)."""
    proc = subprocess.run(
        [console_script(), *argv],
        capture_output=True,
        env=subprocess_env(LC_ALL="C.UTF-8"),
        timeout=60,
        check=False,
    )
    decode = lambda data: data.decode("utf-8", "backslashreplace")  # noqa: E731
    return Result(proc.returncode, decode(proc.stdout), decode(proc.stderr))


@pytest.mark.parametrize(
    "argv",
    [
        ["--set-shared-config", "fqdn", b"\xff"],
        ["--get-shared-config", b"fqdn\xff"],
        ["--get-all-config", "--type", b"\xff"],
        ["--get-all-config", "--type", b"\xff", "--json"],
        ["--vm-status", b"--\xff"],
    ],
)
def test_argv_bytes_that_are_not_utf8_are_one_line_errors(
    lab: Lab, argv: list[str | bytes]
) -> None:
    before = lab.digest()
    result = _console(*argv, "--config", lab.conf)
    assert result.code in (1, 2) and "Traceback" not in result.err, result
    lines = (result.out if "--json" in argv else result.err).splitlines()
    assert len(lines) == 1 or lines[0].startswith("Invalid configuration key "), result
    assert lab.digest() == before


def test_a_hostile_config_path_in_argv_bytes_is_one_line() -> None:
    result = _console("--vm-status", "--config", b"/tmp/\xff/" + b"x" * 300)
    assert result.code == 1 and "Traceback" not in result.err, result
    assert len(result.err.splitlines()) == 1, result
