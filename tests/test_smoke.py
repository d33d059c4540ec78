"""The smallest end-to-end check: import the package, train a few steps, sample."""

import math

import charrnn
from charrnn import Bundle, TrainConfig, Vocab, build_model, generate, split, train


def test_train_a_few_steps_and_sample():
    text = "abcabcabc " * 100
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), seq_len=16)
    bundle = Bundle(build_model("lstm", len(vocab)), vocab, "lstm")
    events = list(train(bundle, train_ids, val_ids, TrainConfig(max_steps=5, time_budget=None, seq_len=16)))
    assert events[-1].done and events[-1].step == 5
    assert abs(events[0].train_loss - math.log(len(vocab))) < 0.5  # starts near a uniform guess
    out = generate(bundle.model, vocab, "ab", 20, temperature=1.0, seed=1)
    assert out.startswith("ab") and len(out) == 22 and set(out) <= set(text)
    assert charrnn.MODELS
