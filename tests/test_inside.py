"""The Inside tab (issue 13): its handlers called directly for every registered model, each endpoint
through a real in-process server (gradio_client), the diagnosis of real runs (page, core, CLI), the
Write tab's readable next-character chart, and the tab in headless Chromium after a short training.

The computations themselves are tested against independent references in tests/test_inspect.py.
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from charrnn import MODELS, cli, plan_run
from charrnn.inspect import diagnose_run, update_size
from charrnn.presets import STATS_EVERY
from charrnn_app import inside_model, inside_text, sampling, training
from charrnn_app.session import Session
from charrnn_app.settings import Settings, list_examples

TEXT = 'He said "hello (there)" to 3 <b>Cats</b> & {dogs}.\nShe said "no, 42".\nThe cat (a big one) sat.\n' * 25
SMALL = {"n_hidden": 24, "n_layer": 2, "n_embd": 12, "n_head": 2, "block_size": 16, "context": 4, "order": 3,
         "batch_size": 4, "seq_len": 16}


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text(TEXT)
    return Settings(concurrency=2, queue_size=16, max_seconds=20, max_upload_mb=1, max_params=1_000_000,
                    examples_dir=examples)


def train(settings, session=None, **kw) -> tuple[Session, list]:
    """A run through the Train tab's handler (the page's door); the session and every output."""
    session = session or Session()
    handler = training.train_handler(settings, list_examples(settings.examples_dir))
    outs = list(handler(session, **{"example": "tiny", "time_budget": 10, "max_steps": 6, **SMALL, **kw}))
    return session, outs


# ---- the handlers, directly ------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_every_view_answers_for_every_model(settings, name):
    s, _ = train(settings, model=name, max_steps=STATS_EVERY)
    strip, summary, data = inside_text.predictions_view(s, None)
    assert strip.count('class="ch"') == len(data["text"]) and "nats" in summary
    assert inside_text.excerpt(s.val_text) == data["text"]  # empty text: an excerpt of the held-out text
    _, strip, _, data = inside_text.neuron_view(s, None, None, 1)
    assert ("n-gram" in data["note"]) if name == "ngram" else len(data["values"]) == strip.count('class="ch"')
    _, _, data = inside_text.saliency_view(s, None, -1)
    assert ("gradient" in data["note"]) if name == "ngram" else max(data["weight"]) == 1.0
    rows, _, graph, dot, data = inside_model.shapes_view(s, None)
    logits = next(r for r in rows if r[1] == "logits")
    assert logits[2] == "(B, T, V)" and rows[-1][0] in ("state", "loss") and graph.data
    assert dot.startswith("digraph")
    fig, summary, data = inside_model.map_view(s)
    assert fig.data and ("counts" in summary if name == "ngram" else "x" in data)
    fig, summary, data = inside_model.attention_view(s, None)
    assert (len(fig.data) == 2 * 2) if name == "transformer" else "only the transformer" in data["note"]
    if name != "transformer":  # the reason once, in the note: the empty chart only says there is nothing to draw
        assert "only the transformer" in summary and "only the transformer" not in fig.layout.title.text
        assert fig.layout.title.text == "No attention map to draw for this model: the note says why"
    findings, grad, ratio, _, data = inside_model.diagnosis_view(s)
    # 10 steps: a counted n-gram is too early to judge; a model descending its gradient stopped inside its warm-up
    assert (f"Only {STATS_EVERY} steps" in findings) if name == "ngram" else \
        f"stopped after {STATS_EVERY} steps, inside its" in findings
    assert (not data["grad_stats"]) if name == "ngram" else (grad.data and ratio.data)  # the preset samples gradients


def test_worked_loss_is_cross_entropy_and_a_click_on_the_strip_shows_it(settings):
    s, _ = train(settings, model="gru")
    md, data = inside_text.worked_loss_view(s, None, 7)
    assert math.isclose(data["loss"], data["cross_entropy"], rel_tol=1e-5) and "F.cross_entropy" in md
    position, md, data = inside_text.strip_clicked(s, None, gr.EventData(None, {"position": 12}))
    assert position == 12 and data["position"] == 12
    position, strip, _, data = inside_text.saliency_clicked(s, "the cat sat", gr.EventData(None, {"position": 4}))
    assert position == 4 and "outline" in strip and len(data["raw"]) == 5


def test_user_text_is_escaped_bounded_and_checked(settings):
    with pytest.raises(gr.Error, match="No model yet"):
        inside_text.predictions_view(Session(), "abc")
    s, _ = train(settings, model="rnn")
    strip, _, _ = inside_text.predictions_view(s, '<b>"Cats"</b> & {dogs}')
    assert "<b" not in strip and ">&lt;<" in strip and "{" not in strip and ">&#123;<" in strip  # one span each
    with pytest.raises(gr.Error, match="2,000 at most"):
        inside_text.predictions_view(s, "a" * 2001)
    _, summary, data = inside_text.predictions_view(s, "zebra quilt")  # z, q, u, … never seen
    assert "never saw" in data["note"].lower() or "not in" in data["note"].lower()
    loaded = Session()  # a model from a file has no text: the views ask for one
    loaded.bundle = s.bundle
    with pytest.raises(gr.Error, match="Type a text"):
        inside_text.predictions_view(loaded, "")


def test_find_units_by_property_and_by_a_selected_span(settings):
    s, _ = train(settings, model="lstm")
    table, data = inside_text.find_units_view(s, None, "inside quotes", "")
    assert {m["property"] for m in data["matches"]} == {"inside quotes"} and "| inside quotes |" in table
    span = inside_text.span_selected(gr.SelectData(None, {"index": [8, 15], "value": "x"}))
    assert span == "8-15"
    _, data = inside_text.find_units_view(s, None, "selected span", span)
    assert {m["property"] for m in data["matches"]} == {"selected span"}
    _, data = inside_text.find_units_view(s, None, "selected span", "")
    assert "select part of the text" in data["note"]



def test_find_units_as_clickable_rows_says_when_it_was_computed_on_a_sample(settings):
    """The page's Find units shows rows to click; a cut to the view budget must be said there too."""
    from dataclasses import replace

    s, _ = train(settings, model="lstm")
    text = (s.train_text * (2_000 // len(s.train_text) + 1))[:2_000]  # 2,000 characters the model knows
    s.view_limits = replace(s.view_limits or settings.limits, max_view_seconds=0.3)  # ~1,000 at 300 µs each
    html, data = inside_text.find_units_rows(s, text, "all", "")
    assert (data.get("sampled") or "").startswith("Computed on a sample: the first "), data
    assert "⚠️ Computed on a sample" in html
    assert "data-unit=" in html

# ---- the diagnosis of real runs ----------------------------------------------------------------------

def test_a_page_run_at_lr_1e_6_ends_saying_the_learning_rate_is_too_low(settings):
    s, outs = train(settings, model="gru", lr=1e-6, max_steps=40)
    status = outs[-1][0]
    assert "Done" in status and "learning rate 1e-06 is far too low" in status and "Raise the learning rate" in status
    assert len(s.bundle.grad_stats) == 40 // STATS_EVERY  # the preset samples gradient statistics
    findings, grad, ratio, summary, data = inside_model.diagnosis_view(s)
    assert data["findings"][0]["kind"] == "stuck_uniform" and "1e-3" in findings.replace("1e-03", "1e-3")
    assert any(t.name.startswith("≈1e-3") for t in ratio.data) and "update ÷ weight" in summary
    size = f"{update_size(s.bundle.grad_stats).ratio:.1e}"  # one figure for one quantity: the finding's and the panel's
    assert size in findings and size in summary, (findings, summary)


def test_a_big_model_on_a_tiny_text_is_diagnosed_as_memorising():
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 6))) for _ in range(40)]
    text = " ".join(rng.choice(words) for _ in range(300))  # ~1,300 characters of made-up words
    plan = plan_run(text, "lstm", {"n_hidden": 192, "n_layer": 1, "batch_size": 8, "seq_len": 16, "lr": 1e-2,
                                   "warmup_steps": 5, "min_lr_ratio": 1.0, "eval_every": 0.0, "seed": 0},
                    max_steps=120)
    bundle = plan.build()
    for _ in plan.train(bundle):
        pass
    found = diagnose_run(bundle, text)
    assert "memorising" in [f.kind for f in found]


def test_the_cli_prints_the_findings_at_the_end_of_a_run(tmp_path, capsys):
    corpus = tmp_path / "abc.txt"  # its unigram line (1.53) lies close to ln V (1.61): the rate is still named
    corpus.write_text("abc cab bca acb\n" * 200)
    code = cli.main(["train", str(corpus), "--model", "gru", "--lr", "1e-6", "--max-steps", "35", "--n-hidden", "16",
                     "--n-layer", "1", "--batch-size", "4", "--seq-len", "16", "--out", str(tmp_path / "m.safetensors"),
                     "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and "problem:" in err and "far too low" in err and "Try: Raise the learning rate" in err


# ---- the Write tab's next-character chart -----------------------------------------------------------

def test_next_char_chart_is_readable_and_the_default_prompt_is_uncertain(settings):
    s, _ = train(settings, model="lstm", max_steps=30, lr=0.01)
    fig = sampling.next_char_chart(s, "He sa", 0.0)
    now, t1 = fig.data[0], fig.data[1]
    assert all(len(label) == 1 for label in now.x)  # ␣ ⏎ ⇥: one symbol each, never overlapping
    assert all(max(a, b) >= 1e-3 for a, b in zip(now.y, t1.y, strict=True))  # no empty bars
    assert sum(now.y) == pytest.approx(1.0, abs=1e-6) and t1.opacity < 1 and t1.zorder < 0  # T=1 faintly behind
    prompt = sampling.suggest_prompt(s, "")
    assert isinstance(prompt, str) and prompt and prompt in s.train_text and not prompt.endswith("\n")
    assert not isinstance(sampling.suggest_prompt(s, "ROMEO:"), str)  # a typed prompt stays


# ---- every endpoint through a real server -------------------------------------------------------------

@pytest.mark.server
def test_every_view_is_an_endpoint_returning_its_data(server, tmp_path):
    corpus = tmp_path / "t.txt"
    corpus.write_text(TEXT)
    client = Client(server, verbose=False, download_files=False)  # no files needed: the views return data
    with pytest.raises(AppError, match="No model yet"):
        client.predict(text="He", api_name="/predictions")
    client.predict(corpus=handle_file(str(corpus)), model="transformer", max_steps=5, **SMALL, api_name="/train")
    text = 'He said "hello (there)".'
    *_, data = client.predict(text=text, api_name="/predictions")
    assert data["text"] == text and len(data["chars"]) == len(text) - 1
    _, data = client.predict(text=text, position=3, api_name="/worked_loss")
    assert math.isclose(data["loss"], data["cross_entropy"], rel_tol=1e-5)
    *_, data = client.predict(text=text, layer="block 1 mlp", unit=2, api_name="/neurons")
    assert data["layer"] == "block 1 mlp" and len(data["values"]) == len(text)
    _, data = client.predict(text=text, prop="inside quotes", span="", api_name="/find_units")
    assert data["matches"] and data["matches"][0]["property"] == "inside quotes"
    *_, data = client.predict(text=text, position=10, api_name="/saliency")
    assert len(data["weight"]) == 11
    table, *_, data = client.predict(text=text, api_name="/shapes")
    assert any(r["name"] == "logits" and r["dims"] == "(B, T, V)" for r in data["tensors"])
    assert table["headers"][:3] == ["module", "tensor", "shape (named)"]
    *_, data = client.predict(api_name="/embedding_map")
    assert len(data["x"]) == len(data["chars"])
    *_, data = client.predict(text=text, api_name="/attention")
    assert len(data["weights"]) == 2 and len(data["weights"][0]) == 2
    *_, data = client.predict(api_name="/diagnose")
    assert data["findings"][0]["kind"] == "too_early" and data["grad_stats"] == []  # 5 steps < STATS_EVERY
    with pytest.raises(AppError, match="2,000 at most"):
        client.predict(text="H" * 2001, api_name="/saliency")


# ---- the tab in a real browser ------------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
TRACES = "(id) => document.querySelector(`#${id} .js-plotly-plot`)?.data?.length || 0"


@pytest.mark.browser
def test_the_inside_tab_in_a_browser_after_a_short_training(server):
    if CHROMIUM is None:
        pytest.skip("no chromium binary (install Debian's `chromium`; never `playwright install`)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(server)
        page.wait_for_function("document.querySelector('#plan')?.innerText.includes('Train will use')")
        page.fill("#time-budget input[type=number]", "5")
        page.press("#time-budget input[type=number]", "Enter")
        page.click("#train")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")

        ARTIFACTS.mkdir(exist_ok=True)
        page.get_by_role("tab", name="Inside").click()
        page.click("#inside-look")
        page.wait_for_function("document.querySelectorAll('#pred-strip .ch').length > 50")
        assert page.input_value("#inside-text textarea")  # the excerpt it looked at, to select spans in
        page.click("#pred-strip .ch[data-pos='5']")
        page.wait_for_function("document.querySelector('#worked-loss').innerText.includes('F.cross_entropy')")
        assert "Position 5" in page.inner_text("#worked-loss")
        page.screenshot(path=str(ARTIFACTS / "inside-predictions.png"), full_page=True)

        page.get_by_role("tab", name="Neurons").click()
        page.click("#neuron-show")
        page.wait_for_function("document.querySelectorAll('#neuron-strip .ch').length > 50")
        page.screenshot(path=str(ARTIFACTS / "inside-neurons.png"), full_page=True)

        page.get_by_role("tab", name="What it looked at").click()
        page.click("#sal-show")
        page.wait_for_function("document.querySelectorAll('#sal-strip .ch').length > 5")
        page.screenshot(path=str(ARTIFACTS / "inside-saliency.png"), full_page=True)

        page.get_by_role("tab", name="Shapes").click()
        page.click("#shapes-show")
        page.wait_for_function("document.querySelector('#shapes-table')?.innerText.includes('(B, T, V)')")
        page.wait_for_function(TRACES, arg="graph-plot")
        rows = page.inner_text("#shapes-table")
        assert "logits" in rows and "targets" in rows
        page.screenshot(path=str(ARTIFACTS / "inside-shapes.png"), full_page=True)

        page.get_by_role("tab", name="Maps").click()
        page.click("#maps-show")
        page.wait_for_function(TRACES, arg="map-plot")
        page.screenshot(path=str(ARTIFACTS / "inside-maps.png"), full_page=True)

        page.get_by_role("tab", name="Why is my loss flat?").click()
        page.click("#diagnose")
        page.wait_for_function(TRACES, arg="grad-plot")
        assert page.inner_text("#findings").strip()
        page.screenshot(path=str(ARTIFACTS / "inside-diagnosis.png"), full_page=True)
        browser.close()


def test_what_it_looked_at_compares_the_tabs_other_models_on_the_same_text(tmp_path):
    """Issue 13's "compare an RNN with an LSTM on the same text": the tab's other kept models (two Train
    presses of different models here; a lesson's race keeps five) are drawn under the current one."""
    from charrnn_app import inside_text
    from charrnn_app.session import Session
    from charrnn_app.settings import Settings

    handler = training.train_handler(Settings(examples_dir=tmp_path), {})
    s = Session()
    text = "(a (b) c) [d] {e (f)}\n" * 300
    for model in ("rnn", "lstm"):
        list(handler(s, text=text, model=model, n_hidden="16", n_layer="1", max_steps=3))
    strip, summary, data = inside_text.saliency_view(s, "(a (b) c) [d]", -1)
    assert [c["run"].split(" ")[0] for c in data["compared"]] == ["nn.RNN"] and "nn.RNN" in strip
    assert len(data["compared"][0]["weight"]) == len(data["weight"])  # the same positions, side by side
