"""Where `make bench` runs the API: on a core of its own, everything else on the others
(bench/telemetry_cost.py says why). Real processes and real CPU affinity, read back from the
kernel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.telemetry_cost import pin_process, split_cpus

ROOT = Path(__file__).resolve().parents[2]

# Starts a thread, says so, and starts another when told: threads born before and after pinning.
CHILD = """
import sys, threading, time
def idle():
    time.sleep(60)
threading.Thread(target=idle, daemon=True).start()
print("one", flush=True)
sys.stdin.readline()
threading.Thread(target=idle, daemon=True).start()
print("two", flush=True)
time.sleep(60)
"""


def thread_affinities(pid: int) -> list[set[int]]:
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]


def test_the_api_gets_the_first_cpu_and_everything_else_the_others() -> None:
    assert split_cpus({0, 1}) == ({0}, {1})
    assert split_cpus({3, 1, 2}) == ({1}, {2, 3})


def test_with_a_single_cpu_nothing_is_pinned() -> None:
    assert split_cpus({0}) is None
    assert split_cpus({5}) is None


def test_pinning_moves_every_thread_and_the_threads_started_after_it() -> None:
    target = {max(os.sched_getaffinity(0))}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "one"
            before = thread_affinities(child.pid)
            assert len(before) == 2
            if len(os.sched_getaffinity(0)) > 1:
                assert before != [target] * 2  # else pinning would show nothing
            pin_process(child.pid, target)
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "two"
            affinities = thread_affinities(child.pid)
            assert len(affinities) == 3
            assert affinities == [target] * 3
        finally:
            child.kill()
