"""Benchmark: sampling speed of every registered model at batch 1, on the machine as it is and beside one busy
process (issue 20: ≥ 2,000 chars/s for each, in both).

    python benchmarks/bench_sample.py [CORPUS] [--length 500] [--repeats 5]

Each model is built at its preset size for a 100,000-character text (60 s budget) — the first 100,000
characters of CORPUS (default: ../shared/data/tinyshakespeare.txt), which the n-gram counts; the others
are sampled from their initial weights (a forward pass costs the same whatever the weights). A sample is
`charrnn.generate(model, vocab, "", LENGTH, 0.8, seed=…)`, what the CLI's `sample` and the page's Write
tab call, in a process whose torch is left at its default threads (the sampler chooses its own). Prints
the median chars/s over the repeats per model, the load average, and whether each meets the target.
~1 minute on a quiet 2-core machine.
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

from charrnn import Vocab, build_model, generate, make_config  # noqa: E402
from charrnn.models import MODELS  # noqa: E402
from charrnn.presets import preset  # noqa: E402

TARGET = 2_000  # chars/s
N_CHARS = 100_000


def build(name: str, text: str):
    vocab = Vocab.from_text(text)
    options, _ = preset(name, len(text), 60.0, vocab_size=len(vocab))
    model = build_model(name, len(vocab), make_config(name, **options), seed=0)
    if model.fitted_by_counting:
        model.fit_counts(vocab.encode(text))
    return model, vocab


def speed(model, vocab, length: int, repeats: int) -> float:
    """Median chars/s of `repeats` samples of `length` characters (after one short warm-up sample)."""
    generate(model, vocab, "", 20, 0.8, seed=0)
    rates = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        generate(model, vocab, "", length, 0.8, seed=seed)
        rates.append(length / (time.perf_counter() - t0))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, nargs="?", default=ROOT.parent / "shared" / "data" / "tinyshakespeare.txt")
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    args = p.parse_args(argv)
    text = args.corpus.read_text(encoding="utf-8")[:N_CHARS]
    models = {name: build(name, text) for name in args.models}
    print(describe())
    results = {}
    for label, context in (("as the machine is", contextlib.nullcontext()), ("beside one busy process", cpu_hog())):
        with context:
            results[label] = {name: speed(m, v, args.length, args.repeats) for name, (m, v) in models.items()}
            results[label]["load"] = load()
    labels = list(results)
    print(f"\nchars/s at batch 1, {args.length} characters, median of {args.repeats} (target {TARGET:,}):")
    print(f"{'model':14} {'quiet-ish':>10} {'busy':>10}")
    for name in args.models:
        rates = [results[label][name] for label in labels]
        ok = "ok" if min(rates) >= TARGET else "MISSED"
        print(f"{name:14} {rates[0]:10,.0f} {rates[1]:10,.0f}  {ok}")
    print(f"load average at the end of each: {results[labels[0]]['load']} / {results[labels[1]]['load']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
