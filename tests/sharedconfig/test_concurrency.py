"""Several processes setting keys at once: every set lands or is refused, none is lost.

A set that lands is a compare-and-swap from the archive it read (``before``) to the one it
wrote (``after``). If no landed set is ever overwritten by a writer that had not seen it,
the landed sets form one chain from the first archive to the last, each ``before`` being
the previous ``after``. Two landed sets from the same ``before`` would be a lost update.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from hosted_engine.config.host import load_host_config
from hosted_engine.config.shared import SharedConfig
from hosted_engine.errors import ConcurrentChangeError
from tests.cli.conftest import subprocess_env

from .conftest import LabFiles

CHANGED = "Update failed. The configuration file was changed by somebody else, try again."
ROUNDS = 15

Outcome = tuple[str, str, str, str, str]  # (landed|refused, key, value, before, after)


def _writer(conf: str, key: str, kind: str, values: Sequence[str], start: Any, out: Any) -> None:
    shared = SharedConfig(load_host_config(conf))
    outcomes: list[Outcome] = []
    start.wait()
    for value in values:
        try:
            change = shared.set(key, value, kind)
        except ConcurrentChangeError as e:
            assert str(e) == CHANGED
            outcomes.append(("refused", key, value, "", ""))
        else:
            assert change is not None  # every value is new
            outcomes.append(("landed", key, value, change.before, change.after))
    out.put(outcomes)


def _run_writers(
    lab_files: LabFiles, jobs: Sequence[tuple[str, str]], hosts: Sequence[int] = (1, 2)
) -> list[Outcome]:
    """One process per ``(key, type)``, each setting ROUNDS distinct values, all at once."""
    ctx = multiprocessing.get_context("fork")  # no re-import per writer: they start together
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer,
            args=(
                str(lab_files.conf(hosts[index % len(hosts)])),
                key,
                kind,
                [f"w{index}-{n}.lab" for n in range(ROUNDS)],
                start,
                out,
            ),
        )
        for index, (key, kind) in enumerate(jobs)
    ]
    for proc in procs:
        proc.start()
    start.set()
    results: list[Outcome] = []
    for _ in procs:
        results.extend(out.get(timeout=120))
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    return results


def _assert_one_chain(initial: str, final: str, outcomes: list[Outcome]) -> list[Outcome]:
    """The landed sets, in the order they landed; fails on a fork (a lost update)."""
    landed = [o for o in outcomes if o[0] == "landed"]
    by_before = {o[3]: o for o in landed}
    assert len(by_before) == len(landed), "two sets landed on the same archive: one was lost"
    chain = []
    checksum = initial
    while checksum in by_before:
        chain.append(by_before[checksum])
        checksum = chain[-1][4]
    assert checksum == final
    assert len(chain) == len(landed), "a landed set is not in the archive's history"
    return chain


def test_writers_of_one_key_never_lose_a_landed_set(lab_files: LabFiles) -> None:
    initial = lab_files.archive.read().checksum
    outcomes = _run_writers(lab_files, [("smtp-server", "broker")] * 6)
    assert len(outcomes) == 6 * ROUNDS
    assert {o[0] for o in outcomes} <= {"landed", "refused"}
    final = lab_files.archive.read()
    chain = _assert_one_chain(initial, final.checksum, outcomes)
    assert chain, "no set landed at all"
    assert lab_files.shared().get("smtp-server") == (chain[-1][2], "broker")


def test_writers_of_different_keys_keep_each_others_values(lab_files: LabFiles) -> None:
    jobs = [
        ("smtp-server", "broker"),
        ("source-email", "broker"),
        ("destination-emails", "broker"),
        ("state_transition", "broker"),
        ("fqdn", "he_shared"),
        ("gateway", "he_shared"),
    ]
    initial = lab_files.archive.read().checksum
    outcomes = _run_writers(lab_files, jobs)
    final = lab_files.archive.read()
    _assert_one_chain(initial, final.checksum, outcomes)
    shared = lab_files.shared()
    for key, kind in jobs:
        mine = [o for o in outcomes if o[1] == key and o[0] == "landed"]
        expected = mine[-1][2] if mine else None
        if expected is not None:  # the last set that landed is what the archive holds
            assert shared.get(key, kind) == (expected, kind)
    # nothing half-applied: every member still reads as its reader reads it
    assert shared.get_all()["vm"]["memSize"] == "256"


def test_parallel_cli_sets_land_or_say_so(lab_files: LabFiles) -> None:
    conf = lab_files.conf(1)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hosted_engine.cli.main",
                "--set-shared-config",
                "smtp-server",
                f"cli{n}.lab",
                "--config",
                str(conf),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for n in range(6)
    ]
    landed = []
    for n, proc in enumerate(procs):
        out, err = proc.communicate(timeout=60)
        assert out == ""
        if proc.returncode == 0:
            assert err == ""
            landed.append(f"cli{n}.lab")
        else:
            assert (proc.returncode, err) == (1, CHANGED + "\n")
    assert landed
    assert lab_files.shared().get("smtp-server")[0] in landed


def test_a_local_file_is_written_under_a_lock(lab_files: LabFiles) -> None:
    """he_local sets from several processes: each lands, none is lost (no optimism here)."""
    jobs = [("gateway", "he_local"), ("bridge", "he_local"), ("tcp_t_address", "he_local")]
    outcomes = _run_writers(lab_files, jobs, hosts=(1,))
    assert all(o[0] == "landed" for o in outcomes)
    shared = lab_files.shared()
    for index, (key, kind) in enumerate(jobs):
        assert shared.get(key, kind) == (f"w{index}-{ROUNDS - 1}.lab", kind)
