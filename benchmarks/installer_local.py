"""Benchmark: 50 plugins through all 18 stages, driven over the machine dialog (target <= 1 s).

Each plugin declares a key, has an event in every stage, asks one question at
CUSTOMIZATION and writes one file through the main transaction at MISC. The installer runs
as a real process (interpreter start included) driven by MachineDialogClient; the same run
is also timed in-process to show what the framework itself costs.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from hosted_engine.installer import Context
from hosted_engine.installer.dialogs.client import MachineDialogClient
from hosted_engine.installer.values import Assignment

PLUGINS = 50
TARGET_SECONDS = 1.0
ROUNDS = 5

PLUGIN_SOURCE = """
from hosted_engine.installer import STR, Plugin, Stage, event, key

VALUE = key("BENCH{n}/value", STR, answer=True)


def handler(stage):
    def run(self):
        env = self.environment
        if stage is Stage.CUSTOMIZATION:
            env[VALUE] = self.dialog.query_string("BENCH{n}", "Value {n}:", default="v")
        elif stage is Stage.MISC:
            self.write_file("/etc/bench/{n}.conf", f"value={{env[VALUE]}}")
        else:
            env[VALUE] = env[VALUE]

    return event(stage=stage)(run)


def init(self, context):
    Plugin.__init__(self, context)
    self.declare(VALUE)


body = {{"__module__": __name__, "__init__": init}}
body.update((stage.name.lower(), handler(stage)) for stage in Stage)
Bench = type(Plugin)("Bench{n}", (Plugin,), body)


def create_plugins(context):
    Bench(context)
"""


def write_plugins(base: Path, count: int = PLUGINS) -> Path:
    for n in range(count):
        package = base / "bench" / f"plugin{n:02d}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE.format(n=n)))
    return base


def arguments(plugins: Path, work: Path) -> list[str]:
    return [
        f"BASE/pluginPath=str:{plugins}",
        "BASE/pluginGroups=str:bench",
        f"SYSTEM/root=str:{work / 'root'}",
        f"CORE/logDir=str:{work / 'log'}",
        "PACKAGER/provider=str:offline",
        "SYSTEM/servicesProvider=str:recording",
        "DIALOG/dialect=str:machine",
    ]


async def process_run(plugins: Path, work: Path) -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hosted_engine.installer.cli",
        *arguments(plugins, work),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin and process.stdout
    client = MachineDialogClient.over_streams(
        process.stdout, process.stdin, binary=True, accept_defaults=True
    )
    await client.finish()
    process.stdin.close()
    if await process.wait() != 0:
        raise SystemExit(f"benchmark run failed: {client.logs('ERROR')}")
    return time.perf_counter() - started


def in_process_run(plugins: Path, work: Path) -> float:
    answers = "".join("\n" for _ in range(PLUGINS))  # every question takes its default
    context = Context(
        [Assignment.parse(a) for a in arguments(plugins, work)],
        stdin=io.StringIO(answers),
        stdout=io.StringIO(),
    )
    started = time.perf_counter()
    result = context.run()
    elapsed = time.perf_counter() - started
    context.close()
    if result.exit_code != 0:
        raise SystemExit(f"benchmark run failed: {result.message}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="installer-bench-") as tmp:
        plugins = write_plugins(Path(tmp) / "plugins")
        runs = [Path(tmp) / f"run{i}" for i in range(2 * ROUNDS)]
        wall = [asyncio.run(process_run(plugins, runs[i])) for i in range(ROUNDS)]
        inner = [in_process_run(plugins, runs[ROUNDS + i]) for i in range(ROUNDS)]
        files = len(list((runs[0] / "root" / "etc" / "bench").iterdir()))
    events = PLUGINS * 18
    median = statistics.median(wall)
    verdict = "OK" if median <= TARGET_SECONDS else "OVER TARGET"
    print(
        f"installer_local: {PLUGINS} plugins, {events} plugin events, {files} files, machine dialog"
    )
    print(
        f"  wall time, process + dialog (median of {ROUNDS}): {median:6.3f} s   "
        f"target <= {TARGET_SECONDS:.2f} s   {verdict}"
    )
    print(f"  best / worst:                               {min(wall):6.3f} s / {max(wall):.3f} s")
    print(f"  framework only, in process (median):        {statistics.median(inner):6.3f} s")


if __name__ == "__main__":
    main()
