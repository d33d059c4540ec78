"""Benchmark: what sampling gradient statistics (`TrainConfig.stats_every`) costs the default run.

    python benchmarks/bench_stats_every.py ../shared/data/tinyshakespeare.txt [--every 10] [--runs 5] [--steps 300]

Trains the page's default model (the LSTM preset for a 30 s budget) for `--steps` steps at one torch
thread (as the page runs it), alternating runs without statistics and with `stats_every=N`, same
seed, and prints each run's steady step rate (steps per second between step 20 and the last step), the
medians of both, their ratio, and the median of the paired ratios (run i with / run i without:
neighbours in time share the machine's load, so this is the steadiest figure).
The rate is per second of this process's CPU time: with one torch
thread that is the compute a step costs, and it stays comparable on a machine shared with other work
(where wall-clock rates swing 2-5x from run to run); the wall-clock medians are printed too.

Whole-run rates on a shared machine still differ by several percent between neighbouring runs, more
than the cost being measured, so the script also times the cost directly: the median CPU time of one
sample (`snapshot` + `grad_stats_now`, as the trainer calls them) against the median CPU time of one
training step, which gives the slowdown of sampling every N steps as t_sample / (N · t_step).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from charrnn import plan_run  # noqa: E402
from charrnn.gradstats import grad_stats_now, snapshot  # noqa: E402


def steps_per_sec(text: str, every: int, steps: int) -> tuple[float, float]:
    """(steps per CPU second, steps per wall second) of one run, after its first 20 steps."""
    plan = plan_run(text, "lstm", {"stats_every": every, "seed": 1, "threads": 1}, time_budget=30,
                    max_steps=steps)
    bundle = plan.build()
    t0 = c0 = s0 = None
    for ev in plan.train(bundle):
        if ev.done:
            break
        if ev.step == 20:
            t0, c0, s0 = time.perf_counter(), time.process_time(), ev.step
        last_t, last_c, last_s = time.perf_counter(), time.process_time(), ev.step
    return (last_s - s0) / (last_c - c0), (last_s - s0) / (last_t - t0)


def direct_cost(text: str, steps: int, samples: int = 200) -> tuple[float, float]:
    """(median CPU ms of one training step, median CPU ms of one gradient-statistics sample)."""
    plan = plan_run(text, "lstm", {"seed": 1, "threads": 1}, time_budget=30, max_steps=steps)
    bundle = plan.build()
    marks = [time.process_time() for ev in plan.train(bundle) if not ev.done]
    step_ms = statistics.median(b - a for a, b in zip(marks[20:], marks[21:], strict=False)) * 1e3
    model, times = bundle.model, []  # the last step's gradients are still in .grad
    for _ in range(samples):
        t = time.process_time()
        grad_stats_now(model, snapshot(model), step=0)
        times.append(time.process_time() - t)
    return step_ms, statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    text = Path(args.corpus).read_text()
    step_ms, sample_ms = direct_cost(text, args.steps)
    print(f"direct: one step {step_ms:.2f} ms CPU, one sample {sample_ms:.3f} ms CPU → every {args.every} steps "
          f"costs {sample_ms / (args.every * step_ms):.2%} of the step rate (every step: {sample_ms / step_ms:.1%})",
          flush=True)
    off, on = [], []
    for i in range(args.runs):
        off.append(steps_per_sec(text, 0, args.steps))
        on.append(steps_per_sec(text, args.every, args.steps))
        print(f"run {i + 1}: without {off[-1][0]:.2f} steps/CPU-s ({off[-1][1]:.2f}/wall-s) · "
              f"stats_every={args.every} {on[-1][0]:.2f} ({on[-1][1]:.2f})", flush=True)
    for k, clock in ((0, "CPU"), (1, "wall")):
        a, b = statistics.median(r[k] for r in off), statistics.median(r[k] for r in on)
        paired = statistics.median(y[k] / x[k] for x, y in zip(off, on, strict=True))
        print(f"median per {clock} second: without {a:.2f} steps/s, with stats_every={args.every} {b:.2f} steps/s, "
              f"ratio {b / a:.3f}; median of paired ratios {paired:.3f}")


if __name__ == "__main__":
    main()
