"""A run's budget: its clock, how much of it is used, and the learning rate at that point.

    progress = run_progress(config, run_step, clock.now())    0 at the start, ≥ 1 when the run is over
    lr = lr_at(config, run_step, progress)                     warm-up, then cosine decay to the end
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .train import TrainConfig


class Clock:
    """Seconds into a run. "wall": time since the run started. "own": only the time spent inside the
    trainer — while the consumer holds a yielded event (a race's other models taking their turn) the
    clock stands still, so each model's budget and seconds axis count its own compute."""

    def __init__(self, kind: str, offset: float):
        self.own, self.start, self.paused, self.left = kind == "own", time.perf_counter() - offset, 0.0, None

    def now(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def leave(self) -> None:  # just before a yield
        if self.own:
            self.left = time.perf_counter()

    def back(self) -> None:  # just after it
        if self.left is not None:
            self.paused += time.perf_counter() - self.left
            self.left = None


def run_progress(config: TrainConfig, run_step: int, elapsed: float) -> float:
    """How much of a run's budget is used: 0 at the start, ≥ 1 when it is over."""
    by_steps = run_step / config.max_steps if config.max_steps else 0.0
    by_time = elapsed / config.time_budget if config.time_budget else 0.0
    return max(by_steps, by_time)


def lr_at(config: TrainConfig, run_step: int, progress: float) -> float:
    """Linear warm-up for `warmup_steps`, then cosine decay to lr * min_lr_ratio at progress 1.

    progress is the fraction of the run's budget used (steps or seconds, whichever is further),
    so a time-budgeted run anneals exactly as the budget runs out — the last minutes at a low
    rate are where much of the final loss comes from.
    """
    warm = min(1.0, (run_step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * warm * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cos)
