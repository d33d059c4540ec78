"""The CLI end to end, as a user runs it: real processes, real files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SANITY = ROOT / "examples_corpora" / "sanity.txt"


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "charrnn", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_train_then_sample(tmp_path):
    out, metrics = tmp_path / "m.safetensors", tmp_path / "m.json"
    r = run("train", SANITY, "--model", "gru", "--max-steps", 150, "--n-hidden", 64, "--lr", 0.01, "--out", out,
            "--metrics-json", metrics, "--seq-len", 32, "--threads", 1, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "validation loss" in r.stdout and out.exists()
    m = json.loads(metrics.read_text())
    for key in ("model", "params", "steps", "train_chars", "seconds", "chars_per_sec", "val_loss", "history"):
        assert key in m
    assert m["model"] == "gru" and m["steps"] == 150 and m["model_config"]["n_hidden"] == 64
    assert m["val_loss"] < 0.2 < 2.5 < m["history"]["train_loss"][0]  # the sanity corpus is learned
    r = run("sample", out, "--prompt", "the ", "--length", 80, "--seed", 1, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("the ") and len(r.stdout) >= 84
    again = run("sample", out, "--prompt", "the ", "--length", 80, "--seed", 1, cwd=tmp_path)
    assert again.stdout == r.stdout  # same seed, same text
    r = run("sample", out, "--prompt", "the c", "--probs", cwd=tmp_path)
    assert r.returncode == 0 and "'a'" in r.stdout.splitlines()[0]  # "the c" → "a" (the cat)
    r = run("train", SANITY, "--resume", out, "--max-steps", 5, "--out", out, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "155 steps" in r.stdout


def test_metrics_keep_the_seconds_of_every_estimate(tmp_path):
    """`val_seconds`: the training-clock seconds when each validation estimate was taken (benchmarks read the
    time a run took to reach a loss from it), on the same clock as the training points' `seconds`."""
    metrics = tmp_path / "m.json"
    r = run("train", SANITY, "--model", "gru", "--max-steps", 12, "--n-hidden", 32, "--seq-len", 32,
            "--eval-every", 0, "--threads", 1, "--out", tmp_path / "m.safetensors", "--metrics-json", metrics,
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads(metrics.read_text(), parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    h = m["history"]
    assert len(h["seconds"]) == len(h["step"]) == 12 and len(h["val_seconds"]) == len(h["val_loss"]) == 12
    assert h["seconds"] == sorted(h["seconds"]) and h["val_seconds"] == sorted(h["val_seconds"])
    at_step = dict(zip(h["step"], h["seconds"], strict=True))
    for step, seconds in zip(h["val_step"], h["val_seconds"], strict=True):
        assert at_step[step] <= seconds  # taken after its step: the estimate's own time counts
    assert 0 < h["val_seconds"][0] and h["val_seconds"][-1] <= m["seconds"]


def test_models_lists_the_registry(tmp_path):
    from charrnn.models import MODELS

    r = run("models", cwd=tmp_path)
    assert r.returncode == 0
    for name in MODELS:
        assert name in r.stdout


@pytest.mark.parametrize("content, args, message", [
    (b"\x00\x01binary", [], "binary"),
    (b"", [], "empty"),
    (b"caf\xe9 " * 100, [], "not valid UTF-8"),
    (b"short", [], "needs at least"),
    (b"hello world " * 100, ["--model", "nope"], "invalid choice"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, content, args, message):
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(content)
    r = run("train", corpus, "--max-steps", 2, "--quiet", *args, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_bad_checkpoint_and_prompt(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    r = run("sample", bad, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "corrupt or truncated" in r.stderr
    out = tmp_path / "m.safetensors"
    r = run("train", SANITY, "--max-steps", 2, "--out", out, "--quiet", "--n-hidden", 16, cwd=tmp_path)
    assert r.returncode == 0
    r = run("sample", out, "--prompt", "ZZZ", cwd=tmp_path)
    assert r.returncode == 2 and "never saw these characters" in r.stderr and "Traceback" not in r.stderr


def test_bf16_lstm_trains_or_is_refused_in_one_line(tmp_path):
    """`--precision bf16` asked for nn.LSTM on a CPU whose oneDNN has no bf16 LSTM (AVX2-only, e.g. AMD EPYC
    Zen 2/3) was a RuntimeError traceback from the first step; now it is one line and exit 2 before training.
    Where the CPU runs it (AVX-512 / AMX), the same command trains."""
    from charrnn.train import cpu_lstm_runs_bf16

    out = tmp_path / "m.safetensors"
    r = run("train", SANITY, "--model", "lstm", "--max-steps", 2, "--precision", "bf16", "--threads", 1,
            "--n-hidden", 16, "--out", out, "--quiet", cwd=tmp_path)
    if cpu_lstm_runs_bf16():
        assert r.returncode == 0 and out.exists(), r.stderr
    else:
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert "bf16" in r.stderr and "--precision fp32" in r.stderr and not out.exists()
    # asking draws the probe's weights aside: torch's global random stream is where it was
    cpu_lstm_runs_bf16.cache_clear()
    torch.manual_seed(0)
    cpu_lstm_runs_bf16()
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
    # bf16 for a model without nn.LSTM runs everywhere (emulated where the CPU has no bf16: slower, not wrong)
    r = run("train", SANITY, "--model", "gru", "--max-steps", 2, "--precision", "bf16", "--threads", 1,
            "--n-hidden", 16, "--out", out, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_ctrl_c_stops_and_still_saves(tmp_path):
    import signal
    import time

    out = tmp_path / "m.safetensors"
    p = subprocess.Popen([sys.executable, "-m", "charrnn", "train", str(SANITY), "--time-budget", "120", "--n-hidden",
                          "32", "--threads", "1", "--out", str(out), "--quiet", "--sample-every", "0.2"],
                         cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 120
    while "--- sample ---" not in p.stderr.readline():  # a sample is printed: the training loop is running
        assert time.monotonic() < deadline and p.poll() is None
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert stdout.startswith("stopped:") and out.exists() and "Traceback" not in stderr
    r = run("sample", out, "--length", 20, cwd=tmp_path)
    assert r.returncode == 0


def test_progress_in_a_log_is_plain_lines(tmp_path):
    """Output that is not a terminal (a log file, CI) gets one plain line a tenth of the run, never a `\\r` bar."""
    r = run("train", SANITY, "--model", "gru", "--max-steps", 40, "--n-hidden", 16, "--seq-len", 16, "--threads", 1,
            "--out", tmp_path / "m.safetensors", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if " · step " in line]
    assert 5 <= len(lines) <= 11, r.stderr  # each tenth of the 40 steps, and the end
    assert lines[-1].startswith("100% · ") and "step 40 " in lines[-1]
    shares = [int(line.split("%")[0]) for line in lines]
    assert shares == sorted(shares)
