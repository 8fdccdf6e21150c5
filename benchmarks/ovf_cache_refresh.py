"""How long one refresh of the broker's cache takes with the engine VM in the OVF_STORE.

A domain laid out as the lab lays it out, with an OVF_STORE as an engine keeps it: both
copies holding the engine's info.json, the engine VM's OVF (the reference 4.2 OVF, the
largest, with its libvirt XML) and three other VMs' OVFs. Timed, each over --runs:

1. the OVF part alone: read both OVF_STORE copies, extract and parse the engine VM's OVF,
   convert it to the definition and its vm.conf text;
2. a full refresh with nothing changed (read the archive and the OVF_STORE, check,
   extract, convert, compare with the cache: the broker's steady state);
3. a full refresh after the OVF changed (the same, plus writing the cached vm.conf with
   fsync: what a host does after an edit).

Target: a full refresh <= 20 ms.

    python benchmarks/ovf_cache_refresh.py [--runs N]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.clock import SystemClock
from hosted_engine.config.engine_vm import OVF_HEADER
from hosted_engine.config.host import load_host_config
from hosted_engine.lab.layout import create_lab, host_config_path
from hosted_engine.storage.ovf_store import OvfStore, member_name
from hosted_engine.vm.ovf import parse_ovf

TARGET_MS = 20.0
DATA = Path(__file__).resolve().parent.parent / "tests" / "ovf" / "data"
ENGINE_OVF = "ovf_test_v4.2.xml"
OTHER_OVFS = ("ovf_test.xml", "ovf_test_max_vcpu.xml", "ovf_test_v4.2_unsafe.xml")


def _nothing() -> None:
    pass


def time_runs(
    action: Callable[[], object], runs: int, before: Callable[[], object] = _nothing
) -> list[float]:
    """Milliseconds per run of ``action``; ``before`` runs untimed ahead of each one."""
    before()
    action()  # warm-up
    times = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, times: list[float], target: bool = True) -> None:
    line = (
        f"{label:<48} median {statistics.median(times):6.3f} ms   "
        f"min {min(times):6.3f} ms   max {max(times):6.3f} ms"
    )
    print(line + (f"   target <= {TARGET_MS:g} ms" if target else ""))


def engine_store(ha_dir: Path, vm_id: str) -> tuple[bytes, bytes]:
    """Two versions of the store, differing in the engine VM's memory."""
    members = {"info.json": b'{"Last Updated": "now", "Storage Domains": [{"uuid": "sd"}]}'}
    for name in OTHER_OVFS:
        data = (DATA / name).read_bytes()
        members[member_name(parse_ovf(data).vm.vm_id)] = data
    engine = (DATA / ENGINE_OVF).read_bytes()
    engine = engine.replace(parse_ovf(engine).vm.vm_id.encode(), vm_id.encode())
    document = parse_ovf(engine)
    document.set("memSize", document.vm.mem_size_mib + 1024)
    store = OvfStore(ha_dir)
    versions = []
    for ovf in (engine, document.to_bytes()):
        snapshot = store.read()
        store.replace(snapshot.expected, {**members, member_name(vm_id): ovf})
        versions.append(store.paths[0].read_bytes())
    return versions[0], versions[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="he-bench-") as directory:
        lab_dir = Path(directory) / "lab"
        manifest = create_lab(lab_dir, 1, "fast")
        config = load_host_config(host_config_path(lab_dir, 1))
        versions = engine_store(config.ha_dir, manifest.vm_id)
        store = OvfStore(config.ha_dir)
        print(
            f"OVF_STORE: {len(versions[0])} bytes per copy, engine VM OVF "
            f"{(DATA / ENGINE_OVF).stat().st_size} bytes, {len(OTHER_OVFS)} other VMs"
        )

        def ovf_part() -> str:
            found = store.read().vm_ovf(manifest.vm_id)
            assert found is not None
            return found.definition().to_text(OVF_HEADER)

        report("read OVF_STORE + extract + convert", time_runs(ovf_part, args.runs))

        cache = ConfigCache.for_host(config, SystemClock())
        assert cache.refresh().error is None and cache.status().vm_source == "ovf"
        report("full refresh, nothing changed", time_runs(cache.refresh, args.runs))

        alternating = itertools.cycle(versions)

        def change_ovf() -> None:
            data = next(alternating)
            for path in store.paths:
                path.write_bytes(data)

        def refresh_and_check() -> None:
            status = cache.refresh()
            assert status.error is None, status.error

        report(
            "full refresh after an edit (writes the cache)",
            time_runs(refresh_and_check, args.runs, change_ovf),
        )


if __name__ == "__main__":
    main()
