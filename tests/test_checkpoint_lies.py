"""A checkpoint that lies is refused with a clear message, never a crash (issue 18).

Each lie is made by editing one part of a real, stopped run's checkpoint with safetensors, as a hostile
client would. The messages are checked in this process (loading runs no optimizer); resuming training
from every file runs in a subprocess, so that a segfault (the fused AdamW kernel reading out of bounds,
as on the main branch before the checks) fails the test instead of killing the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from charrnn import Bundle, TrainConfig, Vocab, build_model, checkpoint, make_config, split, train
from charrnn.checkpoint import CheckpointError
from charrnn.checkpoint_check import MAX_HISTORY_ROWS

TEXT = "the cat sat on the mat. a dog ran in the fog. " * 30
ROOT = Path(__file__).resolve().parent.parent


def stopped_run(name: str, precision: str = "fp32", **options) -> bytes:
    """A full checkpoint of a run stopped at step 3 of 20 (so `--resume` continues it exactly)."""
    vocab = Vocab.from_text(TEXT)
    tr, va = split(vocab.encode(TEXT), seq_len=16)
    bundle = Bundle(build_model(name, len(vocab), make_config(name, **options)), vocab, name)
    events = train(bundle, tr, va, TrainConfig(max_steps=20, time_budget=None, batch_size=4, seq_len=16,
                                               precision=precision))
    for ev in events:
        if ev.step == 3:
            break
    events.close()
    return checkpoint.to_bytes(bundle)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {"gru": stopped_run("gru", n_hidden=16, n_layer=2),
            "lstm": stopped_run("lstm", n_hidden=16, n_layer=1),
            "transformer": stopped_run("transformer", n_layer=1, n_embd=8, n_head=2, block_size=16)}


def parts(data: bytes) -> tuple[dict, dict]:
    n = int.from_bytes(data[:8], "little")
    return load_tensors(data), json.loads(data[8:8 + n])["__metadata__"]


def edit(data: bytes, change) -> bytes:
    tensors, meta = parts(data)
    change(tensors, meta)
    return save_tensors(tensors, metadata=meta)


def _group(meta, **changes):
    groups = json.loads(meta["optim_groups"])
    groups[0].update(changes)
    meta["optim_groups"] = json.dumps(groups)


def _set(key, value):
    return lambda t, m: t.__setitem__(key, value)


def _meta(key, value):
    return lambda t, m: m.__setitem__(key, value)


def _drop(key):
    return lambda t, m: t.pop(key)


def _history_rows(rows):
    def change(t, m):  # the curve's seconds go with it (read as unknown, as in a file written before them)
        t["history.train"] = torch.arange(rows, dtype=torch.float64)[:, None].repeat(1, 3)
        t.pop("history.train_seconds", None)
    return change


def _poke(key, index, value):
    """Set one entry of a saved tensor."""
    return lambda t, m: t[key].view(-1).__setitem__(index, value)


def _copy(key, source, how=lambda x: x.clone()):
    return lambda t, m: t.__setitem__(key, how(t[source]))


def _config(**changes):
    return lambda t, m: m.__setitem__("train_config", json.dumps({**json.loads(m["train_config"]), **changes}))


def _vocab(how):
    return lambda t, m: m.__setitem__("vocab", json.dumps(how(json.loads(m["vocab"]))))


def _rows(*rows):
    return torch.tensor(rows, dtype=torch.float64)


# (which run, what the lie is, the edit, what the message must say)
LIES = [
    ("gru", "moments of the wrong shape", _set("optim.0.exp_avg", torch.zeros(3)),
     r"optim\.0\.exp_avg is float32 \(3,\), but parameter 0 \(input\.embedding\.weight\) is float32 "
     r"\(\d+, \d+\): the moments do not fit"),
    ("gru", "moments of another parameter", _copy("optim.1.exp_avg_sq", "optim.3.exp_avg_sq"),
     r"optim\.1\.exp_avg_sq is float32 .*but parameter 1"),
    ("gru", "moments of the wrong dtype", _copy("optim.0.exp_avg", "optim.0.exp_avg", lambda x: x.double()),
     r"optim\.0\.exp_avg is float64"),
    ("gru", "a negative second moment", _poke("optim.3.exp_avg_sq", 0, -1.0), r"optim\.3\.exp_avg_sq has negative"),
    ("gru", "moments of a parameter the model lacks", _set("optim.99.exp_avg", torch.zeros(3)),
     r"optim\.99\.exp_avg.*parameters"),
    ("gru", "a missing moment", _drop("optim.0.exp_avg_sq"), r"parameter 0 .*lack exp_avg_sq"),
    ("gru", "an Adam step of NaN", _set("optim.0.step", torch.tensor(float("nan"))), r"optim\.0\.step is not one"),
    ("gru", "an Adam step of 10^30", _set("optim.0.step", torch.tensor(1e30)), r"optim\.0\.step is not one"),
    ("gru", "amsgrad on (another kernel, another state)", lambda t, m: _group(m, amsgrad=True),
     r"optimizer setting amsgrad is True"),
    ("gru", "a group over other parameters", lambda t, m: _group(m, params=[0, 1]), r"covers other parameters"),
    ("gru", "an unknown optimizer setting", lambda t, m: _group(m, nesterov=True), r"AdamW does not have: 'nesterov'"),
    ("gru", "eps of 0", lambda t, m: _group(m, eps=0.0), r"eps is 0"),
    ("gru", "moments without their settings", _meta("optim_groups", "null"), r"Adam moments but not the optimizer"),
    ("gru", "a state for another batch size", _copy("rnn_state.0", "rnn_state.0", lambda x: x[:, :3].contiguous()),
     r"rnn_state\.0 has shape \(2, 3, 16\), but this model with batch_size 4 carries \(2, 4, 16\)"),
    ("gru", "a state of another hidden size", _set("rnn_state.0", torch.zeros(2, 4, 99)),
     r"rnn_state\.0 has shape \(2, 4, 99\)"),
    ("gru", "a state of ids", _set("rnn_state.0", torch.zeros(2, 4, 16, dtype=torch.long)), r"rnn_state\.0 is int64"),
    ("gru", "a state of NaN", _poke("rnn_state.0", 5, float("nan")), r"NaN/inf"),
    ("gru", "a state said to be a pair", _meta("rnn_state", "tuple"),
     r"a tuple of 1 tensor\(s\), but a TorchGRU carries a tensor of 1"),
    ("lstm", "an LSTM state missing its cell", _drop("rnn_state.1"), r"a tuple of 1 tensor\(s\).* a tuple of 2"),
    ("gru", "a state with a gap in its numbering", _copy("rnn_state.2", "rnn_state.0"), r"not numbered 0, 1, 2"),
    ("gru", "a state of an unknown kind", _meta("rnn_state", "dict"), r"rnn_state kind is 'dict'"),
    ("gru", "a state without training settings", _meta("train_config", "null"), r"not the training settings"),
    ("transformer", "a window holding an id past the vocabulary", _poke("rnn_state.0", 0, len(set(TEXT))),
     r"ids from 0 to \d+, which this model cannot read"),
    ("transformer", "a window holding a negative id", _poke("rnn_state.0", 0, -7), r"ids from -7"),
    ("gru", "a history of two columns", _set("history.train", torch.zeros(4, 2, dtype=torch.float64)),
     r"history\.train is float64 \(4, 2\), not \(rows, 3\) float64"),
    ("gru", "a history in float32", _set("history.val", torch.zeros(4, 3)), r"history\.val is float32"),
    ("gru", "a history with a NaN step", _set("history.train", _rows([float("nan"), 1.0, 2.0])),
     r"history\.train has a step or character count"),
    ("gru", "a history with a negative count", _set("history.val", _rows([1.0, -64.0, 2.0])),
     r"history\.val has a step or character count"),
    ("gru", "a history of a million and one rows", _history_rows(MAX_HISTORY_ROWS + 1),
     r"history\.train has 1,000,001 rows, more than the 1,000,000"),
    ("gru", "10^400 characters seen", _meta("chars_seen", "1" + "0" * 400), r"its chars_seen is '1000.*not a whole"),
    ("gru", "a negative step", _meta("step", "-3"), r"its step is '-3'"),
    ("gru", "a step of 2^60", _meta("run_step", str(2**60)), r"its run_step is"),
    ("gru", "infinite seconds", _meta("seconds", "inf"), r"its seconds is 'inf'"),
    ("gru", "NaN seconds", _meta("run_seconds", "nan"), r"its run_seconds is 'nan'"),
    ("gru", "no processes", _meta("world_size", "0"), r"its world_size is '0', not a whole number of processes"),
    ("gru", "a missing counter", lambda t, m: m.pop("chars_seen"), r"its chars_seen is None"),
    ("gru", "a weight in float64", _copy("model.head.bias", "model.head.bias", lambda x: x.double()),
     r"model\.head\.bias is float64, but the model's head\.bias is float32"),
    ("gru", "a weight of the wrong shape", _set("model.head.bias", torch.zeros(7)),
     r"model\.head\.bias has shape \(7,\), but this TorchGRU has"),
    ("gru", "a missing weight", _drop("model.head.bias"), r"damaged or inconsistent: Error\(s\) in loading"),
    ("gru", "an extra weight", _set("model.evil", torch.zeros(3)), r"damaged or inconsistent: Error\(s\) in loading"),
    ("gru", "a header asking for a huge model", lambda t, m: m.__setitem__("model_config", json.dumps(
        {**json.loads(m["model_config"]), "n_hidden": 4096, "n_layer": 8})), r"its header describes a gru of "
     r"[\d,]+ parameters \([\d,.]+ MB of weights\), but the whole file has"),
    ("gru", "a tensor charrnn never writes", _set("payload", torch.zeros(3)), r"a tensor charrnn does not write"),
    ("gru", "a batch size out of range", _config(batch_size=10**9), r"training settings are out of range: batch_size"),
    ("gru", "a vocabulary with half a UTF-16 pair", _vocab(lambda v: "\ud800" + v[1:]), r"U\+D800"),
    ("gru", "a vocabulary that is a list", _vocab(list), r"vocabulary is not a string"),
]


@pytest.mark.parametrize("run,lie,change,message", LIES, ids=[lie for _, lie, _, _ in LIES])
def test_each_lie_is_refused_saying_what_is_wrong(files, run, lie, change, message):
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(edit(files[run], change))


def test_the_truth_still_loads_and_nan_moments_are_dropped_keeping_the_weights(files):
    for data in files.values():
        bundle = checkpoint.load(data)
        assert bundle.optimizer_state is not None and bundle.rnn_state is not None
    nan = edit(files["gru"], lambda t, m: t["optim.2.exp_avg"].view(-1).__setitem__(0, float("nan")))
    bundle = checkpoint.load(nan)  # as before: NaN moments would diverge at once, the weights are fine
    assert bundle.optimizer_state is None and bundle.step == 3
    assert checkpoint.load(edit(files["gru"], _history_rows(MAX_HISTORY_ROWS + 1)), max_history_rows=None).step == 3


def test_a_bf16_run_s_state_loads_in_the_model_s_dtype():
    data = stopped_run("rnn", precision="bf16", n_hidden=16, n_layer=1)  # autocast leaves PyTorch's RNN state bf16
    saved, _ = parts(data)
    bundle = checkpoint.load(data)
    assert saved["rnn_state.0"].dtype == torch.bfloat16 and bundle.rnn_state.dtype == torch.float32
    assert torch.equal(bundle.rnn_state, saved["rnn_state.0"].float())  # exact: bf16 → fp32 loses nothing


RESUME_EACH = """
import sys
from charrnn import CheckpointError, load, plan_run
text = open(sys.argv[1]).read()
for path in sys.argv[2:]:
    print("trying", path, flush=True)
    try:
        bundle = load(path)
    except CheckpointError:
        print("refused", path, flush=True)
        continue
    plan = plan_run(text, None, {}, continue_from=bundle)  # no budget given: the exact resume
    for _ in plan.train(bundle):
        pass
    print("trained", path, flush=True)
"""


def test_resuming_from_any_lie_is_a_refusal_never_a_crash(files, tmp_path):
    corpus = tmp_path / "t.txt"
    corpus.write_text(TEXT)
    paths = []
    for k, (run, lie, change, _) in enumerate(LIES):
        if "million" in lie:
            continue  # 24 MB: checked in this process above
        path = tmp_path / f"lie{k}.safetensors"
        path.write_bytes(edit(files[run], change))
        paths.append(str(path))
    truth = tmp_path / "truth.safetensors"
    truth.write_bytes(files["gru"])
    r = subprocess.run([sys.executable, "-c", RESUME_EACH, str(corpus), *paths, str(truth)], capture_output=True,
                       text=True, timeout=600, cwd=tmp_path)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert r.returncode == 0, f"the process died (status {r.returncode}) at {last!r}: {r.stderr[-2000:]}"
    lines = r.stdout.splitlines()
    assert {p for p in paths if f"refused {p}" in lines} == set(paths)
    assert f"trained {truth}" in lines  # the truth resumes


@pytest.mark.parametrize("lie,command,message", [
    ("moments of the wrong shape", "train", "the moments do not fit the model"),  # was signal 11
    ("a state for another batch size", "train", "rnn_state.0 has shape (2, 3, 16)"),  # was a traceback
    ("10^400 characters seen", "sample", "its chars_seen is")])
def test_the_cli_says_it_in_one_line_and_exit_status_2(files, tmp_path, lie, command, message):
    run, _, change, _ = next(x for x in LIES if x[1] == lie)
    path = tmp_path / "lie.safetensors"
    path.write_bytes(edit(files[run], change))
    corpus = tmp_path / "t.txt"
    corpus.write_text(TEXT)
    args = ["train", str(corpus), "--resume", str(path), "--quiet"] if command == "train" else ["sample", str(path)]
    r = subprocess.run([sys.executable, "-m", "charrnn", *args], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr.count("\n") == 1 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("lie", ["moments of the wrong shape", "a state for another batch size",
                                 "10^400 characters seen"])
def test_the_page_says_it_as_a_message(files, tmp_path, lie):
    from charrnn_app import sampling
    from charrnn_app.session import Session

    run, _, change, message = next(x for x in LIES if x[1] == lie)
    path = tmp_path / "lie.safetensors"
    path.write_bytes(edit(files[run], change))
    session = Session()
    with pytest.raises(gr.Error, match=message):
        sampling.load_checkpoint(str(path), session, max_bytes=10**8, max_params=10**6)
    assert session.bundle is None  # nothing changed: the tab keeps what it had
