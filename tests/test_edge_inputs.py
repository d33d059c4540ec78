"""The small failures of issue 18's hostile-client pass, each with the input that found it: an n-gram with
smoothing 0, a one-character vocabulary, a two-character text, an emoji model on an ASCII terminal."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from charrnn import MODELS, Bundle, TrainConfig, Vocab, build_model, checkpoint, make_config, split, train
from charrnn.inspect import diagnose_run, explain, predictions, record_graph

EMOJI = "we 🙂 love 🍕 and 🐍 code. " * 30


def fitted(name: str, text: str, **options) -> Bundle:
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), seq_len=8)
    bundle = Bundle(build_model(name, len(vocab), make_config(name, **options)), vocab, name)
    for _ in train(bundle, tr, va, TrainConfig(max_steps=2, time_budget=None, batch_size=2, seq_len=8)):
        pass
    return bundle


def test_an_unsmoothed_ngram_with_an_infinite_loss_is_told_why_not_to_lower_a_learning_rate():
    text = "the cat sat on the mat. " * 40 + "zebra quux"  # "z", "q", "x" only in the held-out end
    bundle = fitted("ngram", text, order=3, smoothing=0.0, interpolate=False)
    assert bundle.val_loss == math.inf
    findings = diagnose_run(bundle, text)
    said = " ".join(explain(f) for f in findings)
    assert findings[0].kind == "infinite_loss" and "probability 0" in said and "smoothing" in said
    assert "learning rate" not in said and "exploded" not in said


def test_a_diverged_run_is_still_told_to_lower_the_learning_rate():
    from charrnn.bundle import History
    from charrnn.inspect import diagnose

    history = History([1, 2], [8, 16], [3.0, 2.9], [2], [16], [math.nan])
    found = diagnose(history, uniform=3.0, unigram=2.5, lr=0.5, stop_reason="diverged")
    assert found[0].kind == "diverged" and "Lower the learning rate" in found[0].advice


def test_predictions_on_a_one_character_vocabulary_are_certain_not_a_division_by_zero():
    bundle = fitted("gru", "a" * 200, n_hidden=8, n_layer=1)
    p = predictions(bundle.model, bundle.vocab, "aaaa")
    assert p.uniform_loss == 0.0 and len(p.chars) == 3
    assert all(c.prob == pytest.approx(1.0) and c.surprise == 0.0 for c in p.chars)


def test_the_predictions_view_colours_a_one_character_vocabulary():
    from charrnn_app import inside_text
    from charrnn_app.session import Session

    session = Session()
    session.bundle = fitted("gru", "a" * 200, n_hidden=8, n_layer=1)
    strip, summary, data = inside_text.predictions_view(session, "aaaa")
    assert strip.count('class="ch"') == 4 and "nats" in summary and len(data["chars"]) == 3


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("text", ["ab", "abc"])
def test_the_graph_of_a_two_or_three_character_text(name, text):
    bundle = fitted(name, "abcabcab" * 20, n_hidden=8, n_layer=1, n_embd=8, n_head=2, block_size=8, context=2,
                    order=2)
    graph = record_graph(bundle.model, bundle.vocab, text, steps=3)
    x = graph.nodes[0]
    assert x.label == "x" and 1 <= x.sizes[1] <= len(text) - 1  # T steps of the text (nudged off the sizes)


def test_an_emoji_model_samples_on_an_ascii_terminal(tmp_path):
    path = checkpoint.save(tmp_path / "emoji.safetensors", fitted("ngram", EMOJI, order=3))
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    for args in (["--length", "200", "--seed", "1"], ["--probs", "--prompt", "we "]):
        r = subprocess.run([sys.executable, "-m", "charrnn", "sample", str(path), *args], capture_output=True,
                           timeout=120, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        out = r.stdout.decode("ascii")  # nothing but ASCII reached the terminal
        assert "\\U0001f" in out and b"Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "charrnn", "sample", str(path), "--prompt", "🦀"], capture_output=True,
                       timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 2 and b"never saw these characters" in r.stderr and b"\\U0001f980" in r.stderr


# ---- /shapes through a real server, read by a default gradio_client -----------------------------------

@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    from charrnn_app.settings import Settings

    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text("the cat sat on the mat. " * 40)
    return Settings(concurrency=2, queue_size=16, max_seconds=20, max_upload_mb=1, max_params=1_000_000,
                    examples_dir=examples)


@pytest.mark.server
def test_shapes_rows_are_data_a_default_client_reads_not_files_to_download(server):
    from gradio_client import Client

    client = Client(server, verbose=False)  # default: downloads whatever looks like a file ({"path": …})
    client.predict(example="tiny", model="gru", max_steps=3, n_hidden=8, n_layer=1, batch_size=2, seq_len=8,
                   api_name="/train")
    *_, data = client.predict(text="the cat", api_name="/shapes")
    rows = data["tensors"]
    assert any(r["module_path"] == "rnn" for r in rows) and all("path" not in r for r in rows)
