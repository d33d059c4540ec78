"""What the benchmarks say about the machine they ran on, and the one CPU-bound process some run beside.

    load()            the 1-minute load average now (None where /proc/loadavg is missing)
    other_cores(...)  cores other processes kept busy over an interval (Linux /proc/stat)
    cpu_hog()         a context: one CPU-bound process (a Python busy loop) runs while inside it
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def load() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def busy_jiffies() -> int | None:
    """CPU time all processes used so far (clock ticks), or None where /proc/stat is missing."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    return sum(values) - values[3] - values[4]  # everything but idle and iowait


def own_cpu() -> float:
    """CPU seconds of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Interval:
    """Wall seconds, and the cores that *other* processes kept busy, between construction and `end()`."""

    def __init__(self):
        self.t0, self.busy0, self.own0 = time.perf_counter(), busy_jiffies(), own_cpu()

    def end(self) -> tuple[float, float | None]:
        wall, busy1, own1 = time.perf_counter() - self.t0, busy_jiffies(), own_cpu()
        if self.busy0 is None or busy1 is None:
            return wall, None
        others = (busy1 - self.busy0) / os.sysconf("SC_CLK_TCK") - (own1 - self.own0)
        return wall, max(0.0, others / max(wall, 1e-9))


@contextlib.contextmanager
def cpu_hog():
    """One CPU-bound process beside the benchmark (a browser tab, another learner's run): a Python busy loop."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it reach full speed
        yield hog
    finally:
        hog.kill()
        hog.wait()


def describe() -> str:
    """One line for the top of a benchmark's output: cores and the load average now."""
    return f"machine: {os.cpu_count()} cores, load average {load()} (1 min) at the start"
