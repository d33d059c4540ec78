"""The split is part of a run: saved in the checkpoint, used by an exact resume, refused if changed.

Before, a run trained with val_fraction 0.2 and resumed exactly without the flag was silently re-split at
0.1 (text it had validated on became training text, and its validation loss lied), and resumed with
`--val-fraction 0.2` it was refused.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from charrnn import CheckpointError, TrainingError, checkpoint, plan_run
from charrnn.bundle import Split
from charrnn.cli import main

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40  # 1,920 characters
SETTINGS = {"n_hidden": 16, "n_layer": 1, "threads": 1, "eval_every": 1e9, "val_fraction": 0.2}
STEPS, STOP = 16, 6


def _uninterrupted():
    plan = plan_run(TEXT, "gru", SETTINGS, max_steps=STEPS)
    bundle = plan.build()
    for _ in plan.train(bundle):
        pass
    return plan, bundle


def _interrupted(tmp_path):
    plan = plan_run(TEXT, "gru", SETTINGS, max_steps=STEPS)
    bundle = plan.build()
    events = plan.train(bundle)
    for ev in events:
        if ev.step == STOP:
            break
    events.close()
    return checkpoint.save(tmp_path / "stopped.safetensors", bundle)


@pytest.fixture(scope="module")
def full():
    torch.set_num_threads(1)
    return _uninterrupted()


def test_an_exact_resume_without_the_flag_keeps_the_saved_split_and_validation_loss(full, tmp_path):
    full_plan, full_bundle = full
    stopped = checkpoint.load(_interrupted(tmp_path))
    assert stopped.split == Split(0.2, full_plan.data.n_train, len(TEXT))
    plan = plan_run(TEXT, None, {}, continue_from=stopped)
    assert plan.resume and plan.val_fraction == 0.2 and plan.sources["val_fraction"] == "saved run"
    assert plan.data.n_train == full_plan.data.n_train and torch.equal(plan.data.val, full_plan.data.val)
    for _ in plan.train(stopped):
        pass
    assert stopped.step == STEPS
    assert stopped.val_loss == full_bundle.val_loss  # the same held-out text, the same weights
    assert stopped.history.val_loss == full_bundle.history.val_loss


def test_an_exact_resume_accepts_the_same_fraction_and_refuses_another(tmp_path):
    stopped = checkpoint.load(_interrupted(tmp_path))
    assert plan_run(TEXT, None, {"val_fraction": 0.2}, continue_from=stopped).resume  # refused before
    with pytest.raises(TrainingError, match=r"val_fraction cannot change \(0.3 given; the saved run's is 0.2\)"):
        plan_run(TEXT, None, {"val_fraction": 0.3}, continue_from=stopped)
    with pytest.raises(TrainingError, match="first 1,536 of 1,920 characters, and this text has 1,470"):
        plan_run(TEXT[:1470], None, {}, continue_from=stopped)  # another text: another split point
    again = plan_run(TEXT, None, {}, continue_from=stopped, max_steps=3)  # a new run keeps the saved fraction
    assert not again.resume and again.val_fraction == 0.2 and again.sources["val_fraction"] == "saved run"
    other = plan_run(TEXT, None, {"val_fraction": 0.3}, continue_from=stopped, max_steps=3)  # or takes yours
    assert other.val_fraction == 0.3 and other.sources["val_fraction"] == "you"


def test_the_command_line_resumes_on_the_saved_split(full, tmp_path, capsys):
    _, full_bundle = full
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    stopped = _interrupted(tmp_path)
    out = tmp_path / "resumed.safetensors"
    assert main(["train", str(corpus), "--resume", str(stopped), "--quiet", "--out", str(out)]) == 0
    resumed = checkpoint.load(out)
    assert resumed.split.val_fraction == 0.2 and resumed.val_loss == full_bundle.val_loss
    assert main(["train", str(corpus), "--resume", str(stopped), "--val-fraction", "0.2", "--quiet",
                 "--out", str(tmp_path / "again.safetensors")]) == 0
    assert main(["train", str(corpus), "--resume", str(stopped), "--val-fraction", "0.5", "--quiet"]) == 2
    assert "val_fraction cannot change" in capsys.readouterr().err


def test_a_damaged_split_is_a_clear_error(tmp_path):
    path = _interrupted(tmp_path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    for bad in ('{"val_fraction": 1.5, "n_train": 10, "n_chars": 20}', '{"n_train": 10}', '[1, 2]', "{"):
        save_file(tensors, path, metadata={**meta, "split": bad})
        with pytest.raises(CheckpointError, match="damaged or inconsistent"):
            checkpoint.load(path)
    assert json.loads(meta["split"]) == {"val_fraction": 0.2, "n_train": 1536, "n_chars": 1920}
