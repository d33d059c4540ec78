"""The training generator: stopping, resuming exactly, and failing kindly."""

import math

import pytest
import torch

from charrnn import Bundle, TrainConfig, TrainingError, Vocab, build_model, checkpoint, split, train
from charrnn.loss import evaluate_pieces
from charrnn.options import SettingError
from charrnn.train import lr_at

TEXT = "the cat sat on the mat.\na dog ran in the fog.\n" * 60


def setup(name="lstm", **options):
    vocab = Vocab.from_text(TEXT)
    tr, va = split(vocab.encode(TEXT), seq_len=16)
    from charrnn import make_config

    model = build_model(name, len(vocab), make_config(name, n_hidden=32, n_layer=1, **options))
    return Bundle(model, vocab, name), tr, va


def config(**kw):
    return TrainConfig(**{"max_steps": 30, "time_budget": None, "batch_size": 4, "seq_len": 16,
                          "eval_every": 1e9, **kw})


def logits(bundle, tr):
    with torch.no_grad():
        return bundle.model(tr[:40][None])[0]


def test_events_and_final_validation():
    bundle, tr, va = setup()
    events = list(train(bundle, tr, va, config()))
    assert [e.step for e in events[:-1]] == list(range(1, 31))
    last = events[-1]
    assert last.done and last.stop_reason == "max_steps" and last.val_loss == bundle.val_loss
    assert len(bundle.history.train_loss) == 30 and bundle.chars_seen == 30 * 4 * 16
    assert last.val_loss < math.log(len(bundle.vocab))  # it learned something


def test_stopping_keeps_the_weights_and_resume_is_exact():
    full, tr, va = setup()
    for _ in train(full, tr, va, config()):
        pass
    half, _, _ = setup()
    events = train(half, tr, va, config())
    for ev in events:
        if ev.step == 12:
            break
    events.close()  # the consumer stops: weights stay where they got to
    assert half.step == 12 and half.optimizer_state is not None
    restored = checkpoint.load(checkpoint.to_bytes(half))  # via a file, without the corpus
    for _ in train(restored, tr, va, config(), resume=True):
        pass
    assert restored.step == 30
    torch.testing.assert_close(logits(restored, tr), logits(full, tr))
    assert restored.history.train_loss == pytest.approx(full.history.train_loss)


def test_training_again_continues_from_the_model():
    bundle, tr, va = setup()
    for _ in train(bundle, tr, va, config(max_steps=10)):
        pass
    first = bundle.val_loss
    for _ in train(bundle, tr, va, config(max_steps=20)):
        pass
    assert bundle.step == 30 and bundle.val_loss < first


def test_time_budget_stops():
    bundle, tr, va = setup()
    events = list(train(bundle, tr, va, config(max_steps=None, time_budget=0.5)))
    assert events[-1].stop_reason == "time_budget" and events[-1].elapsed < 5


def test_exploding_loss_stops_with_advice_and_restores_good_weights():
    bundle, tr, va = setup()
    for _ in train(bundle, tr, va, config(max_steps=5)):
        pass
    good = logits(bundle, tr)
    events = list(train(bundle, tr, va, config(lr=10.0, grad_clip=None, warmup_steps=0)))
    last = events[-1]
    assert last.done and last.stop_reason == "diverged"
    assert "learning rate" in last.message and "restored" in last.message
    torch.testing.assert_close(logits(bundle, tr), good)  # the weights from before the blow-up


def test_schedule_warms_up_then_decays():
    c = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(c, 0, 0.0) == pytest.approx(0.1)
    assert lr_at(c, 9, 0.0) == pytest.approx(1.0)
    assert lr_at(c, 100, 0.5) == pytest.approx(0.55)
    assert lr_at(c, 100, 1.0) == pytest.approx(0.1)


def test_bad_settings_are_refused():
    bundle, tr, va = setup()
    with pytest.raises(TrainingError, match="never stop"):
        next(train(bundle, tr, va, TrainConfig(max_steps=None, time_budget=None)))
    with pytest.raises(TrainingError, match="not enough text"):
        next(train(bundle, tr, va, config(seq_len=4000)))
    with pytest.raises(SettingError, match="seq_len must be a whole number from 1 to 4,096"):
        next(train(bundle, tr, va, config(seq_len=10_000)))
    with pytest.raises(SettingError, match="grad_clip"):
        next(train(bundle, tr, va, config(grad_clip=0.0)))
    with pytest.raises(SettingError, match="time_budget"):
        next(train(bundle, tr, va, config(time_budget=0.0)))


def test_transformer_refuses_windows_longer_than_its_block():
    vocab = Vocab.from_text(TEXT)
    tr, va = split(vocab.encode(TEXT), seq_len=16)
    from charrnn import make_config

    model = build_model("transformer", len(vocab), make_config("transformer", block_size=8, n_embd=16))
    with pytest.raises(TrainingError, match="longer than the 8 characters"):
        next(train(Bundle(model, vocab, "transformer"), tr, va, config(seq_len=16)))


# ── the hooks later features use: an own-compute clock, last-position loss, stateless windows, stats ──

def test_own_clock_counts_only_the_trainers_time():
    """A race lets models take turns: time spent outside the generator is not part of a model's budget."""
    import time

    bundle, tr, va = setup()
    wall = time.perf_counter()
    events = []
    for ev in train(bundle, tr, va, config(max_steps=None, time_budget=0.5, clock="own")):
        events.append(ev)
        time.sleep(0.05)  # the other models' turns
    wall = time.perf_counter() - wall
    assert events[-1].done and 0.5 <= bundle.run_seconds < 2.0  # its own compute: the budget
    assert wall >= bundle.run_seconds + 0.05 * len(events) - 0.01  # the others' turns were not counted


def test_loss_on_the_last_position_and_stateless_windows():
    bundle, tr, va = setup("lstm")
    states = []
    bundle.model.register_forward_pre_hook(lambda m, args: states.append(args[1] is None) if m.training else None)
    events = list(train(bundle, tr, va, config(max_steps=6, stateless=True)))
    assert all(states) and len(states) == 6  # every window from a fresh state
    states.clear()
    list(train(bundle, tr, va, config(max_steps=6)))
    assert states[0] and not any(states[1:])  # streams: the state is carried
    bundle, tr, va = setup("lstm")
    first = next(train(bundle, tr, va, config(max_steps=1, loss_on="last", warmup_steps=0)))
    assert math.isfinite(first.train_loss) and events[0].train_loss != first.train_loss


def test_gradient_statistics_are_sampled_every_n_steps():
    bundle, tr, va = setup("lstm")
    events = list(train(bundle, tr, va, config(max_steps=12, stats_every=4)))
    stats = [e.stats for e in events if e.stats]
    assert [s["step"] for s in stats] == [4, 8, 12] and bundle.grad_stats == stats
    names = {n for n, p in bundle.model.named_parameters()}
    assert set(stats[0]["grad_norm"]) == names and all(0 < r < 1 for r in stats[0]["update_ratio"].values())


def test_a_counted_model_stopped_by_its_step_limit_says_so():
    bundle, tr, va = setup("ngram", order=3)
    events = list(train(bundle, tr, va, config(max_steps=2, batch_size=1, seq_len=8)))
    assert bundle.step == 2 and events[-1].stop_reason == "max_steps"  # once reported as "time_budget"


def test_a_time_budget_includes_the_final_validation_pass():
    """Training stops early enough for the final pass (its time measured by the periodic estimates), so the
    whole run, final pass included, ends near its budget rather than a pass's length after it."""
    import time

    text = (TEXT * 40)[:100_000]
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), val_fraction=0.6, seq_len=16)  # a long held-out text: a slow final pass
    from charrnn import make_config

    bundle = Bundle(build_model("lstm", len(vocab), make_config("lstm", n_hidden=256, n_layer=2)), vocab, "lstm")
    # The budget follows this CPU: a final pass of ~30 % of it, inside the third a run may keep for it (an AVX2
    # core under load takes ~7 s for this pass, where the machine this was written on took under 1 s).
    list(evaluate_pieces(bundle.model, va[:4_000], 16))  # oneDNN's first calls, outside the timing
    began = time.perf_counter()
    list(evaluate_pieces(bundle.model, va, 16))
    budget = max(3.0, 3.5 * (time.perf_counter() - began))
    events = list(train(bundle, tr, va, config(max_steps=None, time_budget=budget, eval_every=budget / 6,
                                               eval_chars=2000, final_eval_chars=None)))
    last_step = [e for e in events if e.phase == "training" and not e.done][-1]
    final_pass = events[-1].elapsed - last_step.elapsed  # the run's clock: setup before its first step is not budgeted
    assert events[-1].stop_reason == "time_budget"
    assert final_pass > 0.2 * budget  # the pass is long enough to matter...
    assert events[-1].elapsed < budget * 1.1 + 0.5  # ...and fits in the budget (it once came after it)
