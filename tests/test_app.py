"""The app: its handlers called directly, then the real server in-process driven by gradio_client.

Tiny corpora, tiny models and short budgets keep this file to well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
import charrnn
from charrnn import MODELS, CorpusError, plan_run
from charrnn_app import corpus_view, options, plots, racing, runner, sampling, texts, train_chart, training
from charrnn_app.session import Session, delete_session
from charrnn_app.settings import Settings, example_notes, list_examples

ABC = "abc cab bca acb\n" * 250  # 4,000 characters of a, b, c, space, newline
XYZ = "xyz zyx yxz\n" * 350
SMALL = {"n_hidden": 32, "n_layer": 1, "n_embd": 8, "batch_size": 8, "seq_len": 16, "context": 4,
         "block_size": 16, "n_head": 2, "order": 3}  # options a model does not have are ignored


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpora")
    examples = d / "examples"
    examples.mkdir()
    (examples / "tiny.txt").write_text(ABC)
    (examples / "README.md").write_text("| file | size | what |\n|---|---|---|\n| `tiny.txt` | 4 KB | abc forever |\n")
    out = {"examples": examples}
    data = {"abc": ABC.encode(), "xyz": XYZ.encode(), "binary": b"PK\x03\x04\x00\x00" + bytes(range(256)) * 8,
            "latin1": ("café crème " * 200).encode("latin-1"), "empty": b"", "short": b"hello",
            "fancy": ("Zürich “says” café — naïve déjà vu.\n" * 100).encode()}
    for name, content in data.items():
        out[name] = d / f"{name}.txt"
        out[name].write_bytes(content)
    out["corrupt"] = d / "corrupt.safetensors"
    out["corrupt"].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    return out


@pytest.fixture(scope="module")
def settings(files) -> Settings:
    return Settings(concurrency=2, queue_size=16, max_seconds=20, max_upload_mb=1, max_params=1_000_000,
                    examples_dir=files["examples"])


def train(session, settings, *, stop_after=None, **kw) -> list:
    """Run the /train handler to the end (or set Stop after `stop_after` updates); all its outputs."""
    handler = training.train_handler(settings, list_examples(settings.examples_dir))
    outs = []
    for out in handler(session, **{"time_budget": 10, **SMALL, **kw}):
        outs.append(out)
        if stop_after is not None and len(outs) == stop_after:
            runner.stop_training(session)
    return outs


def traces(fig) -> dict[str, list]:
    data = json.loads(fig["plot"])["data"] if isinstance(fig, dict) else fig.to_dict()["data"]
    return {t.get("name", ""): t.get("y", []) for t in data}


# ── handlers, called directly ─────────────────────────────────────────────────────────────────────

def test_importing_app_opens_no_port_and_trains_nothing():
    assert not app.demo.is_running and getattr(app.demo, "server", None) is None


STABLE_IDS = ["corpus-file", "model", "train", "stop", "loss-plot", "status", "temperature", "prompt", "sample",
              "sample-output", "download"]


def test_the_page_has_the_stable_element_ids_and_named_endpoints():
    ids = {getattr(b, "elem_id", None) for b in app.demo.blocks.values()}
    assert set(STABLE_IDS) <= ids
    names = {f.api_name for f in app.demo.fns.values()}
    assert {"train", "stop", "sample", "load_checkpoint", "next_char_probs", "describe_corpus"} <= names
    dropdown = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "model")
    assert [value for _, value in dropdown.choices] == list(MODELS)  # the registry, in its order


def test_settings_from_env_and_examples(files):
    s = Settings.from_env({"CHARRNN_CONCURRENCY": "3", "CHARRNN_QUEUE": "9", "CHARRNN_MAX_SECONDS": "45",
                           "CHARRNN_MAX_UPLOAD_MB": "2", "CHARRNN_EXAMPLES": str(files["examples"])})
    assert (s.concurrency, s.queue_size, s.max_seconds, s.max_upload_bytes) == (3, 9, 45.0, 2 * 1024 * 1024)
    assert list(list_examples(s.examples_dir)) == ["tiny"]
    assert example_notes(s.examples_dir) == {"tiny": "abc forever"}
    with pytest.raises(ValueError, match="CHARRNN_QUEUE"):
        Settings.from_env({"CHARRNN_QUEUE": "lots"})
    demo = app.build_demo(s)
    train_fn = next(f for f in demo.fns.values() if f.api_name == "train")
    assert train_fn.concurrency_limit == 3 and demo._queue.max_size == 9


def test_describe_corpus_shows_stats_and_the_ascii_fold_effect(files):
    kw = dict(examples={}, max_bytes=10**6)
    md, preview, info = corpus_view.describe_corpus(str(files["fancy"]), None, None, False, **kw)
    assert "fancy.txt" in md and f"V = {info['vocab_size']}" in md and "unigram" in md
    assert "would shrink" in md and preview.startswith("Zürich")
    md2, preview2, info2 = corpus_view.describe_corpus(str(files["fancy"]), None, None, True, **kw)
    assert "Folded to ASCII" in md2 and preview2.startswith("Zurich") and info2["vocab_size"] < info["vocab_size"]
    md3, _, info3 = corpus_view.describe_corpus(None, "", "tiny", False, examples=list_examples(files["examples"]),
                                                max_bytes=10**6, notes={"tiny": "abc forever"})
    assert "example `tiny`" in md3 and "abc forever" in md3 and info3["vocab_size"] == 5
    md4, _, _ = corpus_view.describe_corpus(None, "hello there", None, False, **kw)
    assert "pasted text" in md4 and "too short" in md4


@pytest.mark.parametrize("name, words", [("binary", "binary"), ("latin1", "UTF-8"), ("empty", "empty")])
def test_bad_uploads_say_what_to_do(files, name, words):
    md, _, info = corpus_view.describe_corpus(str(files[name]), None, None, False, examples={}, max_bytes=10**6)
    assert md.startswith("⚠️") and words in md and info is None
    with pytest.raises(gr.Error, match=words):
        corpus_view.check_upload(str(files[name]), False, max_bytes=10**6)


def test_latin1_fallback_reads_what_utf8_cannot(files):
    md, _, info = corpus_view.describe_corpus(str(files["latin1"]), latin1=True, examples={}, max_bytes=10**6)
    assert "Using the uploaded file" in md and info["n_chars"] == len("café crème " * 200)
    corpus_view.check_upload(str(files["latin1"]), False, True, max_bytes=10**6)  # no error


def test_upload_beats_pasted_text_beats_example(files):
    ex = list_examples(files["examples"])
    assert corpus_view.load_corpus(str(files["xyz"]), "pasted", "tiny", False, examples=ex, max_bytes=10**6)[0] == XYZ
    assert corpus_view.load_corpus(None, "pasted", "tiny", False, examples=ex, max_bytes=10**6)[0] == "pasted"
    assert corpus_view.load_corpus(None, "  ", "tiny", False, examples=ex, max_bytes=10**6)[0] == ABC
    assert corpus_view.example_chosen("tiny") == (None, "")


@pytest.mark.parametrize("name", list(MODELS))
def test_choosing_a_model_shows_exactly_its_settings(name):
    info = {"n_chars": 5000, "vocab_size": 30}
    ups = training.model_selected(name, info, 30)
    specs = [*options.option_specs(), *options.TRAIN_SPECS]
    shown = {s.name for s, u in zip(specs, ups, strict=True) if u["visible"]}
    counted = MODELS[name].fitted_by_counting  # no learning rate or batch size for counting
    assert shown == options.model_fields(name) | (set() if counted else {s.name for s in options.TRAIN_SPECS})
    assert all("value" not in u for u in ups)  # what the user typed stays; the hint says what empty means
    hints = [u.get("placeholder") or u.get("info") for s, u in zip(specs, ups, strict=True) if s.name in shown]
    assert all("(preset)" in h for h in hints)
    card, line = training.plan_summary(name, info, 30)
    assert MODELS[name].title in card and ("parameters" in card or "counts" in card)
    assert line.startswith("**Train will use**") and "30 s" in line


def test_the_page_shows_the_preset_for_this_text_and_budget_and_keeps_typed_values():
    small, big = {"n_chars": 5000, "vocab_size": 30}, {"n_chars": 1_100_000, "vocab_size": 65}
    ph = {s.name: u.get("placeholder") for s, u in zip(options.option_specs(), training.model_selected(
        "lstm", big, 60), strict=False)}
    # tinyshakespeare, 60 s: ~5,700 steps at the tests' quiet step time (conftest), ~5 passes
    assert ph["dropout"] == "0 (preset)" and ph["n_embd"] == "64 (preset)"
    ph = {s.name: u.get("placeholder") for s, u in zip(options.option_specs(), training.model_selected(
        "lstm", small, 60), strict=False)}
    assert ph["dropout"] == "0.2 (preset)"  # a small text: many passes, more dropout
    _, line = training.plan_summary("lstm", big, 60, n_hidden="64", dropout="")
    assert "**hidden size 64**" in line and "dropout 0 " in line  # typed: bold; empty: the preset's
    _, line = training.plan_summary("lstm", big, 60, dropout="1.5")
    assert line.startswith("⚠️") and "dropout must be" in line
    ngram = {s.name: u.get("info") for s, u in zip(options.option_specs(), training.model_selected(
        "ngram", {"n_chars": 5000, "vocab_size": 8000}, 30), strict=False)}
    assert ngram["interpolate"].startswith("empty = on (preset)")  # a choice with a "preset" state


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registered_model_trains_and_samples_from_the_page(name, files, settings):
    s = Session()
    outs = train(s, settings, corpus=str(files["abc"]), model=name, max_steps=3)
    status, fig, live, path, reset, session = outs[-1]
    assert "Done" in status and session.bundle.model_name == name and Path(path).is_file()
    text = list(sampling.sample_text(s, "ab", 40, 1.0, 0, 1))[-1][0]
    assert text.startswith("ab") and len(text) == 42 and set(text) <= set(ABC)


def test_train_streams_stops_continues_and_protects_the_model(files, settings):
    s = Session()
    outs = train(s, settings, corpus=str(files["abc"]), model="lstm", stop_after=3)
    assert "Starting" in outs[0][0] and "Stopped" in outs[-1][0] and not s.running
    assert len(traces(outs[-1][1])["train (batch)"]) >= 2
    model, step = s.bundle.model, s.bundle.step
    assert step >= 2 and outs[-1][2]  # a final sample of what the model writes now
    # Train again: continues the same model.
    outs = train(s, settings, corpus=str(files["abc"]), model="lstm", max_steps=2)
    assert "Continuing" in outs[0][0] and s.bundle.model is model and s.bundle.step == step + 2
    # A different model, bad settings or an unknown character: a clear error, the model untouched.
    for kw, words in [({"n_hidden": 64}, "n_hidden 32 → 64"),
                      ({"model": "gru", "reset": True, "n_hidden": 2000, "n_layer": 4}, "at most 1,000,000"),
                      ({"corpus": str(files["xyz"])}, "never saw"), ({"corpus": str(files["binary"])}, "binary")]:
        with pytest.raises(gr.Error, match=words):
            train(s, settings, **{"corpus": str(files["abc"]), "model": "lstm", **kw})
        assert s.bundle.model is model and s.bundle.step == step + 2 and not s.running
    # ...unless a new model is asked for.
    outs = train(s, settings, corpus=str(files["xyz"]), model="gru", reset=True, max_steps=2)
    assert s.bundle.model_name == "gru" and s.bundle.step == 2 and outs[-1][4] is False
    # Another model starts a new run; the earlier ones stay in the tab's runs (the Compare tab's table).
    train(s, settings, corpus=str(files["abc"]), model="mlp", max_steps=2)
    assert s.bundle.model_name == "mlp" and [r.model_name for r in s.runs] == ["lstm", "gru", "mlp"]
    assert s.runs[0].resumed_at and s.runs[0].steps == step + 2


def test_stop_while_waiting_in_the_queue_cancels_the_run_and_units_switch_live(files, settings):
    s = Session()
    runner.mark_pending(s)  # Train clicked...
    runner.stop_training(s)  # ...and Stop clicked before a training slot was free
    outs = train(s, settings, corpus=str(files["abc"]), model="mlp")
    assert len(outs) == 1 and "Cancelled" in outs[0][0] and s.bundle is None and not s.stop
    train(s, settings, corpus=str(files["abc"]), model="mlp", max_steps=2)  # a Stop never pressed: trains
    nats = traces(train_chart.change_units("nats", s))["train (batch)"]
    bits = traces(train_chart.change_units("bits", s))["train (batch)"]
    assert s.units == "bits" and bits[0] == pytest.approx(nats[0] / math.log(2))


def test_before_training_the_chart_shows_the_levels_to_beat(files):
    _, _, info = corpus_view.describe_corpus(str(files["abc"]), examples={}, max_bytes=10**6)
    s = Session()
    lines = traces(train_chart.corpus_chart(info, s))
    assert lines[f"uniform guess ln(V) = {math.log(5):.2f}"] == [pytest.approx(math.log(5))] * 2
    assert "uniform guess log₂(V) = 2.32" in traces(train_chart.change_units("bits", s, info))


def test_a_closed_session_frees_its_model_and_files(files, settings):
    s = Session()
    path = Path(train(s, settings, corpus=str(files["abc"]), model="mlp", max_steps=2)[-1][3])
    assert path.is_file()
    delete_session(s)
    assert s.bundle is None and s.stop and not path.exists()


def test_training_time_is_capped_by_the_server(files):
    s = Session()
    capped = Settings(max_seconds=1.5, examples_dir=files["examples"])
    with pytest.raises(gr.Error, match="over this server's limit of 1.5 s"):
        train(s, capped, corpus=str(files["abc"]), model="mlp", time_budget=600)
    assert s.bundle is None
    t = time.perf_counter()
    outs = train(s, capped, corpus=str(files["abc"]), model="mlp", time_budget=1.5)
    assert time.perf_counter() - t < 8 and "time budget" in outs[-1][0]
    assert s.bundle.train_config.time_budget == 1.5


def test_training_settings_from_the_page_reach_the_trainer(files, settings):
    s = Session()
    train(s, settings, corpus=str(files["abc"]), model="lstm", max_steps=2, lr=0.02, weight_decay=0.07)
    used = s.bundle.train_config
    assert (used.lr, used.weight_decay, used.batch_size, used.seq_len) == (0.02, 0.07, 8, 16)
    s = Session()  # empty boxes: the preset's values for this budget (LSTM, 4,001 steps: with weight decay)
    long = Settings(max_seconds=120, examples_dir=files["examples"])
    train(s, long, corpus=str(files["abc"]), model="lstm", max_steps=4001, time_budget=120, weight_decay=None,
          lr=None, n_hidden=16, n_embd=None, batch_size=2, seq_len=4)
    assert s.bundle.train_config.weight_decay == 0.05 and s.bundle.train_config.lr == 7e-3


def test_sampling_errors_and_the_next_character_chart(files, settings):
    s = Session()
    with pytest.raises(gr.Error, match="No model yet"):
        list(sampling.sample_text(s, "a"))
    assert texts.NO_MODEL in sampling.next_char_chart(s, "a", 1.0).layout.title.text
    train(s, settings, corpus=str(files["abc"]), model="lstm", max_steps=30, lr=0.01)
    with pytest.raises(gr.Error, match="never saw"):
        list(sampling.sample_text(s, "abq"))
    first = list(sampling.sample_text(s, "a", 100, 1.0, 0, 7))[-1][0]
    assert first == list(sampling.sample_text(s, "a", 100, 1.0, 0, 7))[-1][0]  # same seed, same text
    greedy = [list(sampling.sample_text(s, "a", 50, 0.0, 0, seed))[-1][0] for seed in (-1, 3)]
    assert greedy[0] == greedy[1]  # temperature 0 is argmax: no randomness left
    bars = {t: sampling.next_char_chart(s, "ab", t).data[0].y for t in (0.0, 0.5, 1.0, 2.0)}
    assert bars[0.0][0] == 1.0 and bars[0.5][0] > bars[1.0][0] > bars[2.0][0]  # sharper when colder
    assert "never saw" in sampling.next_char_chart(s, "q", 1.0).layout.title.text


def test_checkpoint_round_trip_and_corrupt_files(files, settings):
    a = Session()
    path = train(a, settings, corpus=str(files["abc"]), model="gru", max_steps=3)[-1][3]
    b = Session()
    out = sampling.load_checkpoint(path, b, max_bytes=10**7)
    status, fig, model, *fields, download, session = out
    assert "Loaded" in status and model == "gru" and b.bundle.step == 3 and b.bundle.vocab == a.bundle.vocab
    named = dict(zip([s.name for s in options.option_specs()], fields, strict=False))
    assert named["n_hidden"]["value"] is None and named["n_hidden"]["visible"]  # empty = as the checkpoint has it
    assert named["n_hidden"]["placeholder"] == "32 (saved run)"
    assert list(sampling.sample_text(b, "ab", 20, 0.0))[-1][0] == list(sampling.sample_text(a, "ab", 20, 0.0))[-1][0]
    for bad in (files["corrupt"], files["abc"]):
        with pytest.raises(gr.Error, match="checkpoint|safetensors"):
            sampling.load_checkpoint(str(bad), b, max_bytes=10**7)
        assert b.bundle.step == 3


def test_loss_figure_units_reference_lines_and_size():
    h = charrnn.History(list(range(1, 5001)), list(range(1, 5001)), [3.0 - i / 5000 for i in range(5000)],
                        [1000, 5000], [1000, 5000], [2.5, 2.0])
    nats = traces(plots.loss_figure(h, math.log(50), 3.1))
    bits = traces(plots.loss_figure(h, math.log(50), 3.1, "bits"))
    assert len(nats["train (batch)"]) <= plots.MAX_POINTS
    assert bits["validation (held-out text)"][-1] == pytest.approx(2.0 / math.log(2))
    assert any(name.startswith("uniform guess ln(V) = 3.91") for name in nats)
    assert any(name.startswith("letter frequencies (unigram) = 3.10") for name in nats)


# ── the real server, in-process, driven by gradio_client ──────────────────────────────────────────

def train_args(path, **kw):
    return {"corpus": handle_file(str(path)), "model": "lstm", "time_budget": 15, **SMALL, **kw}


@pytest.mark.server
def test_api_streams_loss_while_training_and_stop_keeps_the_model(server, files):
    client = Client(server, verbose=False)
    job = client.submit(**train_args(files["abc"]), api_name="/train")
    counts, stopped_at = [], None
    for out in job:
        counts.append(len(traces(out[1]).get("train (batch)", [])) if isinstance(out[1], dict) else 0)
        if stopped_at is None and len([c for c in counts if c]) >= 3:
            client.predict(api_name="/stop")
            stopped_at = time.perf_counter()
    final = job.outputs()[-1]
    assert stopped_at is not None and time.perf_counter() - stopped_at < 5
    assert counts[-1] > 0 and sorted(c for c in counts if c) == [c for c in counts if c]  # points arrive, in order
    assert "Stopped" in final[0] and Path(final[3]).suffix == ".safetensors"
    text = client.predict(prompt="ab", length=30, temperature=0.8, seed=2, api_name="/sample")
    assert text.startswith("ab") and len(text) == 32 and set(text) <= set(ABC)


@pytest.mark.server
def test_api_cancel_keeps_the_model(server, files):
    client = Client(server, verbose=False)
    job = client.submit(**train_args(files["abc"]), api_name="/train")
    for i, _ in enumerate(job):
        if i == 2:
            job.cancel()
            break
    text = client.predict(prompt="a", length=20, temperature=0.5, seed=1, api_name="/sample")
    assert len(text) == 21 and set(text) <= set(ABC)
    deadline = time.perf_counter() + 10  # the cancelled run lets go of the tab within a step or two
    while True:
        try:
            out = client.predict(**train_args(files["abc"], max_steps=2), api_name="/train")
            break
        except AppError as e:
            assert "already training" in str(e) and time.perf_counter() < deadline
            time.sleep(0.2)
    assert "Done" in out[0]  # and the model trained on from where the cancel left it


@pytest.mark.server
def test_api_bad_input_gives_the_error_text_and_keeps_the_model(server, files):
    client = Client(server, verbose=False)
    with pytest.raises(AppError, match="No model yet"):
        client.predict(prompt="a", api_name="/sample")
    for name, words in [("binary", "binary"), ("latin1", "UTF-8"), ("empty", "empty"), ("short", "at least")]:
        with pytest.raises(AppError, match=words):
            client.predict(**train_args(files[name]), api_name="/train")
    client.predict(**train_args(files["abc"], max_steps=3), api_name="/train")
    with pytest.raises(AppError, match="binary"):
        client.predict(**train_args(files["binary"]), api_name="/train")
    with pytest.raises(AppError, match="never saw"):
        client.predict(prompt="xyz", api_name="/sample")
    with pytest.raises(AppError, match="not a readable"):
        client.predict(file=handle_file(str(files["corrupt"])), api_name="/load_checkpoint")
    assert set(client.predict(prompt="", length=20, api_name="/sample")) <= set(ABC)  # still the abc model


@pytest.mark.server
def test_api_two_clients_keep_separate_models_and_checkpoints_move_between_them(server, files):
    a, b = Client(server, verbose=False), Client(server, verbose=False)
    ja = a.submit(**train_args(files["abc"], max_steps=5), api_name="/train")
    jb = b.submit(**train_args(files["xyz"], max_steps=5, model="gru"), api_name="/train")
    path_a, path_b = ja.result()[3], jb.result()[3]
    assert set(a.predict(prompt="", length=60, api_name="/sample")) <= set(ABC)
    assert set(b.predict(prompt="", length=60, api_name="/sample")) <= set(XYZ)
    c = Client(server, verbose=False)
    loaded = c.predict(file=handle_file(path_b), api_name="/load_checkpoint")
    assert "Loaded" in loaded[0] and loaded[2] == "gru"
    assert set(c.predict(prompt="x", length=40, api_name="/sample")) <= set(XYZ)
    assert Path(path_a).stat().st_size > 0


def test_an_upload_the_server_has_since_removed_asks_for_it_again(tmp_path):
    """Gradio's cache cleanup removes uploads by age while the page still names the file: Train says to
    upload it again (not a server path)."""
    gone = tmp_path / "3f2a" / "cats.txt"
    with pytest.raises(CorpusError, match="cats.txt is no longer on the server .* upload it again"):
        corpus_view.load_corpus(str(gone), None, None, False, examples={}, max_bytes=10**6)


def test_the_final_status_says_which_held_out_text_the_loss_covered(files, settings):
    s = Session()
    outs = train(s, settings, corpus=str(files["abc"]), model="gru", max_steps=3)
    held_out = len(s.val_text) - 1  # each held-out character but the first is predicted
    assert f"nats/char on the whole held-out text ({held_out:,} characters)" in outs[-1][0]


def test_the_write_tab_says_when_the_model_it_previews_has_learned_nothing(files, settings):
    """A run that diverged with no good weights keeps its starting weights: the preview must not pass for a
    model's writing (a tester saw gibberish under "The first 200 characters the model writes")."""
    s = Session()
    s.bundle = plan_run("abc" * 400, "lstm", {"n_hidden": 16}, max_steps=1).build()  # step 0: untrained
    _, note, _ = sampling.preview(s)
    assert note.startswith("**This model has not learned anything yet**")
    s = Session()
    train(s, settings, corpus=str(files["abc"]), model="lstm", max_steps=2, n_hidden=16)
    s.written_by = None
    _, note, _ = sampling.preview(s)
    assert note.startswith("The first ")


def test_an_upload_too_short_to_train_says_how_to_use_the_example_instead(files, settings):
    """The uploaded file is read before the example: when it is readable but cannot be trained on (5 characters),
    Train's refusal says to clear the file to use the example the page shows, not only 'add more text'."""
    with pytest.raises(gr.Error, match=r"To use the example `tiny` instead, clear the uploaded file short\.txt"):
        train(Session(), settings, corpus=str(files["short"]), example="tiny", model="gru", max_steps=3)
    with pytest.raises(gr.Error) as refused:  # nothing to fall back to: nothing said about one
        train(Session(), settings, corpus=str(files["short"]), model="gru", max_steps=3)
    assert "clear the uploaded file" not in str(refused.value)
    race = racing.race_handler(settings, list_examples(settings.examples_dir))  # a race on Compare says the same
    with pytest.raises(gr.Error, match=r"To use the example `tiny` instead, clear the uploaded file short\.txt"):
        list(race(Session(), corpus=str(files["short"]), example="tiny", models=["gru"], time_budget=1))
