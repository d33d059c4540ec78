"""Threads chosen for the machine (charrnn.threads): the command line's default, the warm-up measurement in a
real run, and the tuner's decisions on step times it is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from charrnn import plan_run
from charrnn.threads import MEASURE, ThreadTuner, default_threads

ROOT = Path(__file__).resolve().parent.parent
TEXT = "The quick brown fox jumps over the lazy dog. A stitch in time saves nine.\n" * 60


def test_an_explicit_environment_wins_over_the_measurement():
    assert default_threads("gru", {"OMP_NUM_THREADS": "3"}, 2) == (None, "OMP_NUM_THREADS")
    assert default_threads("gru", {"LOCAL_WORLD_SIZE": "2"}, 2)[0] == 1  # torchrun: the cores shared
    assert default_threads("gru", {"LOCAL_WORLD_SIZE": "2"}, 8)[0] == 4
    assert default_threads("gru", {"LOCAL_WORLD_SIZE": "4"}, 2)[0] == 1  # never below one
    assert default_threads("gru", {}, 1)[0] == 1


def test_every_family_measures_its_threads_at_warm_up_on_a_machine_with_cores_to_choose_from():
    from charrnn.models import MODELS
    for name in MODELS:
        assert default_threads(name, {}, 2) == (MEASURE, "measured at warm-up")


def _feed(tuner: ThreadTuner, seconds_at: dict[int, float], steps: int) -> list[int]:
    """Step times as a function of the count in use; the counts each step ran with."""
    used = []
    for _ in range(steps):
        used.append(tuner.threads)
        tuner.record(seconds_at[tuner.threads])
    return used


def test_the_tuner_keeps_the_faster_count_and_rechecks_when_the_step_time_jumps():
    before = torch.get_num_threads()
    try:
        tuner = ThreadTuner((1, 2), probe_steps=3, window=5, jump=1.5)
        tuner._start_probe()
        used = _feed(tuner, {1: 0.030, 2: 0.020}, 11)
        assert used[:6] == [1, 1, 1, 2, 2, 2] and set(used[6:]) == {2}
        assert tuner.choices[-1][1] == 2 and torch.get_num_threads() == 2
        # another process starts: two threads now wait on each other. Once most of the last `window` steps are
        # slow (3 of 5: an occasional slow step, e.g. a validation, is not a jump), both are measured again
        used = _feed(tuner, {1: 0.031, 2: 0.500}, 3 + 3 + 1 + 5)
        assert tuner.choices[-1][1] == 1 and torch.get_num_threads() == 1
        assert used[:3] == [2, 2, 2] and used[3:6] == [1, 1, 1] and used[6] == 2  # 2 dropped after one step
        assert set(used[7:]) == {1}
        # nothing changes: no more measuring
        n = len(tuner.choices)
        _feed(tuner, {1: 0.031, 2: 0.500}, 30)
        assert len(tuner.choices) == n
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: there is nothing to choose")
def test_a_real_run_measures_both_counts_and_restores_the_threads():
    before = torch.get_num_threads()
    plan = plan_run(TEXT, "lstm", {"threads": MEASURE, "n_hidden": 32, "eval_every": 1e9, "seq_len": 16,
                                   "batch_size": 4, "final_eval_chars": 100, "stats_every": 0}, max_steps=40)
    events = list(plan.train(plan.build()))
    used = [e.threads for e in events if not e.done and e.phase == "training"]
    # 3 steps untimed, then 5 timed at one thread (steps 4-8), then two threads from step 9 on, measured
    assert used[:8] == [1] * 8 and used[8] == 2
    assert torch.get_num_threads() == before  # the caller's threads are the caller's


def test_the_command_line_says_which_threads_it_uses_and_why(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "LOCAL_WORLD_SIZE")}
    out = subprocess.run([sys.executable, "-m", "charrnn", "train", str(corpus), "--plan"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("threads "))
    expected, why = default_threads("lstm", env, os.cpu_count())
    assert row.split()[1:3] == [str(expected), "machine"] and why in row
    out = subprocess.run([sys.executable, "-m", "charrnn", "train", str(corpus), "--plan", "--threads", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert next(line for line in out.splitlines() if line.startswith("threads ")).split()[1:3] == ["2", "you"]


def test_a_measured_run_from_the_command_line_trains_and_records_it(tmp_path):
    corpus, metrics = tmp_path / "c.txt", tmp_path / "m.json"
    corpus.write_text(TEXT)
    subprocess.run([sys.executable, "-m", "charrnn", "train", str(corpus), "--model", "gru", "--threads", "0",
                    "--max-steps", "30", "--n-hidden", "32", "--seq-len", "16", "--quiet", "--out",
                    str(tmp_path / "m.safetensors"), "--metrics-json", str(metrics)], cwd=ROOT, check=True,
                   capture_output=True)
    assert json.loads(metrics.read_text())["steps"] == 30
