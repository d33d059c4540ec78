"""Per-request randomness (issue 18): "random" (seed None, the page's -1) is random for every request,
whatever seeded torch's global generator, and the seed used can be known, so a good sample is repeatable."""

from __future__ import annotations

import re
import subprocess
import sys

import torch

from charrnn import Bundle, TrainConfig, Vocab, build_model, checkpoint, generate, make_config, resolve_seed, split
from charrnn import train as train_model

TEXT = "the quick brown fox jumps over the lazy dog. " * 20
VOCAB = Vocab.from_text(TEXT)


def _model():
    return build_model("lstm", len(VOCAB), make_config("lstm", n_hidden=16, n_layer=1), seed=1)


def test_random_is_not_the_seed_0_text_after_a_run_seeds_the_global_generator():
    model = _model()
    seeded = generate(model, VOCAB, "th", 80, 1.0, seed=0)
    tr, va = split(VOCAB.encode(TEXT), seq_len=16)
    bundle = Bundle(build_model("gru", len(VOCAB), make_config("gru", n_hidden=8, n_layer=2, dropout=0.2)), VOCAB,
                    "gru")
    for _ in train_model(bundle, tr, va, TrainConfig(max_steps=1, time_budget=None, batch_size=2, seq_len=16)):
        pass  # a run starts: torch.manual_seed(config.seed) for its dropout masks, as in another tab
    torch.manual_seed(0)  # the global generator as a run leaves it at its start
    first = generate(model, VOCAB, "th", 80, 1.0, seed=None)
    torch.manual_seed(0)
    second = generate(model, VOCAB, "th", 80, 1.0, seed=None)
    assert first != seeded and second != seeded and first != second


def test_resolve_seed_keeps_a_given_seed_and_draws_a_fresh_one_for_none():
    assert resolve_seed(7) == 7 and resolve_seed(0) == 0
    drawn = {resolve_seed(None) for _ in range(20)}
    assert len(drawn) > 1 and all(0 <= s < 2**32 for s in drawn)
    torch.manual_seed(0)
    a = resolve_seed(None)
    torch.manual_seed(0)
    assert resolve_seed(None) != a  # not torch's generator (a false alarm once in 2^32 runs)
    model, seed = _model(), resolve_seed(None)
    assert generate(model, VOCAB, "th", 60, 1.0, seed=seed) == generate(model, VOCAB, "th", 60, 1.0, seed=seed)


def test_the_cli_says_which_seed_it_drew_and_that_seed_writes_the_text_again(tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", Bundle(_model(), VOCAB, "lstm"))

    def sample(*args):
        r = subprocess.run([sys.executable, "-m", "charrnn", "sample", str(path), "--length", "60", *args],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        return r

    drawn = sample()
    seed = re.fullmatch(r"seed (\d+) \(--seed \1 writes this text again\)\n", drawn.stderr).group(1)
    again = sample("--seed", seed)
    assert again.stdout == drawn.stdout and again.stderr == ""  # a seed given is not repeated back
    assert sample("--temperature", "0").stderr == ""  # argmax: no randomness, no seed to report
