"""A checkpoint written by older code (tests/data/old_checkpoint.safetensors, made by `python tests/golden.py
--old-checkpoint` before the split was saved in checkpoints) still loads, samples and resumes exactly.

What that code computed from the file (a sample, the resumed run's events and weights) is kept beside it
(old_checkpoint.json) and compared where floats are comparable (the same torch and CPU capability); the
rest is checked everywhere.
"""

from __future__ import annotations

import json
import math

import golden
import pytest
import torch

from charrnn import checkpoint
from charrnn.cli import main
from charrnn.run import plan_run
from charrnn.sample import generate

FACTS = json.loads(golden.OLD_CHECKPOINT.with_suffix(".json").read_text())


def _same_machine() -> bool:
    here, there = golden.environment(), FACTS["environment"]
    return all(here[k] == there[k] for k in ("torch", "cpu_capability", "machine"))


def test_the_old_checkpoint_loads_with_everything_resuming_needs():
    bundle = checkpoint.load(golden.OLD_CHECKPOINT)
    assert bundle.model_name == "lstm" and bundle.step == golden.OLD_STOP and bundle.run_step == golden.OLD_STOP
    assert bundle.optimizer_state is not None and bundle.rnn_state is not None
    assert len(bundle.history.train_loss) == golden.OLD_STOP and bundle.train_config.max_steps == golden.MAX_STEPS


def test_the_old_checkpoint_samples_as_it_did():
    bundle = checkpoint.load(golden.OLD_CHECKPOINT)
    text = generate(bundle.model, bundle.vocab, **golden.OLD_SAMPLE)
    assert len(text) == len(golden.OLD_SAMPLE["prompt"]) + golden.OLD_SAMPLE["length"]
    if _same_machine():
        assert text == FACTS["sample"]


def test_the_old_checkpoint_samples_from_the_command_line(capsys):
    assert main(["sample", str(golden.OLD_CHECKPOINT), "--length", "30", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) == 30


def test_the_old_checkpoint_resumes_exactly_where_it_stopped():
    torch.set_num_threads(1)
    bundle = checkpoint.load(golden.OLD_CHECKPOINT)
    plan = plan_run(golden.TEXT, None, {}, continue_from=bundle)
    assert plan.resume and plan.val_fraction == 0.1  # saved before the split was kept: the default, said so
    assert "saved before checkpoints kept their split" in plan.reasons["val_fraction"]
    events = [e for e in plan.train(bundle) if e.phase == "training"]
    assert bundle.step == golden.MAX_STEPS and events[-1].stop_reason == "max_steps"
    assert math.isfinite(bundle.val_loss)
    if _same_machine():
        assert golden._events(events) == FACTS["events"]
        assert {k: golden._sha(v) for k, v in bundle.model.state_dict().items()} == FACTS["weights"]
    else:
        pytest.skip("resumed; its numbers are compared only where torch and the CPU match the fixture's")
