"""Every adjustment a plan makes is kept with its reason, and shown: `charrnn train … --plan` prints the resolved
plan (each value, where it came from, why the plan changed it) and exits without training or writing."""

from __future__ import annotations

import contextlib
import io
import os

import pytest

from charrnn import checkpoint, plan_run
from charrnn.cli import main
from charrnn.run import Limits, describe_sources, plan_rows, resolve

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def here(tmp_path):
    before = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


def _row(stdout: str, name: str) -> list[str]:
    """The table's row for `name`, cut at the header's column starts (a source may hold a space)."""
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("setting "))
    starts = [header.index(word) for word in ("setting", "value", "source", "why")] + [None]
    line = next(line for line in lines if line.split()[:1] == [name])
    return [line[a:b].strip() for a, b in zip(starts, starts[1:], strict=False)]


def test_plan_prints_every_value_with_its_source_and_reason_and_writes_nothing(here):
    (here / "ab.txt").write_text("ab" * 40)  # 80 characters: 8 held out
    code, out, err = cli("train", "ab.txt", "--model", "transformer", "--block-size", 16, "--lr", "0.002", "--plan")
    assert code == 0 and err == ""
    assert out.startswith("plan: train a new model: transformer") and "the first 72 for training, the last 8" in out
    assert _row(out, "seq_len") == ["seq_len", "7", "preset", "shortened from 64: the held-out text has 8 characters"]
    assert _row(out, "n_embd") == ["n_embd", "64", "preset", ""]
    assert _row(out, "block_size")[1:3] == ["16", "you"] and _row(out, "lr")[1:3] == ["0.002", "you"]
    assert _row(out, "eval_every") == ["eval_every", "3", "preset", "1/20 of the 60 s budget"]
    assert _row(out, "val_fraction")[1:3] == ["0.1", "preset"]
    names = {line.split()[0] for line in out.splitlines()[6:]}
    assert {"n_embd", "batch_size", "final_eval_chars", "time_budget", "seed"} <= names
    assert sorted(p.name for p in here.iterdir()) == ["ab.txt"]  # no checkpoint, no folder, no probe


def test_plan_of_a_resume_shows_the_saved_run_and_its_split(here):
    (here / "cats.txt").write_text(TEXT)
    plan = plan_run(TEXT, "gru", {"n_hidden": 16, "n_layer": 1, "val_fraction": 0.2, "eval_every": 1e9},
                    max_steps=20)
    bundle = plan.build()
    events = plan.train(bundle)
    for ev in events:
        if ev.step == 3:
            break
    events.close()
    checkpoint.save(here / "stopped.safetensors", bundle)
    code, out, _ = cli("train", "cats.txt", "--resume", "stopped.safetensors", "--plan")
    assert code == 0 and out.startswith("plan: resume the saved run exactly where it stopped")
    assert _row(out, "val_fraction")[1:3] == ["0.2", "saved run"]
    assert _row(out, "max_steps")[1:3] == ["20", "saved run"]
    assert checkpoint.load(here / "stopped.safetensors").step == 3  # untouched


def test_plan_refuses_bad_settings_like_training_does(here):
    (here / "cats.txt").write_text(TEXT)
    code, out, err = cli("train", "cats.txt", "--n-hidden", 0, "--plan")
    assert code == 2 and out == "" and "n_hidden must be" in err and err.count("\n") == 1


def test_the_servers_adjustments_have_reasons_too():
    limits = Limits(max_seconds=20, max_step_seconds=1.0, final_eval_chars=50_000)
    r = resolve("gru", 1_000_000, 65, {"n_hidden": 512, "n_layer": 3}, max_steps=100, limits=limits)
    reasons = {k: why for k, _, _, why in plan_rows(r) if why}
    assert reasons["time_budget"].startswith("this server's limit per run")
    assert reasons["final_eval_chars"].startswith("lowered from 50,000: what this model reads in about 1 s")
    assert "lowered from 10,000" in reasons["eval_chars"]
    line = describe_sources(r, ["n_hidden", "final_eval_chars"])
    assert line.startswith("n_hidden 512 (you), final_eval_chars ") and "(preset; lowered from 50,000" in line
    fast = resolve("ngram", 100_000, 30, {}, time_budget=10, limits=limits)
    assert fast.train_config.final_eval_chars == 50_000
    assert fast.reasons["final_eval_chars"] == "this server's fixed sample of the held-out text (runs compare)"
