"""Benchmark: training steps per second of the default LSTM, alternating two copies of the code.

    git archive <old-commit> charrnn | tar -x -C /tmp/old          # the code to compare against
    python benchmarks/bench_trees.py /tmp/old . [--repeats 5] [--steps 220] [--corpus FILE]

Each measurement is a fresh process that imports `charrnn` from the given tree, plans the default LSTM run
(`plan_run(text, "lstm", …)`: the preset, precision "auto", one thread, no periodic validation) for
`--steps` steps, and times steps 20 to the last (the first ones warm up). The trees take turns (A B A B …)
so that a change in the machine's load hits both alike; prints every figure, the median per tree and the
final training loss of each (equal losses: the same computation). Wall-clock figures: on a shared machine
the load average printed beside them says how far to trust them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
from charrnn import plan_run, read_text
plan = plan_run(read_text(sys.argv[3]), "lstm", {"threads": 1, "eval_every": 1e9}, max_steps=int(sys.argv[2]))
bundle = plan.build()
n, t0, t1, loss = 0, None, None, None
for ev in plan.train(bundle):
    if ev.phase != "training" or ev.done:
        break
    n, loss = n + 1, ev.train_loss
    if n == 20:
        t0 = time.perf_counter()
    t1 = time.perf_counter()
print((n - 20) / (t1 - t0), loss)
"""


def measure(tree: Path, steps: int, corpus: Path) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(steps), str(corpus)], check=True,
                         capture_output=True, text=True, cwd=tree).stdout.split()
    return float(out[0]), float(out[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=220)
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "tinyshakespeare.txt")
    args = p.parse_args()
    rates: dict[Path, list[float]] = {args.old: [], args.new: []}
    for _ in range(args.repeats):
        for tree in (args.old, args.new):
            rate, loss = measure(tree.resolve(), args.steps, args.corpus)
            rates[tree].append(rate)
            print(f"{str(tree):30} {rate:7.2f} steps/s  loss at step {args.steps} {loss:.6f}  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    for tree, values in rates.items():
        print(f"median {str(tree):23} {statistics.median(values):7.2f} steps/s over {len(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
