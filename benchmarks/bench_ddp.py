"""One process or two (torchrun + DDP): training throughput of the same run, in characters a second.

    .venv/bin/python benchmarks/bench_ddp.py                          # the default LSTM, 20 s each (≈ 1.5 min)
    .venv/bin/python benchmarks/bench_ddp.py --model transformer --seconds 30

Each configuration trains `--model` on ../shared/data/tinyshakespeare.txt for `--seconds` with the same
global batch (the preset's, which 2 divides) and fp32, and reads chars_per_sec (training characters of the
combined batch over the run's seconds) and the steps from the metrics JSON:
- 1 process, 1 thread         (OMP_NUM_THREADS=1)
- 1 process, 2 threads        (OMP_NUM_THREADS=2: torch's intra-op threads share one batch)
- 2 processes, 1 thread each  (torchrun --standalone --nproc-per-node 2: each its half of every batch)
The caveat: this project's machine has 2 cores shared with other work, so 2 processes can at best double
one thread's figure, and on a small model the per-step all-reduces (gradients, loss, clock) over gloo take
a visible share. Several processes pay off with several GPUs or machines, not on 2 CPU cores; the load
average is printed with the figures, which are provisional on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
TORCHRUN = Path(sys.executable).parent / "torchrun"


def train(launch: list[str], threads: int, model: str, seconds: float, folder: Path, name: str) -> dict:
    """One run; its metrics JSON (chars_per_sec, steps, world_size)."""
    metrics = folder / f"{name}.json"
    args = ["train", str(SHAKESPEARE), "--model", model, "--time-budget", str(seconds), "--precision", "fp32",
            "--quiet", "--out", str(folder / f"{name}.safetensors"), "--metrics-json", str(metrics)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    r = subprocess.run([*launch, "-m", "charrnn", *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{name} failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(metrics.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="lstm")
    p.add_argument("--seconds", type=float, default=20.0)
    a = p.parse_args()
    print(f"{a.model}, {a.seconds:g} s each, fp32, tinyshakespeare; load average before: {os.getloadavg()[0]:.2f}")
    runs = [("1 process, 1 thread", [sys.executable], 1, "one1"),
            ("1 process, 2 threads", [sys.executable], 2, "one2"),
            ("2 processes, 1 thread each", [str(TORCHRUN), "--standalone", "--nproc-per-node", "2"], 1, "two")]
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        for label, launch, threads, name in runs:
            m = train(launch, threads, a.model, a.seconds, Path(tmp), name)
            base = base or m["chars_per_sec"]
            print(f"{label:28} {m['chars_per_sec']:>10,.0f} chars/s  ({m['chars_per_sec'] / base:.2f}x)  "
                  f"{m['steps']:>5} steps of {m['train_config']['batch_size']} rows  world size {m['world_size']}  "
                  f"val {m['val_loss']:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (2 cores: figures above ~1 are shared with other work)")


if __name__ == "__main__":
    main()
