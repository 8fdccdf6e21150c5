"""MemoryKeeper: the start-up heap is frozen once and trimming never raises."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from hosted_engine.broker.memory import MemoryKeeper


def test_freeze_then_close_returns_the_objects_to_the_collector() -> None:
    keeper = MemoryKeeper(use_libc=False)
    keeper.freeze_startup()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        keeper.close()
    assert gc.get_freeze_count() == 0


def test_trim_reports_what_the_libc_call_said() -> None:
    answers = [1, 0]
    keeper = MemoryKeeper(lambda: answers.pop(0))
    assert keeper.can_trim
    assert keeper.trim() is True
    assert keeper.trim() is False


def test_without_a_trim_function_trim_is_a_no_op() -> None:
    keeper = MemoryKeeper(use_libc=False)
    assert not keeper.can_trim
    assert keeper.trim() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_real_malloc_trim_can_be_called() -> None:
    keeper = MemoryKeeper()
    if not keeper.can_trim:
        pytest.skip("C library without malloc_trim (not glibc)")
    assert keeper.trim() in (True, False)


def _in_fresh_python(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


_LIBC = """
    import ctypes, ctypes.util, sys, threading
    from hosted_engine.broker.memory import tune_malloc
    if sys.argv[1] == "tuned" and not tune_malloc():
        sys.exit("no mallopt")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.sbrk.restype = ctypes.c_void_p
    libc.sbrk.argtypes = [ctypes.c_long]

    def in_heap(address, top):
        return top - (1 << 30) < address < top
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_fixed_mmap_threshold_keeps_freed_large_blocks_out_of_the_heap() -> None:
    """With glibc's dynamic threshold, freeing one 1 MiB mapped block raises the threshold,
    and the next 1 MiB block comes from the heap."""
    script = (
        _LIBC
        + """
    libc.free(libc.malloc(1 << 20))
    top = libc.sbrk(0)
    block = libc.malloc(1 << 20)
    print("heap" if libc.sbrk(0) != top or in_heap(block, top) else "mapped")
    """
    )
    assert _in_fresh_python(script, "dynamic") == "heap"  # what the broker suffered
    assert _in_fresh_python(script, "tuned") == "mapped"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_thread_allocates_from_the_one_arena() -> None:
    script = (
        _LIBC
        + """
    got = []
    thread = threading.Thread(target=lambda: got.append(libc.malloc(1000)))
    thread.start()
    thread.join()
    print("main arena" if in_heap(got[0], libc.sbrk(0)) else "own arena")
    """
    )
    assert _in_fresh_python(script, "dynamic") == "own arena"
    assert _in_fresh_python(script, "tuned") == "main arena"
