"""Benchmark: how close `charrnn.inspect.cost.view_cost` guesses the time of the Inside views that read text.

    python benchmarks/view_cost.py [CORPUS] [--chars 2000] [--repeats 3]

Each registered model is built at its preset size for the first 100,000 characters of CORPUS (default:
../shared/data/tinyshakespeare.txt; the n-gram counts them, the others keep their initial weights — a forward
pass costs the same whatever the weights) and runs `predictions` and `find_units` over `--chars`
characters of the text at one torch thread, as the page does. Prints, per model and view, the estimate, the
median measured seconds and measured ÷ estimate. The estimate bounds a view before it runs (the server's
`CHARRNN_MAX_VIEW_SECONDS`), so a ratio well above 1 lets a view run longer than the server allows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from machine import describe, load  # noqa: E402

from charrnn import plan_run, read_text  # noqa: E402
from charrnn.inspect.cost import view_cost  # noqa: E402
from charrnn.inspect.neurons import find_units  # noqa: E402
from charrnn.inspect.predictions import predictions  # noqa: E402
from charrnn.models import MODELS  # noqa: E402

VIEWS = {"predictions": predictions, "find_units": find_units}


def measure(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, nargs="?", default=ROOT.parent / "shared/data/tinyshakespeare.txt")
    p.add_argument("--chars", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    text = read_text(args.corpus)[:100_000]
    print(describe())
    print(f"\n{'model':14} {'view':12} {'estimate s':>10} {'measured s':>10} {'ratio':>6}")
    for name in MODELS:
        plan = plan_run(text, name, {"eval_every": 1e9, "final_eval_chars": 1}, max_steps=1)
        bundle = plan.build()
        if MODELS[name].fitted_by_counting:
            for _ in plan.train(bundle):
                pass
        piece = text[:args.chars]
        for view, fn in VIEWS.items():
            try:
                measured = measure(lambda fn=fn, b=bundle, t=piece: fn(b.model, b.vocab, t), args.repeats)
            except Exception as e:  # a view a model does not have (e.g. find units in the n-gram)
                print(f"{name:14} {view:12} {'-':>10} {'-':>10}  ({type(e).__name__})")
                continue
            guess = view_cost(view, bundle.model, name, len(piece)).seconds
            print(f"{name:14} {view:12} {guess:10.3f} {measured:10.3f} {measured / guess:6.1f}", flush=True)
    print(f"\nload at the end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
