"""torchrun with real processes (gloo on the CPU): N processes train the model one process trains on the
combined batch; rank 0 alone prints and writes; bad input and a dying rank end in one line from rank 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from charrnn import checkpoint
from charrnn.run import plan_run

ROOT = Path(__file__).resolve().parents[1]
SANITY = ROOT / "examples_corpora" / "sanity.txt"
TORCHRUN = Path(sys.executable).parent / "torchrun"
# fp32 and no dropout: "auto" picks bf16 on a CPU with AMX, and dropout masks differ with the batch's rows
SMALL = ["--max-steps", "4", "--batch-size", "8", "--n-hidden", "48", "--precision", "fp32", "--dropout", "0",
         "--quiet"]
ENV = {"PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")


def torchrun(n: int, *args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(TORCHRUN), "--standalone", "--nproc-per-node", str(n), "-m", "charrnn", "train",
                           *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)


def alone(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charrnn", "train", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**ENV, **(env or {})})


def ours(stderr: str) -> list[str]:
    """charrnn's own lines (not torchrun's warnings and failure report)."""
    return [line for line in stderr.splitlines() if line.startswith("charrnn:")]


def assert_same_model(a: Path, b: Path) -> None:
    one, two = checkpoint.load(a), checkpoint.load(b)
    assert one.step == two.step and one.chars_seen == two.chars_seen
    assert one.history.train_loss == pytest.approx(two.history.train_loss, abs=1e-6)
    for name, w in one.model.state_dict().items():
        torch.testing.assert_close(two.model.state_dict()[name], w, rtol=1e-5, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same 4 steps of an LSTM on 2 processes (4 rows each) and on 1 (8 rows)."""
    folder = tmp_path_factory.mktemp("ddp")
    two = torchrun(2, SANITY, *SMALL, "--out", "two.safetensors", "--metrics-json", "two.json", cwd=folder)
    one = alone(SANITY, *SMALL, "--out", "one.safetensors", cwd=folder)
    assert two.returncode == 0, two.stderr
    assert one.returncode == 0, one.stderr
    return folder, two


def test_two_processes_train_the_model_one_process_trains_on_the_combined_batch(two_runs):
    folder, two = two_runs
    assert_same_model(folder / "one.safetensors", folder / "two.safetensors")
    assert two.stdout.count("done:") == 1 and two.stdout.startswith("done: 4 steps, 2,048 chars")
    assert "on 2 processes" in two.stderr and "Traceback" not in two.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["one.safetensors", "two.json", "two.safetensors"]
    assert checkpoint.load(folder / "two.safetensors").world_size == 2
    assert checkpoint.load(folder / "one.safetensors").world_size == 1
    assert json.loads((folder / "two.json").read_text())["world_size"] == 2


def test_a_two_process_checkpoint_continues_in_one_and_in_two(two_runs):
    folder, _ = two_runs
    more = ["--max-steps", "3", "--precision", "fp32", "--quiet"]
    r2 = torchrun(2, SANITY, "--resume", "two.safetensors", *more, "--out", "more2.safetensors", cwd=folder)
    r1 = alone(SANITY, "--resume", "two.safetensors", *more, "--out", "more1.safetensors", cwd=folder)
    assert r2.returncode == 0 and r1.returncode == 0, r2.stderr + r1.stderr
    assert_same_model(folder / "more1.safetensors", folder / "more2.safetensors")
    assert checkpoint.load(folder / "more1.safetensors").step == 7


def test_an_interrupted_run_resumes_exactly_on_two_processes(tmp_path):
    """An exact resume carries the recurrent state of all 8 streams: each rank takes its 4 rows of it."""
    plan = plan_run(SANITY.read_text(), "gru", {"batch_size": 8, "n_hidden": 32, "precision": "fp32", "dropout": 0},
                    max_steps=6)
    bundle = plan.build()
    events = plan.train(bundle)
    for ev in events:
        if ev.step == 3:
            break
    events.close()
    assert bundle.rnn_state is not None and bundle.rnn_state.shape[1] == 8  # (layers, B, H)
    checkpoint.save(tmp_path / "cut.safetensors", bundle)
    r2 = torchrun(2, SANITY, "--resume", "cut.safetensors", "--quiet", "--out", "r2.safetensors", cwd=tmp_path)
    r1 = alone(SANITY, "--resume", "cut.safetensors", "--quiet", "--out", "r1.safetensors", cwd=tmp_path)
    assert r2.returncode == 0 and r1.returncode == 0, r2.stderr + r1.stderr
    assert "resuming gru on 2 processes" in r2.stderr
    assert_same_model(tmp_path / "r1.safetensors", tmp_path / "r2.safetensors")
    saved = checkpoint.load(tmp_path / "r2.safetensors")
    assert saved.step == 6 and saved.rnn_state.shape[1] == 8  # gathered from both ranks for the checkpoint


def test_the_ngram_counts_of_two_processes_equal_one_process_counts(tmp_path):
    r = torchrun(2, SANITY, "--model", "ngram", "--quiet", "--out", "ngram.safetensors", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    plan = plan_run(SANITY.read_text(), "ngram")
    bundle = plan.build()
    for _ in plan.train(bundle):
        pass
    two = checkpoint.load(tmp_path / "ngram.safetensors").model
    assert two.counts.sum() > 0
    assert torch.equal(two.keys, bundle.model.keys) and torch.equal(two.counts, bundle.model.counts)


def test_a_batch_that_does_not_split_is_one_line_from_rank_0(tmp_path):
    r = torchrun(2, SANITY, "--max-steps", "2", "--batch-size", "5", "--quiet", "--out", "x.safetensors", cwd=tmp_path)
    assert r.returncode != 0
    assert ours(r.stderr) == ["charrnn: error: the batch size 5 does not split across 2 processes; use a process "
                              "count that divides it (1, 5) or a batch size that is a multiple of 2"]
    assert list(tmp_path.iterdir()) == []


def test_a_rendezvous_that_never_completes_ends_within_the_timeout(tmp_path):
    with socket.socket() as s:  # a free port for the store
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    began = time.monotonic()
    r = alone(SANITY, *SMALL, "--out", "x.safetensors", "--dist-timeout", "2", cwd=tmp_path,
              env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                   "MASTER_PORT": str(port)})
    assert time.monotonic() - began < 30
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("charrnn: error: the 2 processes did not all join within 2 s")
    assert list(tmp_path.iterdir()) == []


def _rank_pid(parent: int, rank: int) -> int:
    """The process id of torchrun's worker of `rank` (a child of `parent` with RANK=rank in its environment)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(stat.parent.name)
    raise AssertionError(f"no worker of rank {rank} under process {parent}")


def _training(folder: Path) -> subprocess.Popen:
    """2 ranks well inside a long run (rank 0 has printed a live sample)."""
    p = subprocess.Popen([str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "charrnn", "train",
                          str(SANITY), "--max-steps", "1000000", "--batch-size", "8", "--n-hidden", "16", "--quiet",
                          "--sample-every", "0.3", "--out", "x.safetensors"],
                         cwd=folder, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 60
    while "--- sample ---" not in p.stderr.readline():
        if time.monotonic() > deadline or p.poll() is not None:
            p.kill()
            pytest.fail("the training loop never started")
    return p


def test_sigterm_stops_every_rank_at_one_step_and_rank_0_saves_the_streams(tmp_path):
    p = _training(tmp_path)
    try:
        p.send_signal(signal.SIGTERM)  # torchrun passes it on to every rank
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
    assert stdout.count("stopped:") == 1 and stdout.startswith("stopped:") and "done:" not in stdout
    assert ours(stderr) == []
    saved = checkpoint.load(tmp_path / "x.safetensors")
    assert saved.world_size == 2 and saved.rnn_state[0].shape[1] == 8  # all 8 streams, gathered
    assert [f.name for f in tmp_path.iterdir()] == ["x.safetensors"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through Linux's /proc")
def test_a_rank_dying_is_one_line_from_rank_0_which_keeps_the_last_whole_step(tmp_path):
    p = _training(tmp_path)
    try:
        os.kill(_rank_pid(p.pid, 1), signal.SIGKILL)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode != 0 and stdout == ""
    line, = ours(stderr)
    assert line.startswith("charrnn: error: another training process stopped answering") and "→ x.safetensors" in line
    saved = checkpoint.load(tmp_path / "x.safetensors")  # whole, loadable; its streams restart
    assert saved.step > 0 and saved.rnn_state is None and saved.world_size == 2
    assert [f.name for f in tmp_path.iterdir()] == ["x.safetensors"]


def test_the_library_never_joins_a_process_group_even_with_world_size_set(monkeypatch):
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    plan = plan_run(SANITY.read_text(), "lstm", {"n_hidden": 16}, max_steps=2)
    bundle = plan.build()
    last = list(plan.train(bundle))[-1]
    assert last.done and bundle.world_size == 1
    assert not (torch.distributed.is_available() and torch.distributed.is_initialized())
