"""Seeded samples of every registered model at its preset size (a 100,000-character text), 500 characters each,
pinned to what the sampler wrote before sampling was made faster (issue 20 part 4; `tests/data/samples_pinned.json`
was written by `python tests/test_samples_pinned.py` on main at e8779b2, before that change).

Each model is built with a fixed seed and briefly perturbed so its distributions are far from uniform (an
untrained model's near-uniform distribution would hide a changed sampling path behind luck); the n-gram is
counted from a fixed text. A sample is checked at temperature 1, at 0.8 with top-k 5 and at 0 (argmax),
with an empty prompt and with a prompt longer than the transformer's window.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from charrnn import Vocab, build_model, generate, make_config
from charrnn.models import MODELS
from charrnn.presets import preset

FIXTURE = Path(__file__).parent / "data" / "samples_pinned.json"
LINES = ["First Citizen:", "Before we proceed any further, hear me speak.", "All:", "Speak, speak.",
         "You are all resolved rather to die than to famish?", "Resolved. resolved.",
         "First, you know Caius Marcius is chief enemy to the people.", "We know't, we know't.",
         "Let us kill him, and we'll have corn at our own price. Is't a verdict?", "No more talking on't; "
         "let it be done: away, away!", "QUICK ZEPHYRS BLOW, VEXING DAFT JIM; 0123456789 & $ - 3"]
TEXT = "\n".join(LINES[i % len(LINES)] for i in range(400)) + "\n"
LONG_PROMPT = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\nFirst, "
CASES = [("", 500, 1.0, None, 3), (LONG_PROMPT, 500, 0.8, 5, 4), ("We know", 120, 0.0, None, 5)]


def pinned_model(name: str):
    vocab = Vocab.from_text(TEXT)
    # 2,500 steps: the sizes a 60 s budget bought when the samples were pinned (counted at 43,000 chars/s)
    options, _ = preset(name, 100_000, None, max_steps=2_500, vocab_size=len(vocab))
    model = build_model(name, len(vocab), make_config(name, **options), seed=20)
    if model.fitted_by_counting:
        model.fit_counts(vocab.encode(TEXT))
    else:
        g = torch.Generator().manual_seed(20)
        with torch.no_grad():
            for p in model.parameters():  # sharper distributions than an initial model's
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model, vocab


def samples(name: str) -> list[str]:
    model, vocab = pinned_model(name)
    return [generate(model, vocab, prompt, length, temperature, top_k, seed)
            for prompt, length, temperature, top_k, seed in CASES]


@pytest.mark.parametrize("name", list(MODELS))
def test_seeded_samples_are_what_they_were_before_sampling_was_made_faster(name):
    pinned = json.loads(FIXTURE.read_text())
    if name not in pinned:
        pytest.skip(f"{name} was registered after the samples were pinned")
    assert samples(name) == pinned[name]


if __name__ == "__main__":  # writes the fixture: only from a sampler known to be right
    torch.set_num_threads(1)
    FIXTURE.write_text(json.dumps({name: samples(name) for name in MODELS}, indent=1) + "\n")
    sys.exit(0)
