"""benchmarks/reference_lstm.py, the textbook LSTM bench_lstm.py trains beside the default, and bench_lstm's reading
of the time to a loss from the CLI's metrics. (The benchmarks themselves are not tests: they take minutes.)"""

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reference_lstm  # noqa: E402
from bench_lstm import time_to  # noqa: E402

from charrnn.batching import eval_streams  # noqa: E402
from charrnn.corpus import split  # noqa: E402
from charrnn.textstore import open_corpus  # noqa: E402

SANITY = ROOT / "examples_corpora" / "sanity.txt"


def test_the_reference_learns_and_is_scored_on_the_clis_held_out_characters():
    result = reference_lstm.run(SANITY, budget=600, seed=0, max_steps=30)  # 12,285 training characters: wraps
    assert result.steps == 30 and result.train_chars == 30 * 32 * 64 and result.precision == "fp32"
    corpus = open_corpus(SANITY)
    _, val = split(corpus.ids.long(), 0.1)
    assert result.val_chars == sum(y.numel() for _, y in eval_streams(val, 16, 64)) == 1360
    assert result.val_loss < 1.0 < math.log(len(corpus.vocab))  # the repeated rhymes are learned


def test_the_budget_stops_training():
    result = reference_lstm.run(SANITY, budget=0.3, seed=0)
    assert result.steps >= 1 and result.seconds >= 0.3


def test_time_to_a_loss_reads_the_first_estimate_at_or_below_it():
    history = {"step": [1, 2, 3, 4], "seconds": [1.0, 2.0, 4.0, 5.0],  # a step's end, before its estimate
               "val_step": [2, 3, 4], "val_seconds": [3.0, 4.5, 5.5], "val_loss": [1.9, 1.7, 1.55]}
    assert time_to(history, 1.7) == (4.5, 3.0)  # training seconds: 4.0 less the first estimate's 1.0 s
    assert time_to(history, 1.6) == (5.5, 3.5)
    assert time_to(history, 1.5) == (None, None)
    assert time_to({**history, "val_seconds": [None] * 3}, 1.7) == (None, None)  # an older checkpoint's curve
