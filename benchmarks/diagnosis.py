"""Benchmark: the diagnosis on labelled runs, as a confusion table (rows: the true label; columns: findings).

    python benchmarks/diagnosis.py [--scale real|tiny] [--budget 30] [--save runs.json] [--replay runs.json]

Trains every case of `tests/diagnosis_cases.py` (at "real" scale: every model's preset for `--budget`
seconds on the weather example and names.txt, and the faults — a learning rate of 1e-6, one that diverges or
jumps, a 12-layer plain RNN, a plain RNN started from weights 10x too large, a large LSTM on 3,000
characters, a 400-character text, a run of 60 steps), diagnoses each with `charrnn.inspect.diagnose_run` (what
the CLI prints after a run) and prints, per case, its findings and whether they are the teacher's verdict;
then the table: how many runs of each label got each finding ("none": no finding at all). A healthy run
must be all "none"; a faulty one must get its label's finding and nothing untrue.

`--save FILE` keeps what the diagnosis read from every run (loss curves, gradient samples, saturation …)
so that `--replay FILE` can diagnose the same runs again without training (for tuning the thresholds).
One torch thread per run, as the page trains; the machine's load is printed (timings do not matter here,
but a loaded machine takes fewer steps in a time budget, which changes the runs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
from diagnosis_cases import LABELS, cases, judge, train_case  # noqa: E402

from charrnn.bundle import History  # noqa: E402
from charrnn.corpus import corpus_stats  # noqa: E402
from charrnn.inspect.common import InspectError  # noqa: E402
from charrnn.inspect.diagnose import ModelFacts, diagnose, explain, model_facts  # noqa: E402
from charrnn.inspect.neurons import saturation  # noqa: E402


def inputs_of(bundle, text: str, stop_reason: str | None) -> dict:
    """What `diagnose_run` passes to `diagnose`, as plain data (JSON)."""
    try:
        shares = saturation(bundle.model, bundle.vocab, text, max_chars=500)
    except InspectError:
        shares = None
    facts = model_facts(bundle.model)
    config = bundle.train_config
    return {"history": asdict(bundle.history), "uniform": math.log(len(bundle.vocab)),
            "unigram": corpus_stats(text).unigram_entropy, "grad_stats": bundle.grad_stats or None,
            "lr": getattr(config, "lr", None), "stop_reason": stop_reason, "saturation": shares,
            "model": {**asdict(facts), "options": sorted(facts.options)}, "n_chars": len(text),
            "warmup_steps": getattr(config, "warmup_steps", None), "run_steps": bundle.run_step}


def rediagnose(inputs: dict):
    kwargs = dict(inputs)
    kwargs["history"] = History(**inputs["history"])
    kwargs["model"] = ModelFacts(**{**inputs["model"], "options": frozenset(inputs["model"]["options"])})
    return diagnose(**kwargs)


def table(rows: list[tuple[str, list[str]]]) -> str:
    kinds = sorted({k for _, found in rows for k in found}) + ["none"]
    counts: dict[str, Counter] = defaultdict(Counter)
    runs = Counter()
    for label, found in rows:
        runs[label] += 1
        for k in set(found) or {"none"}:
            counts[label][k] += 1
    width = max(len(k) for k in kinds)
    lines = [f"{'true label':<18} {'runs':>4} " + " ".join(f"{k:>{width}}" for k in kinds)]
    for label in [name for name in LABELS if name in runs]:
        lines.append(f"{label:<18} {runs[label]:>4} " + " ".join(f"{counts[label][k] or '.':>{width}}" for k in kinds))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", choices=["real", "tiny"], default="real")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds per time-budgeted run (real scale)")
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument("--save", help="write what the diagnosis read from every run to this JSON file")
    ap.add_argument("--replay", help="diagnose the runs saved in this JSON file instead of training")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load {Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
    if args.replay:
        saved = json.loads(Path(args.replay).read_text())
    else:
        saved = []
        for case in cases(args.scale, args.budget):
            if args.only not in case.name:
                continue
            start = time.perf_counter()
            bundle, stop_reason, text = train_case(case)
            saved.append({"name": case.name, "case": asdict(case), "steps": bundle.step,
                          "val": bundle.val_loss, "seconds": time.perf_counter() - start,
                          "inputs": inputs_of(bundle, text, stop_reason)})
            if args.save:
                Path(args.save).write_text(json.dumps(saved))
    rows, wrong = [], 0
    from diagnosis_cases import Case
    for run in saved:
        case = Case(**run["case"])
        findings = rediagnose(run["inputs"])
        kinds = [f.kind for f in findings]
        verdict = judge(case, kinds)
        wrong += verdict is not None
        rows.append((case.label, kinds))
        print(f"{'ok   ' if verdict is None else 'WRONG'} {run['name']}: {run['steps']} steps, val "
              f"{run['val'] if run['val'] is None else round(run['val'], 3)}"
              + (f" — {verdict}" if verdict else ""), flush=True)
        for f in findings:
            print(f"        {f.severity}: {explain(f)}")
    print("\n" + table(rows))
    print(f"\n{len(rows) - wrong} of {len(rows)} runs diagnosed as the label says; "
          f"load {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
