"""Checkpoints: self-contained, safe to load from strangers, clear when they are not ours."""

import copy
import dataclasses
import json
import os
import stat

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors
from safetensors.torch import save_file

from charrnn import MODELS, Bundle, TrainConfig, Vocab, build_model, checkpoint, generate, make_config, split, train
from charrnn.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def trained():
    text = "hello world, hello there.\n" * 40
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), seq_len=16)
    bundle = Bundle(build_model("gru", len(vocab), make_config("gru", n_hidden=24)), vocab, "gru")
    for _ in train(bundle, tr, va, TrainConfig(max_steps=8, time_budget=None, batch_size=4, seq_len=16)):
        pass
    return bundle


def test_save_load_samples_the_same_without_the_corpus(trained, tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", trained)
    loaded = checkpoint.load(path)
    assert loaded.vocab == trained.vocab and loaded.model_name == "gru" and loaded.step == 8
    assert loaded.history.val_loss == pytest.approx(trained.history.val_loss)
    assert loaded.train_config.max_steps == 8
    x = trained.vocab.encode("hello")[None]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x)[0], trained.model(x)[0])
    assert generate(loaded.model, loaded.vocab, "he", 50, 0.9, seed=3) == \
        generate(trained.model, trained.vocab, "he", 50, 0.9, seed=3)


def test_weights_only_is_smaller_and_still_samples(trained):
    full, small = checkpoint.to_bytes(trained), checkpoint.to_bytes(trained, weights_only=True)
    assert len(small) < 0.5 * len(full)
    loaded = checkpoint.load(small)
    assert loaded.optimizer_state is None and loaded.rnn_state is None
    assert len(generate(loaded.model, loaded.vocab, "", 20, 1.0, seed=0)) == 20


def test_corrupt_truncated_and_foreign_files(trained, tmp_path):
    data = checkpoint.to_bytes(trained)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(b"PK\x03\x04 this is a zip, or a pickle")
    with pytest.raises(CheckpointError, match="not written by charrnn"):
        checkpoint.load(save_safetensors({"w": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match="no such file"):
        checkpoint.load(tmp_path / "missing.safetensors")


def test_inconsistent_metadata_is_a_clear_error(trained):
    data = checkpoint.to_bytes(trained)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"]["vocab"] = json.dumps("ab")  # a vocabulary that does not fit the weights
    header["__metadata__"]["model_name"] = "gru"
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    with pytest.raises(CheckpointError, match="damaged or inconsistent"):
        checkpoint.load(len(body).to_bytes(8, "little") + body + data[8 + n:])
    header["__metadata__"]["model_name"] = "no-such-model"
    body = json.dumps(header).encode()
    with pytest.raises(CheckpointError, match="unknown model"):
        checkpoint.load(len(body).to_bytes(8, "little") + body + data[8 + n:])


# --- weights that are not numbers ------------------------------------------------------------------

TINY = dict(n_hidden=8, n_layer=1, n_embd=8, n_head=2, block_size=8, context=4, order=2)


@pytest.mark.parametrize("name", list(MODELS))
def test_nan_or_inf_weights_are_refused_saying_what_it_means(name, tmp_path):
    """As ../shared/cases/README.md says: train a few steps, set one weight to NaN with safetensors,
    keep the metadata; loading must say what happened, for every family."""
    text = "the cat sat on the mat. " * 20
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), seq_len=8)
    bundle = Bundle(build_model(name, len(vocab), make_config(name, **TINY)), vocab, name)
    for _ in train(bundle, tr, va, TrainConfig(max_steps=2, time_budget=None, batch_size=2, seq_len=8)):
        pass
    path = checkpoint.save(tmp_path / "m.safetensors", bundle)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    key = next((k for k, v in tensors.items() if k.startswith("model.") and v.is_floating_point()), None)
    if key is None:
        pytest.skip(f"{name}'s weights are integer counts: they cannot hold NaN")
    for bad in (float("nan"), float("inf")):
        edited = dict(tensors)
        edited[key] = tensors[key].clone()
        edited[key].view(-1)[0] = bad
        save_file(edited, str(path), metadata=meta)
        with pytest.raises(CheckpointError, match=rf"NaN/inf in {key} \(1 of [\d,]+ values\): training diverged"
                                                 r".*or the file was edited; train again"):
            checkpoint.load(path)
    save_file(tensors, str(path), metadata=meta)
    assert checkpoint.load(path).model_name == name  # the untouched file still loads


# --- atomic saves, no stray files --------------------------------------------------------------------

def test_save_leaves_only_the_checkpoint_readable_as_any_other_file(trained, tmp_path):
    old = os.umask(0o022)
    try:
        path = checkpoint.save(tmp_path / "m.safetensors", trained)
    finally:
        os.umask(old)
    assert os.listdir(tmp_path) == ["m.safetensors"]
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the umask's, not mkstemp's 0o600


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failing_write_keeps_the_old_file_and_leaves_nothing_behind(trained, tmp_path, monkeypatch, failure):
    path = checkpoint.save(tmp_path / "m.safetensors", trained, weights_only=True)
    before = path.read_bytes()

    def fail(fd):
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    expected = CheckpointError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected, match="No space left on device" if expected is CheckpointError else None):
        checkpoint.save(path, trained)
    assert os.listdir(tmp_path) == ["m.safetensors"] and path.read_bytes() == before


def test_saving_to_a_folder_or_into_a_missing_one_is_a_clear_error(trained, tmp_path):
    with pytest.raises(CheckpointError, match="is a folder; name a file in it"):
        checkpoint.save(tmp_path, trained)
    with pytest.raises(CheckpointError, match="the folder .*nowhere does not exist"):
        checkpoint.save(tmp_path / "nowhere" / "m.safetensors", trained)
    assert os.listdir(tmp_path) == []


# --- portability ----------------------------------------------------------------------------------

def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu(trained):
    gpu = copy.copy(trained)
    gpu.train_config = dataclasses.replace(trained.train_config, device="cuda")
    loaded = checkpoint.load(checkpoint.to_bytes(gpu))
    assert loaded.train_config.device == "cuda"  # kept as information; the caller picks the device
    assert {p.device.type for p in loaded.model.parameters()} == {"cpu"}
    assert len(generate(loaded.model, loaded.vocab, "he", 10, 0.8, seed=0)) == 12
