"""Benchmark: what a new user gets from `python -m charrnn train CORPUS --model lstm --time-budget SEC`.

    python benchmarks/bench_lstm.py ../shared/data/tinyshakespeare.txt [--repeats 3] [--json out.json]

Runs the CLI exactly as a user would (no option but the budget; `--seed` varies between repeats),
once with a 60 s and once with a 180 s budget — two separate runs, since the learning-rate schedule
anneals to the budget — then times sampling from the checkpoint the 60 s run wrote. Prints, as
medians over the repeats: validation loss (nats/char, the final pass over all the held-out text),
training chars/s, sampling chars/s and the parameter count.

This is a benchmark, not a test: it takes ~4 minutes per repeat. Run nothing else meanwhile — the
figures are wall-clock figures, and on 2 cores a second busy process halves them or worse. The
`busy` column is the CPU time other processes took during the run (in cores; Linux only): a
measurement with busy above ~0.2 was disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import busy_jiffies as _busy_jiffies  # noqa: E402

from charrnn import generate, load  # noqa: E402

TARGETS = {60: 1.60, 180: 1.50}  # validation loss (nats/char) to reach within that budget
SAMPLE_TARGET = 2_000  # chars/s


def wait_for_quiet(max_wait: float) -> float:
    """Wait until the CPU has been idle (< 0.3 cores busy) for 3 s in a row, at most `max_wait` s.
    Returns the seconds waited. For shared machines: a training run started while something else is
    busy measures the other process, not charrnn."""
    start, quiet = time.perf_counter(), 0
    while quiet < 3 and time.perf_counter() - start < max_wait:
        b0 = _busy_jiffies()
        time.sleep(1.0)
        b1 = _busy_jiffies()
        if b0 is None or b1 is None:
            return 0.0
        quiet = quiet + 1 if (b1 - b0) / os.sysconf("SC_CLK_TCK") < 0.3 else 0
    return time.perf_counter() - start


def train_once(corpus: Path, budget: float, seed: int, workdir: Path) -> dict:
    """One CLI training run; its --metrics-json figures plus wall time and others' CPU use."""
    out, metrics = workdir / f"lstm-{budget:g}-{seed}.safetensors", workdir / f"m-{budget:g}-{seed}.json"
    cmd = [sys.executable, "-m", "charrnn", "train", str(corpus), "--model", "lstm", "--time-budget",
           f"{budget:g}", "--seed", str(seed), "--out", str(out), "--metrics-json", str(metrics), "--quiet"]
    busy0, child0, t0 = _busy_jiffies(), _children_cpu(), time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall, busy1, child1 = time.perf_counter() - t0, _busy_jiffies(), _children_cpu()
    m = json.loads(metrics.read_text())
    others = None
    if busy0 is not None and busy1 is not None:
        others = max(0.0, ((busy1 - busy0) / os.sysconf("SC_CLK_TCK") - (child1 - child0)) / wall)
    return {"budget": budget, "seed": seed, "val_loss": m["val_loss"], "steps": m["steps"],
            "chars_per_sec": m["chars_per_sec"], "params": m["params"], "seconds": m["seconds"],
            "busy": others, "checkpoint": str(out), "train_config": m["train_config"],
            "model_config": m["model_config"]}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sampling_speed(checkpoint: Path, length: int = 2000) -> float:
    """chars/s of `generate` (temperature 0.8, empty prompt), best of three."""
    bundle = load(checkpoint)
    generate(bundle.model, bundle.vocab, "", 50, 0.8, seed=0)  # warm-up
    best = 0.0
    for seed in range(3):
        t0 = time.perf_counter()
        generate(bundle.model, bundle.vocab, "", length, 0.8, seed=seed)
        best = max(best, length / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, help="e.g. ../shared/data/tinyshakespeare.txt")
    p.add_argument("--repeats", type=int, default=1, help="runs per budget; medians are reported")
    p.add_argument("--budgets", type=float, nargs="+", default=[60.0, 180.0], help="seconds (default 60 180)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first repeat (then +1, +2, ...)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SEC",
                   help="before each run, wait up to SEC seconds for other processes to go idle")
    args = p.parse_args(argv)
    if not args.corpus.is_file():
        p.error(f"no such file: {args.corpus}")

    runs: list[dict] = []
    sample_speeds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for budget in args.budgets:
                if args.wait_quiet:
                    wait_for_quiet(args.wait_quiet)
                run = train_once(args.corpus.resolve(), budget, args.seed + i, Path(tmp))
                if budget == args.budgets[0]:
                    run["sample_chars_per_sec"] = sampling_speed(Path(run["checkpoint"]))
                    sample_speeds.append(run["sample_chars_per_sec"])
                runs.append(run)
                busy = f"{run['busy']:.2f}" if run["busy"] is not None else "?"
                print(f"run {i + 1}/{args.repeats} budget {budget:g} s: val {run['val_loss']:.4f} nats/char, "
                      f"{run['steps']} steps, {run['chars_per_sec']:,.0f} chars/s, busy {busy}", flush=True)

    summary: dict = {"corpus": str(args.corpus), "repeats": args.repeats, "budgets": {}}
    for budget in args.budgets:
        rs = [r for r in runs if r["budget"] == budget]
        summary["budgets"][f"{budget:g}"] = {
            "val_loss": statistics.median(r["val_loss"] for r in rs),
            "val_losses": [r["val_loss"] for r in rs],
            "train_chars_per_sec": statistics.median(r["chars_per_sec"] for r in rs),
            "steps": statistics.median(r["steps"] for r in rs),
            "params": rs[0]["params"], "model_config": rs[0]["model_config"],
            "train_config": rs[0]["train_config"], "target": TARGETS.get(round(budget))}
    summary["sample_chars_per_sec"] = statistics.median(sample_speeds)

    print(f"\nmedians of {args.repeats} run(s), {args.corpus.name}:")
    print(f"{'budget':>8} {'params':>9} {'val loss':>9} {'target':>7} {'train chars/s':>14} {'steps':>7}")
    for budget, s in summary["budgets"].items():
        target = f"{s['target']:.2f}" if s["target"] else "-"
        ok = "" if not s["target"] else (" ok" if s["val_loss"] <= s["target"] else " MISSED")
        print(f"{budget + ' s':>8} {s['params']:>9,} {s['val_loss']:>9.4f} {target:>7} "
              f"{s['train_chars_per_sec']:>14,.0f} {s['steps']:>7,.0f}{ok}")
    ok = "ok" if summary["sample_chars_per_sec"] >= SAMPLE_TARGET else "MISSED"
    print(f"sampling: {summary['sample_chars_per_sec']:,.0f} chars/s (target {SAMPLE_TARGET:,}) {ok}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
