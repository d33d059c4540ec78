"""Benchmark: what a new user gets from `python -m charrnn train CORPUS --model lstm --time-budget SEC`, beside
a textbook PyTorch LSTM trained in the same minutes.

    python benchmarks/bench_lstm.py CORPUS [--budgets 60 180 300] [--repeats 3] [--json out.json]
    python benchmarks/bench_lstm.py CORPUS --busy [--repeats 3]        # the 60 s run quiet and beside a busy CPU

Per repeat and budget, one after the other (never at once; the order alternates between repeats):
- **default**: the CLI as a user runs it — `train CORPUS --model lstm --time-budget SEC --final-eval-chars none`
  with `--seed N` (N = `--seed` + repeat) and output paths, nothing else; its loss is the final pass over all
  the held-out text (the last 10 %), in nats/char;
- **reference**: `reference_lstm.py` (its docstring has the recipe: embedding, 2-layer `nn.LSTM` 128 wide,
  Adam 2e-3, batch 32 × 64, truncated BPTT; fp32 at torch's default threads, what a textbook user gets) for
  the same seconds on the same split, scored on the same held-out characters the same way;
- **ratio** = default loss / reference loss, per repeat (the two ran minutes apart on the same machine, so a
  slow minute moves both); the table shows the median of the per-repeat ratios.

**Time to 1.60**: the training-clock seconds (`val_seconds` in the CLI's `--metrics-json`: the run's clock
when the estimate was recorded, the time every earlier estimate took included) of the default run's first
validation point at or below 1.60 nats/char. Those points are the periodic estimates — by default over the
held-out text's *first `eval_chars` characters* (10,000 for this preset, a subset of the 111,538), every
`eval_every` seconds (1/20 of the budget: 3 s at 60 s, so the figure is good to 3 s) — and then the final pass
over all of it. `--full-estimates` makes every periodic estimate a pass over all the held-out text
(`--eval-chars` above its length); each then takes ~1 s of the budget, so the losses of such an invocation are
not the default's (the output says so). `t1.60 train` (in --json and the per-run lines) is the same point's
seconds less the time the estimates before it took. "-" where no point reached 1.60.

**--busy**: per repeat, the default run at the first budget (60 s) alone, then the same run (same seed) beside
one CPU-bound process (`machine.cpu_hog`); prints both step rates and losses, and whether the busy run kept
≥ 80 % of the quiet step rate and ended within 0.03 nats of the quiet loss. No reference in this mode.

The `busy` columns are the CPU other processes took during a run, in cores (Linux only): above ~0.2 the run
was disturbed. The figures are wall-clock figures: run nothing else meanwhile, `--wait-quiet SEC` waits for
other processes to go idle before each run. Sampling speed is `bench_sample.py`'s (every model, quiet and
beside a busy process); this benchmark no longer times it. A repeat of 60/180/300 s takes ~18.5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import Interval, busy_jiffies, cpu_hog, describe  # noqa: E402

TARGETS = {60: 1.47, 180: 1.42, 300: 1.40}  # validation loss (nats/char) to reach within that budget
GOOD, GOOD_BY = 1.60, 20.0  # time to 1.60 nats/char: at most 20 s
BUSY_RATE, BUSY_LOSS = 0.80, 0.03  # beside a busy process: ≥ 80 % of the quiet step rate, within 0.03 nats
ALL_HELD_OUT = 10**9  # --eval-chars above any held-out text: every periodic estimate reads all of it
DISTURBED = 0.2  # cores other processes took during a run, above which it measured them as much as charrnn


T160_MEANS = (f"clock seconds (val_seconds) of the default run's first validation point <= {GOOD} nats/char: the "
              "periodic estimates (over the held-out text's first eval_chars characters; all of it with "
              "full_estimates), then the final pass over all of it; t160_train: the same less the time the "
              "estimates before it took")


def wait_for_quiet(max_wait: float) -> float:
    """Wait until the CPU has been idle (< 0.3 cores busy) for 3 s in a row, at most `max_wait` s; the seconds
    waited. A run started while something else is busy measures the other process, not charrnn."""
    start, quiet = time.perf_counter(), 0
    while quiet < 3 and time.perf_counter() - start < max_wait:
        b0 = busy_jiffies()
        time.sleep(1.0)
        b1 = busy_jiffies()
        if b0 is None or b1 is None:
            return 0.0
        quiet = quiet + 1 if (b1 - b0) / os.sysconf("SC_CLK_TCK") < 0.3 else 0
    return time.perf_counter() - start


def time_to(history: dict, loss: float) -> tuple[float | None, float | None]:
    """(clock seconds, training seconds) of the first validation point ≤ `loss` in a metrics JSON's history;
    training seconds leave out the time the estimates before it took. (None, None) where none reached it."""
    at_step = dict(zip(history["step"], history["seconds"], strict=True))
    spent = 0.0  # seconds the earlier estimates took
    for step, seconds, val in zip(history["val_step"], history["val_seconds"], history["val_loss"], strict=True):
        before = at_step.get(step)
        if seconds is None or before is None:
            return None, None  # an older checkpoint's points: no seconds kept
        if val <= loss:
            return seconds, before - spent
        spent += seconds - before
    return None, None


def default_run(corpus: Path, budget: float, seed: int, workdir: Path, full_estimates: bool) -> dict:
    """One CLI training run: its --metrics-json figures, the time to 1.60, wall time and others' CPU use."""
    out, metrics = workdir / f"lstm-{budget:g}-{seed}.safetensors", workdir / f"m-{budget:g}-{seed}.json"
    cmd = [sys.executable, "-m", "charrnn", "train", str(corpus), "--model", "lstm", "--time-budget", f"{budget:g}",
           "--final-eval-chars", "none", "--seed", str(seed), "--out", str(out), "--metrics-json", str(metrics),
           "--quiet"] + (["--eval-chars", str(ALL_HELD_OUT)] if full_estimates else [])
    interval = Interval()
    _run(cmd)
    wall, busy = interval.end()
    m = json.loads(metrics.read_text())
    t_clock, t_train = time_to(m["history"], GOOD)
    out.unlink(missing_ok=True)
    return {"budget": budget, "seed": seed, "val_loss": m["val_loss"], "val_chars": m["val_chars"],
            "val_kind": m["val_kind"], "steps": m["steps"], "seconds": m["seconds"],
            "steps_per_sec": m["steps"] / max(m["seconds"], 1e-9), "chars_per_sec": m["chars_per_sec"],
            "params": m["params"], "t160": t_clock, "t160_train": t_train, "wall": wall, "busy": busy,
            "threads": m["train_config"]["threads"], "precision": m["train_config"]["precision"],
            "train_config": m["train_config"], "model_config": m["model_config"]}


def reference_run(corpus: Path, budget: float, seed: int, workdir: Path, threads: int) -> dict:
    """reference_lstm.py in its own process (torch's threads as a fresh process has them, unless `threads`)."""
    out = workdir / f"ref-{budget:g}-{seed}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "reference_lstm.py"), str(corpus), "--budget", f"{budget:g}",
           "--seed", str(seed), "--json", str(out)] + (["--threads", str(threads)] if threads else [])
    interval = Interval()
    _run(cmd)
    wall, busy = interval.end()
    return {**json.loads(out.read_text()), "budget": budget, "seed": seed, "wall": wall, "busy": busy}


def _run(cmd: list[str]) -> None:
    """Run a training process; its messages (the CLI's warm-up warnings at tiny budgets …) shown only if it fails."""
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")


def _f(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def compare(args, workdir: Path) -> dict:
    """Default and reference at every budget, `args.repeats` times; prints each run and the table."""
    runs = []
    for i in range(args.repeats):
        seed = args.seed + i
        for budget in args.budgets:
            pair = {}
            for who in (("default", "reference") if i % 2 == 0 else ("reference", "default")):
                if args.wait_quiet:
                    wait_for_quiet(args.wait_quiet)
                pair[who] = (default_run(args.corpus, budget, seed, workdir, args.full_estimates) if who == "default"
                             else reference_run(args.corpus, budget, seed, workdir, args.ref_threads))
            d, r = pair["default"], pair["reference"]
            runs.append({"budget": budget, "seed": seed, "default": d, "reference": r,
                         "ratio": d["val_loss"] / r["val_loss"]})
            print(f"repeat {i + 1}/{args.repeats}, {budget:g} s: default {d['val_loss']:.4f} ({d['steps']:,} steps, "
                  f"{d['chars_per_sec']:,.0f} chars/s, t1.60 {_f(d['t160'], '.1f')} s, train "
                  f"{_f(d['t160_train'], '.1f')} s, busy {_f(d['busy'], '.2f')}) · reference {r['val_loss']:.4f} "
                  f"({r['steps']:,} steps, "
                  f"{r['chars_per_sec']:,.0f} chars/s, {r['threads']} thread(s), busy {_f(r['busy'], '.2f')}) · "
                  f"ratio {d['val_loss'] / r['val_loss']:.3f}", flush=True)
    summary = {}
    for budget in args.budgets:
        rs = [run for run in runs if run["budget"] == budget]
        ds, refs = [run["default"] for run in rs], [run["reference"] for run in rs]
        summary[f"{budget:g}"] = {
            "val_loss": _median(d["val_loss"] for d in ds), "val_losses": [d["val_loss"] for d in ds],
            "reference_loss": _median(r["val_loss"] for r in refs), "reference_losses": [r["val_loss"] for r in refs],
            "ratio": _median(run["ratio"] for run in rs), "chars_per_sec": _median(d["chars_per_sec"] for d in ds),
            "reference_chars_per_sec": _median(r["chars_per_sec"] for r in refs),
            "steps": _median(d["steps"] for d in ds), "reference_steps": _median(r["steps"] for r in refs),
            "t160": _median(d["t160"] for d in ds), "t160s": [d["t160"] for d in ds],
            "t160_train": _median(d["t160_train"] for d in ds), "busy": _median(d["busy"] for d in ds),
            "reference_busy": _median(r["busy"] for r in refs), "target": TARGETS.get(round(budget)),
            "params": ds[0]["params"], "reference_params": refs[0]["params"], "threads": ds[0]["threads"],
            "reference_threads": refs[0]["threads"], "val_chars": ds[0]["val_chars"],
            "reference_val_chars": refs[0]["val_chars"]}
    _table(args, summary)
    _warn_disturbed([run[who] for run in runs for who in ("default", "reference")], "")
    return {"summary": summary, "runs": runs}


def _warn_disturbed(runs: list[dict], what: str) -> None:
    n = sum(1 for r in runs if r["busy"] is not None and r["busy"] > DISTURBED)
    if n:
        print(f"warning: {n} of {len(runs)} {what}runs had other processes taking > {DISTURBED} cores: their figures "
              "measure the machine's load as much as charrnn", flush=True)


def _table(args, summary: dict) -> None:
    print(f"\nmedians of {args.repeats} repeat(s), {args.corpus.name}; losses in nats/char over all the held-out "
          f"text; t1.60: clock seconds of the first validation point ≤ {GOOD} (periodic estimates over the held-out "
          + ("text's whole length: --full-estimates, so these losses are NOT the default's" if args.full_estimates
             else "text's first eval_chars characters, then the final pass") + f"; target ≤ {GOOD_BY:g} s)")
    print(f"{'budget':>7} {'default':>8} {'target':>7} {'reference':>9} {'ratio':>6} {'chars/s':>8} {'ref ch/s':>8} "
          f"{'steps':>7} {'t1.60':>6} {'busy':>5} {'ref busy':>8}")
    for budget, s in summary.items():
        ok = "" if not s["target"] else ("  ok" if s["val_loss"] <= s["target"] else "  MISSED")
        print(f"{budget + ' s':>7} {s['val_loss']:>8.4f} {_f(s['target'], '.2f'):>7} {s['reference_loss']:>9.4f} "
              f"{s['ratio']:>6.3f} {s['chars_per_sec']:>8,.0f} {s['reference_chars_per_sec']:>8,.0f} "
              f"{s['steps']:>7,.0f} {_f(s['t160'], '.1f'):>6} {_f(s['busy'], '.2f'):>5} "
              f"{_f(s['reference_busy'], '.2f'):>8}{ok}")
    first = next(iter(summary.values()))
    print(f"default: {first['threads']} thread(s) chosen by the CLI, {first['params']:,} parameters; reference: "
          f"{first['reference_threads']} thread(s), fp32, {first['reference_params']:,} parameters; held-out text: "
          f"{first['val_chars']:,} characters as the CLI counts it, {first['reference_val_chars']:,} scored by both "
          "(charrnn's 16 streams leave out a tail shorter than one)", flush=True)


def busy(args, workdir: Path) -> dict:
    """The default run at the first budget, quiet then beside one CPU-bound process, `args.repeats` times."""
    budget, runs = args.budgets[0], []
    for i in range(args.repeats):
        if args.wait_quiet:
            wait_for_quiet(args.wait_quiet)
        quiet = default_run(args.corpus, budget, args.seed + i, workdir, args.full_estimates)
        with cpu_hog():
            loaded = default_run(args.corpus, budget, args.seed + i, workdir, args.full_estimates)
        runs.append({"quiet": quiet, "busy": loaded})
        for name, r in (("quiet", quiet), ("busy", loaded)):
            print(f"repeat {i + 1}/{args.repeats} {name:>5}: {r['val_loss']:.4f} nats/char, {r['steps']:,} steps, "
                  f"{r['steps_per_sec']:.1f} steps/s, {r['chars_per_sec']:,.0f} chars/s, others' CPU "
                  f"{_f(r['busy'], '.2f')} cores", flush=True)
    _warn_disturbed([run["quiet"] for run in runs], "quiet ")
    q = {k: _median(run["quiet"][k] for run in runs) for k in ("val_loss", "steps_per_sec", "chars_per_sec")}
    b = {k: _median(run["busy"][k] for run in runs) for k in ("val_loss", "steps_per_sec", "chars_per_sec")}
    rate, worse = b["steps_per_sec"] / q["steps_per_sec"], b["val_loss"] - q["val_loss"]
    print(f"\nmedians of {args.repeats} repeat(s), {budget:g} s: quiet {q['val_loss']:.4f} nats/char at "
          f"{q['steps_per_sec']:.1f} steps/s; beside a busy process {b['val_loss']:.4f} at {b['steps_per_sec']:.1f} "
          f"steps/s")
    print(f"busy step rate {rate:.0%} of quiet (target ≥ {BUSY_RATE:.0%}) {'ok' if rate >= BUSY_RATE else 'MISSED'}; "
          f"loss {worse:+.4f} nats (target ≤ +{BUSY_LOSS}) {'ok' if worse <= BUSY_LOSS else 'MISSED'}")
    return {"summary": {"budget": budget, "quiet": q, "busy": b, "rate": rate, "loss_change": worse}, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, help="e.g. ../shared/data/tinyshakespeare.txt")
    p.add_argument("--budgets", type=float, nargs="+", help="seconds (default 60 180 300; with --busy, 60)")
    p.add_argument("--repeats", type=int, default=1, help="runs per budget; medians are reported")
    p.add_argument("--seed", type=int, default=0, help="seed of the first repeat (then +1, +2, ...)")
    p.add_argument("--busy", action="store_true", help="the default run quiet, then beside one CPU-bound process")
    p.add_argument("--full-estimates", action="store_true",
                   help="every periodic estimate over all the held-out text (costs training time: not the default)")
    p.add_argument("--ref-threads", type=int, default=0, help="the reference's torch threads (0: torch's default)")
    p.add_argument("--json", type=Path, help="also write every run and the medians here")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SEC",
                   help="before each run, wait up to SEC seconds for other processes to go idle")
    args = p.parse_args(argv)
    if not args.corpus.is_file():
        p.error(f"no such file: {args.corpus}")
    if args.repeats < 1 or any(b <= 0 for b in args.budgets or [1]):
        p.error("--repeats and --budgets must be positive")
    args.corpus = args.corpus.resolve()
    args.budgets = args.budgets or ([60.0] if args.busy else [60.0, 180.0, 300.0])
    machine = describe()
    print(machine, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures = busy(args, Path(tmp)) if args.busy else compare(args, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "corpus": str(args.corpus), "repeats": args.repeats,
                                         "full_estimates": args.full_estimates, "t160": T160_MEANS,
                                         **figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
