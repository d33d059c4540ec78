"""Benchmark: training step time at 1 and 2 torch threads for every registered model, quiet and beside one
CPU-bound process — why `charrnn.threads` measures both counts at warm-up.

    python benchmarks/bench_threads.py ../shared/data/tinyshakespeare.txt [--steps 40] [--models lstm gru]

Each model trains with its preset (60 s budget, the whole text) for `--steps` steps at each thread count
(no periodic validation); the first 5 steps are not timed. Prints the median ms per step, chars/s and
the winner, first on the machine as it is, then beside one busy process (`machine.cpu_hog`). ~2-4 min.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import cpu_hog, describe, load  # noqa: E402

from charrnn import plan_run, read_text  # noqa: E402
from charrnn.models import MODELS  # noqa: E402

SKIP = 5


def step_times(text: str, model: str, threads: int, steps: int) -> tuple[float, int]:
    """Median seconds per step after the first SKIP, and characters per step."""
    plan = plan_run(text, model, {"threads": threads, "eval_every": 1e9, "final_eval_chars": 1},
                    max_steps=steps + SKIP)
    bundle, times, last = plan.build(), [], None
    for ev in plan.train(bundle):
        now = time.perf_counter()
        if not ev.done and ev.step > SKIP and last is not None:
            times.append(now - last)
        last = now
    config = plan.train_config
    return statistics.median(times) if times else float("nan"), config.batch_size * config.seq_len


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--models", nargs="+", default=[m for m in MODELS if not MODELS[m].fitted_by_counting])
    args = p.parse_args(argv)
    text = read_text(args.corpus)
    print(describe())
    for label, context in (("as the machine is", contextlib.nullcontext()), ("beside one busy process", cpu_hog())):
        with context:
            print(f"\n{label} (load {load()}):")
            print(f"{'model':14} {'1 thread ms':>12} {'2 threads ms':>13} {'1: chars/s':>11} "
                  f"{'2: chars/s':>11}  faster")
            for model in args.models:
                (t1, n), (t2, _) = step_times(text, model, 1, args.steps), step_times(text, model, 2, args.steps)
                print(f"{model:14} {t1 * 1e3:12.1f} {t2 * 1e3:13.1f} {n / t1:11,.0f} {n / t2:11,.0f}  "
                      f"{1 if t1 <= t2 else 2}", flush=True)
    print(f"\nload at the end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
