"""Issue 18, item 5: training draws from its own torch.Generator (`charrnn.randomness.RunRandom`), not torch's
process-wide one that every tab of a server shares. A run's dropout masks depend on its seed alone, whatever
other requests draw meanwhile; the stream is saved with the run, so a resume continues it exactly; a
checkpoint without it (older files) still loads; one whose stream is not a generator's state is refused.
"""

from __future__ import annotations

import threading

import pytest
import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from charrnn import Bundle, TrainConfig, Vocab, build_model, checkpoint, make_config, split
from charrnn import train as train_model
from charrnn.checkpoint_check import CheckpointError
from charrnn.randomness import RunRandom, draws_at_random

TEXT = "the quick brown fox jumps over the lazy dog. " * 20
VOCAB = Vocab.from_text(TEXT)
TRAIN, VAL = split(VOCAB.encode(TEXT), seq_len=16)
CONFIG = TrainConfig(max_steps=6, time_budget=None, batch_size=2, seq_len=16, seed=5, eval_every=1e9,
                     sample_every=0, threads=1)


def bundle(dropout: float = 0.3) -> Bundle:
    model = build_model("lstm", len(VOCAB), make_config("lstm", n_hidden=16, n_layer=2, dropout=dropout), seed=1)
    return Bundle(model, VOCAB, "lstm")


def losses(b: Bundle, between=None, config: TrainConfig = CONFIG, resume: bool = False) -> list[float]:
    out = []
    for ev in train_model(b, TRAIN, VAL, config, resume=resume):
        if not ev.done and ev.phase == "training":
            out.append(ev.train_loss)
            if between:
                between()
    return out


def test_a_runs_dropout_masks_do_not_depend_on_what_others_draw_meanwhile():
    alone = losses(bundle())
    torch.manual_seed(123)  # another tab seeds the global generator…
    crowded = losses(bundle(), between=lambda: torch.rand(1000))  # …and draws from it between our steps
    assert crowded == alone
    assert losses(bundle(), config=TrainConfig(**{**CONFIG.__dict__, "seed": 6})) != alone  # the seed decides


def test_two_runs_with_dropout_at_once_in_threads_each_draw_their_own_masks():
    alone = losses(bundle())
    results = [None, None]

    def run(i):
        results[i] = losses(bundle())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [alone, alone]


def test_the_stream_is_saved_with_the_run_and_a_resume_continues_it(tmp_path):
    ten = TrainConfig(**{**CONFIG.__dict__, "max_steps": 10})
    whole = losses(bundle(), config=ten)
    b = bundle()
    first = []
    for ev in train_model(b, TRAIN, VAL, ten):
        first.append(ev.train_loss)
        if len(first) == 4:
            break  # the consumer stops the run: the stream is kept where it stood
    assert b.rng_state is not None and b.rng_state.dtype == torch.uint8
    torch.rand(5000)  # what other tabs draw before the resume
    loaded = checkpoint.load(checkpoint.save(tmp_path / "m.safetensors", b))
    assert torch.equal(loaded.rng_state, b.rng_state)
    rest = losses(loaded, config=ten, resume=True)
    assert first + rest == whole


def test_a_checkpoint_without_a_stream_still_loads_and_a_false_one_is_refused(tmp_path):
    b = bundle()
    losses(b)
    tensors = load_bytes(checkpoint.to_bytes(b))
    meta = checkpoint._metadata(checkpoint.to_bytes(b))
    old = {k: v for k, v in tensors.items() if k != "rng.state"}  # as written before runs kept one
    assert checkpoint.load(save_bytes(old, metadata=meta)).rng_state is None
    for lie in (torch.zeros(7, dtype=torch.uint8), torch.zeros(5056, dtype=torch.int64), torch.zeros(2, 5056)):
        with pytest.raises(CheckpointError, match="rng.state is"):
            checkpoint.load(save_bytes({**old, "rng.state": lie}, metadata=meta))
    assert checkpoint.load(checkpoint.to_bytes(b, weights_only=True)).rng_state is None


def test_a_seeded_stream_draws_what_the_global_generator_seeded_the_same_way_draws():
    run = RunRandom.seeded(3)
    with run.drawing():
        a = torch.rand(4)
    with run.drawing():  # the stream goes on from where the last block left it
        b = torch.rand(4)
    torch.manual_seed(3)  # what runs did before: the global generator seeded at the run's start
    assert torch.equal(torch.cat([a, b]), torch.rand(8))
    assert draws_at_random(bundle(0.3).model) and not draws_at_random(bundle(0.0).model)


def test_the_train_tab_shows_the_seed_a_run_will_use_and_takes_another():
    from charrnn_app import training

    info = {"n_chars": len(TEXT), "vocab_size": len(VOCAB)}
    _, line = training.plan_summary("gru", info, 10)
    assert "seed 0" in line
    _, line = training.plan_summary("gru", info, 10, seed="7")
    assert "**seed 7**" in line  # bold: the user's own value
