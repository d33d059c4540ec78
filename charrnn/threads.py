"""How many torch threads a run uses: chosen for the machine, not left to torch's default.

    default_threads(model_name, env, cpu_count) ─► a count, None (leave as is) or MEASURE (0), and why
    ThreadTuner(candidates).wrap(batches) ─► the same batches; it times the steps between them and sets
        torch's threads: a few steps at each candidate at warm-up, the faster kept, re-checked when the
        step time jumps

Why: on a 2-core CPU torch starts with 2 threads, and beside one other busy process a step of the default
LSTM at 2 threads took ~100x longer than at 1 (6 steps against 576 in 6 s, issue 20): the threads wait on
each other whenever the other process holds a core. Which count wins on a quiet machine depends on the
CPU: on the Intel machine of issue 20 one thread trained the LSTM faster (~101k against ~94k chars/s); on
this project's AMD EPYC 2-core machine two threads win for every family when it is quiet (the default
LSTM 20.5 against 29.0 ms a step, the transformer 19.6 against 27.8) and one wins for every family beside
one busy process (LSTM 30.0 against 56.8 ms; `benchmarks/bench_threads.py`, 2026-12-05). No fixed table
holds on both, so a run measures both counts at warm-up and keeps the faster, and measures again when
its step time jumps (another process started or stopped).
The choice holds for everything the run does while it runs — its periodic and final validation
and its live samples (torch's thread count is per process); sampling at batch 1 uses one thread
(`charrnn.sample`). An explicit choice always wins: `--threads N`, `OMP_NUM_THREADS` (torch reads it at
start), and torchrun's processes (its `LOCAL_WORLD_SIZE` processes share the cores).

Threads change which sums a matrix product splits, so results can differ in the last bits between
counts: a run that must repeat bit for bit names its threads (`--threads 1`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator, Mapping

import torch

MEASURE = 0  # TrainConfig.threads: measure the candidates at warm-up and keep the faster (ThreadTuner)


def default_threads(model_name: str, env: Mapping[str, str], cpu_count: int | None) -> tuple[int | None, str]:
    """The threads a command-line run uses when the user names none, and why (a short phrase).

    None means "leave torch as it is" (OMP_NUM_THREADS set: torch already follows it); MEASURE means
    "measure at warm-up". torchrun: its local processes share the cores evenly (at least one each).
    `model_name` is not consulted today: every family is measured (see the module docstring).
    """
    if env.get("OMP_NUM_THREADS"):
        return None, "OMP_NUM_THREADS"
    cores = max(1, cpu_count or 1)
    local = int(env.get("LOCAL_WORLD_SIZE") or 1)
    if local > 1:
        return max(1, cores // local), f"{local} torchrun processes on {cores} cores"
    if cores == 1:
        return 1, "one core"
    return MEASURE, "measured at warm-up"


class ThreadTuner:
    """Chooses torch's thread count while a run trains, by timing its own steps.

    A step is the time between two batches handed out by `wrap` (forward, backward, update and whatever
    the loop did in between: an occasional validation is an outlier the medians ignore). The run's first
    `skip` steps are not timed (allocations, first-use costs); then `probe_steps` steps run at each
    candidate in turn, and the count with the lower median step time is kept. A candidate whose first
    timed step is already `give_up`× slower than the best median so far is dropped at once (two threads
    beside a busy process: a step can take 100x longer, and a probe must not cost the run seconds).
    Afterwards the median of the last `window` steps is compared with the chosen count's probe median;
    when it drifts by more than `jump`× either way (another process started or stopped), the candidates
    are measured again.

    Attributes a caller may read: `threads` (the count in use), `choices` (every decision as
    (step, threads, {threads: median seconds})).
    """

    def __init__(self, candidates: tuple[int, ...] = (1, 2), probe_steps: int = 5, skip: int = 3,
                 window: int = 15, jump: float = 1.6, give_up: float = 3.0):
        if not candidates or any(c < 1 for c in candidates):
            raise ValueError(f"thread candidates must be whole numbers ≥ 1, not {candidates}")
        self.candidates = tuple(dict.fromkeys(candidates))
        self.probe_steps, self.skip, self.window, self.jump, self.give_up = probe_steps, skip, window, jump, give_up
        self.threads = torch.get_num_threads()
        self.choices: list[tuple[int, int, dict[int, float]]] = []
        self._steps = 0
        self._last: float | None = None
        self._probing: list[int] = []  # candidates still to measure, the current one first
        self._times: dict[int, list[float]] = {}
        self._baseline = 0.0
        self._recent: list[float] = []

    def wrap(self, batches: Iterator) -> Iterator:
        """The same items as `batches`, timing the step between each two and setting the threads for the next."""
        self._start_probe()
        for item in batches:
            self.observe(time.perf_counter())
            yield item

    def observe(self, now: float) -> None:
        """A step ended at `now` (perf_counter seconds; the next one starts): record it, maybe change threads."""
        last, self._last = self._last, now
        self._steps += 1
        if last is None or self._steps <= self.skip + 1:
            return
        self.record(now - last)

    def record(self, seconds: float) -> None:
        """One timed step of `seconds` at the current thread count."""
        if self._probing:
            self._record_probe(seconds)
            return
        self._recent = (self._recent + [seconds])[-self.window:]
        if len(self._recent) == self.window and len(self.candidates) > 1:
            drift = statistics.median(self._recent) / self._baseline
            if drift > self.jump or drift < 1 / self.jump:
                self._start_probe()

    def _record_probe(self, seconds: float) -> None:
        current = self._probing[0]
        times = self._times.setdefault(current, [])
        times.append(seconds)
        best = min((statistics.median(t) for c, t in self._times.items() if c != current and t), default=None)
        hopeless = best is not None and len(times) == 1 and seconds > self.give_up * best
        if len(times) >= self.probe_steps or hopeless:
            self._probing.pop(0)
            if self._probing:
                self._set(self._probing[0])
            else:
                self._decide()

    def _start_probe(self) -> None:
        self._times, self._recent = {}, []
        self._probing = list(self.candidates)
        self._set(self._probing[0])

    def _decide(self) -> None:
        medians = {c: statistics.median(t) for c, t in self._times.items()}
        chosen = min(medians, key=medians.get)
        self._baseline = medians[chosen]
        self._set(chosen)
        self.choices.append((self._steps, chosen, medians))

    def _set(self, threads: int) -> None:
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads
        self._last = None  # a changed count's first step pays for waking its threads: not timed


def candidates_for(cpu_count: int | None) -> tuple[int, ...]:
    """The counts worth measuring on this machine: 1 and 2 (more threads than that rarely pay for these
    small models, and every extra candidate costs probe steps)."""
    return (1, 2) if (cpu_count or 1) >= 2 else (1,)


@contextlib.contextmanager
def at_threads(threads: int):
    """torch at `threads` threads inside the block, as it was after it (nothing is changed where it already is)."""
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if before != threads:
            torch.set_num_threads(before)
