"""Checkpoints: self-contained, safe to load from strangers, clear when they are not ours."""

import json

import pytest
import torch
from safetensors.torch import save as save_safetensors

from charrnn import Bundle, TrainConfig, Vocab, build_model, checkpoint, generate, split, train
from charrnn.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def trained():
    text = "hello world, hello there.\n" * 40
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), seq_len=16)
    from charrnn import make_config

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
