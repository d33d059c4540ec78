"""One loss-curve record: a run record's curve is the window of its model's History that its runs added, and
the checkpoint keeps that History with its seconds; the page's final sample is made once."""

from __future__ import annotations

import math

import torch

import charrnn
from charrnn import checkpoint, plan_run
from charrnn.record import RunRecord
from charrnn.sample import LIVE_LENGTH

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40
SMALL = {"n_hidden": 16, "n_layer": 1, "threads": 1, "eval_every": 0.0}


def _run(record, plan, bundle, stop_at=None):
    events = plan.train(bundle)
    for ev in events:
        record.observe(ev)
        if ev.step == stop_at:
            break
    events.close()
    return ev


def _window(h, start=0, val_start=0):
    return (h.step[start:], h.chars[start:], h.train_loss[start:], h.val_step[val_start:], h.val_loss[val_start:])


def test_a_records_curve_is_its_models_history_and_goes_on_when_the_model_continues():
    torch.set_num_threads(1)
    plan = plan_run(TEXT, "gru", SMALL, max_steps=10)
    bundle = plan.build()
    record = RunRecord.begin(plan, bundle, 1, "cats")
    _run(record, plan, bundle)
    record.close()
    c, h = record.curve, bundle.history
    assert _window(c) == _window(h) and len(c.step) == 10 and c.val_step[-1] == 10
    assert c.seconds == h.seconds and c.val_seconds == h.val_seconds  # a fresh model: the same seconds axis
    assert all(a <= b for a, b in zip(c.seconds, c.seconds[1:], strict=False)) and c.seconds[-1] <= record.seconds
    assert record.final_val == bundle.val_loss and record.best_val == min(h.val_loss)

    more = plan_run(TEXT, None, {}, continue_from=bundle, max_steps=4)
    record.begin_segment(more, bundle)
    _run(record, more, bundle)
    record.close()
    assert record.resumed_at == [10] and _window(record.curve) == _window(bundle.history)
    assert record.curve.seconds[10] >= record.curve.seconds[9]  # its seconds go on


def test_a_record_of_a_loaded_model_shows_only_its_own_runs_from_its_own_zero(tmp_path):
    plan = plan_run(TEXT, "gru", SMALL, max_steps=6)
    bundle = plan.build()
    for _ in plan.train(bundle):
        pass
    loaded = checkpoint.load(checkpoint.save(tmp_path / "m.safetensors", bundle))
    assert loaded.history.seconds == bundle.history.seconds and loaded.history.val_seconds == bundle.history.val_seconds
    more = plan_run(TEXT, None, {}, continue_from=loaded, max_steps=3)
    record = RunRecord.begin(more, loaded, 2, "cats")
    _run(record, more, loaded)
    record.close()
    assert record.curve.step == [7, 8, 9] and _window(record.curve) == _window(loaded.history, 6, 6)
    assert 0 <= record.curve.seconds[0] < loaded.history.seconds[6]  # the record's clock starts at its run


def test_a_validation_loss_measured_at_a_stop_goes_on_the_models_history_too():
    plan = plan_run(TEXT, "gru", {**SMALL, "eval_every": 1e9}, max_steps=20)
    bundle = plan.build()
    record = RunRecord.begin(plan, bundle, 1, "cats")
    _run(record, plan, bundle, stop_at=5)
    assert bundle.history.val_step == []
    record.close(stopped=True, val_loss=2.5)
    assert (bundle.history.val_step, bundle.history.val_loss) == ([5], [2.5]) and bundle.val_loss == 2.5
    assert (record.curve.val_step, record.curve.val_loss) == ([5], [2.5]) and record.final_val == 2.5


def test_seconds_unknown_in_an_older_checkpoint_are_nan_one_per_point():
    import golden

    h = checkpoint.load(golden.OLD_CHECKPOINT).history
    assert len(h.seconds) == len(h.step) and all(math.isnan(s) for s in h.seconds)
    assert len(h.val_seconds) == len(h.val_step) and all(math.isnan(s) for s in h.val_seconds)


def test_the_pages_final_sample_is_the_records_last_frame_made_once(tmp_path, monkeypatch):
    from charrnn_app import training
    from charrnn_app.session import Session
    from charrnn_app.settings import Settings, list_examples

    def not_again(*args, **kwargs):
        raise AssertionError("the final sample is generated a second time")

    monkeypatch.setattr(charrnn, "generate", not_again)  # what the page's finish once called
    settings = Settings(max_seconds=20, examples_dir=tmp_path)
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    s = Session()
    handler = training.train_handler(settings, list_examples(settings.examples_dir))
    updates = list(handler(s, corpus=str(corpus), model="gru", time_budget=2, max_steps=8, n_hidden=16, n_layer=1))
    record = s.runs[-1]
    final_sample = updates[-1][2]
    assert final_sample == record.sample and len(final_sample) == LIVE_LENGTH
    assert record.film[-1].label == "100%"
