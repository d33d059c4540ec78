"""The Compare tab: runs kept per tab, the overlay chart, races, copied spans, links, the API and a browser.

Tiny corpora and 1-second budgets keep this file to about a minute on two cores.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import parse_qsl

import gradio as gr
import pytest
from gradio_client import Client

import app
from charrnn.copying import CopyIndex
from charrnn.lessons import LESSONS
from charrnn.presets import preset
from charrnn.race import plan_race
from charrnn.record import model_label
from charrnn_app import compare_view, links, racing, runner, runs_chart, train_chart, training
from charrnn_app.session import KEEP_WEIGHTS, Session
from charrnn_app.settings import Settings, list_examples

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120
SMALL = {"n_hidden": 32, "n_layer": 1, "n_embd": 8, "batch_size": 8, "seq_len": 16, "context": 4, "order": 3}
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text(TEXT)
    (examples / "brackets.txt").write_text((ROOT / "examples_corpora" / "brackets.txt").read_text()[:6000])
    return Settings(concurrency=2, max_seconds=20, max_race_seconds=30, examples_dir=examples)


def race(session, settings, **kw) -> list:
    handler = racing.race_handler(settings, list_examples(settings.examples_dir))
    return list(handler(session, **{"example": "tiny", "time_budget": 1, **kw}))


def names(fig) -> list[str]:
    return [t.name for t in fig.data]


def test_two_runs_of_different_models_stay_in_the_table_and_on_the_chart(settings):
    s = Session()
    handler = training.train_handler(settings, list_examples(settings.examples_dir))
    for model in ("mlp", "gru"):
        list(handler(s, example="tiny", model=model, time_budget=5, max_steps=6, **SMALL))
    assert [r.model_name for r in s.runs] == ["mlp", "gru"] and s.bundle.model_name == "gru"
    table = compare_view.runs_table(s)
    assert list(table["run"]) == [1, 2] and list(table["steps"]) == [6, 6]
    assert all(table["final val (nats/char)"] > 0) and all(table["sample"].str.len() > 0)
    fig = compare_view.compare_figure(s)
    assert {"MLP (fixed context) 32×1 · run 1", "nn.GRU 32×1 · run 2"} <= set(names(fig)), names(fig)
    # Training the GRU again continues its run: the same row, a resume marker on the chart.
    list(handler(s, example="tiny", model="gru", time_budget=5, max_steps=3, **SMALL))
    assert len(s.runs) == 2 and s.runs[1].steps == 9 and s.runs[1].resumed_at == [6]
    assert "nn.GRU 32×1 · run 2 · resumed" in names(compare_view.compare_figure(s, "chars"))
    frames = [f.label for f in s.runs[1].film]
    assert frames[:5] == ["1%", "5%", "20%", "50%", "100%"] and frames[-1].startswith("run 2 ·")
    # Show/hide, the units, CSV, pick, remove.
    fig, _ = compare_view.toggle_run(s, 1)
    assert not any(n.endswith("run 1") for n in names(fig))
    s.units = "bits"
    assert "final val (bits/char)" in compare_view.runs_table(s).columns
    rows = list(csv.DictReader(Path(compare_view.export_csv(s)).open(newline="")))
    assert [row["run"] for row in rows] == ["1", "2"] and rows[1]["sample"] == s.runs[1].sample
    assert Path(compare_view.run_checkpoint(s, 1)).stat().st_size > 1000
    compare_view.use_run(s, 1)
    assert s.bundle is s.runs[0].bundle
    compare_view.remove_run(s, 1)
    assert [r.run_id for r in s.runs] == [2]


def test_a_race_of_three_models_yields_three_rows_with_samples_on_one_split_and_seed(settings):
    s = Session()
    outs = race(s, settings, models=["ngram", "rnn-scratch", "gru"], seed=7)
    assert "Starting a race" in outs[0][0] and "Done" in outs[-1][0] and not s.running
    assert [r.model_name for r in s.runs] == ["ngram", "rnn-scratch", "gru"]
    assert len({r.n_train for r in s.runs}) == 1 and {r.seed for r in s.runs} == {7}
    assert all(r.sample and r.copied_share is not None and r.final_val for r in s.runs)
    assert all(r.seconds <= 1.6 for r in s.runs if r.model_name != "ngram")  # own clock: 1 s each (+ a step)
    assert len(compare_view.runs_table(s)) == 3 and s.bundle is min(s.runs, key=lambda r: r.final_val).bundle
    fig = outs[-1][1]
    assert sum(1 for n in names(fig) if "· run" in n and "train" not in n) == 3
    # A lesson's models share one batch size and sequence length: the same batches for every RNN.
    lesson = LESSONS["compare"]
    plans = plan_race(TEXT, list(lesson.entrants), time_budget=1, seed=3, shared=lesson.shared)
    recurrent = [p.train_config for p in plans if p.model_name != "ngram"]
    assert {(c.batch_size, c.seq_len, c.seed, c.clock) for c in recurrent} == {(16, 64, 3, "own")}
    assert all(p.data.ids is plans[0].data.ids for p in plans)  # the text encoded once, one split for all


def test_stop_ends_a_race_and_keeps_every_model_with_a_validation_loss(settings):
    s = Session()
    handler = racing.race_handler(settings, list_examples(settings.examples_dir))
    outs = []
    for out in handler(s, example="tiny", models=["mlp", "gru"], time_budget=10):
        outs.append(out)
        if len(outs) == 4:
            runner.stop_training(s)
    assert "Stopped" in outs[-1][0] and not s.running and all(r.stopped for r in s.runs)
    assert all(r.final_val is not None and r.film[-1].label.startswith("stopped at") for r in s.runs)
    assert all(r.seconds < 5 for r in s.runs)


def test_every_lesson_plans_on_its_text():
    for lesson in LESSONS.values():
        name = lesson.example or "weather"
        text = (ROOT / "examples_corpora" / f"{name}.txt").read_text()[:lesson.max_chars or 20_000]
        plans = plan_race(text, list(lesson.entrants), time_budget=lesson.time_budget, shared=lesson.shared,
                          max_seconds=Settings().max_race_seconds)
        assert len({p.data.n_train for p in plans}) == 1, lesson.key
        labels = [model_label(p.model_name, p.model_config.to_dict(), asdict(p.train_config)) for p in plans]
        assert len(set(labels)) == len(plans), labels  # every rung of the ladder has a name of its own


def test_why_gates_scores_the_samples_and_a_race_over_the_limit_is_refused(settings):
    s = Session()
    outs = race(s, settings, lesson="gates")
    assert [r.model_name for r in s.runs] == ["rnn", "lstm"] and all(r.score is not None for r in s.runs)
    assert "score" in outs[-1][3]
    # the lesson's conclusions are judged on this race and shown with its last status
    assert "What this race showed" in outs[-1][0]
    assert LESSONS["gates"].conclusions(s.runs) in outs[-1][0]
    # 1 s per model is shorter than the LSTM's 200-step warm-up: the race's status says so while it runs, and
    # the conclusions say why a claim it needed did not hold
    assert s.runs[1].steps < 200 and any("1 s is too short for nn.LSTM" in out[0] for out in outs[:-1])
    assert "Why:** nn.LSTM" in outs[-1][0] or all(v.held for v in LESSONS["gates"].verdicts(s.runs))
    with pytest.raises(Exception, match="race limit of 30 s"):
        race(Session(), settings, models=["ngram", "gru"], time_budget=20)
    keep = Session()  # only the last few runs keep their weights (and the model the Write tab samples from)
    race(keep, settings, models=["ngram"] * (KEEP_WEIGHTS + 1))  # equal losses: the best is run 1
    assert keep.bundle is keep.runs[0].bundle and all(r.bundle is not None for r in keep.runs)
    compare_view.use_run(keep, KEEP_WEIGHTS + 1)
    keep.trim_weights()
    assert [r.bundle is None for r in keep.runs] == [True] + [False] * KEEP_WEIGHTS
    model = keep.bundle  # an expected state: a notice in the status (not an error), the tab's model unchanged
    status, _ = compare_view.use_run(keep, 1)
    assert "were dropped to save memory" in status and keep.bundle is model
    assert compare_view.run_checkpoint(keep, 1) == gr.skip()  # its download: a notice (gr.Info), no file, no error


def test_copied_spans_find_a_planted_span_and_nothing_in_random_text():
    rng = random.Random(0)
    train_text = "".join(rng.choice("abcdefghij <>&") for _ in range(5000))
    index = CopyIndex(train_text)
    noise = "".join(rng.choice("klmnopqrst") for _ in range(300))
    assert index.spans(noise) == []
    planted = train_text[1000:1030]
    sample = noise[:100] + planted + noise[100:]
    spans = index.spans(sample)
    assert spans and spans[0][0] <= 100 and spans[0][1] >= 130 and sum(e - s for s, e in spans) <= 40
    marked = compare_view.highlight(sample, spans)
    assert "<mark>" in marked and "<" not in marked.replace("<mark>", "").replace("</mark>", "")


def test_a_link_round_trips_the_state():
    query = links.make_link(example="weather", lesson="gates", models=["gru", "lstm"], budget=12, seed=5)
    state = links.parse(dict(parse_qsl(query[1:])), examples=("weather",), max_seconds=60)
    assert state == {"example": "weather", "lesson": "gates", "models": ["gru", "lstm"], "budget": 12.0, "seed": 5}
    assert links.parse({"lesson": "nope", "models": "gru,<x>", "seed": "-1"}) == {"models": ["gru"]}
    assert compare_view.share_link("memorise", ["lstm"], 30, 0, "tiny") == "?budget=30&lesson=memorise&seed=0"


def test_race_and_runs_through_a_real_server(settings):
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    try:
        client = Client(url, verbose=False)
        job = client.submit(example="tiny", models=["ngram", "mlp"], time_budget=1, seed=2, api_name="/race")
        outs = list(job)
        assert "Done" in job.outputs()[-1][0] and len(outs) >= 2
        table = client.predict(api_name="/runs")
        assert [row[1].split(" ")[0] for row in table["data"]] == ["n-gram", "MLP"]
    finally:
        demo.close()


def test_train_and_race_runs_read_alike_in_the_runs_table_through_a_real_server(settings):
    """A tester's table on one text: the Train run's corpus "the example `weather`" (Markdown backticks in a
    cell) beside the race's "example weather", score 0 for the Train run and blank for the lesson's runs, and
    copied as 0.554 where the film strip says 55 %. One name, a score wherever the example has a checker, and
    shares as percents."""
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    try:
        client = Client(url, verbose=False)
        client.predict(example="brackets", model="mlp", time_budget=5, max_steps=5, **SMALL, api_name="/train")
        job = client.submit(example="brackets", models=[], lesson="compare", time_budget=1, seed=0,
                            api_name="/race")
        list(job)
        assert "Done" in job.outputs()[-1][0], job.outputs()[-1][0]
        # the tiny example repeats one line: its held-out text is nearly all "copied", 100 % (not 1.0)
        client.predict(example="tiny", model="mlp", time_budget=5, max_steps=5, **SMALL, api_name="/train")
        table = client.predict(api_name="/runs")
        rows = [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]
        *rows, tiny = rows
        assert len(rows) == 1 + len(LESSONS["compare"].entrants)
        assert {row["corpus"] for row in rows} == {"example brackets"}, [row["corpus"] for row in rows]
        assert all(isinstance(row["score"], (int, float)) and 0 <= row["score"] <= 1 for row in rows), \
            [row["score"] for row in rows]
        assert tiny["corpus"] == "example tiny" and tiny["score"] is None  # no checker for this text: blank
        assert "copied" not in table["headers"] and "copied (%)" in table["headers"]
        shares = [row[c] for row in [*rows, tiny] for c in ("copied (%)", "held-out copied (%)")]
        assert all(v is None or (v == int(v) and 0 <= v <= 100) for v in shares), shares
        assert tiny["held-out copied (%)"] > 50, tiny
    finally:
        demo.close()


@pytest.mark.browser
def test_a_lesson_in_the_browser_draws_every_curve_and_fills_the_table(settings, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no chromium binary (install Debian's `chromium`; never `playwright install`)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    app.warm_up()
    settings = replace(settings, max_race_seconds=300)  # room for a lesson's own budgets (stopped early below)
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    traces = """() => { const p = document.querySelector('#compare-plot .js-plotly-plot');
                       return p && p.data ? p.data.filter(t => (t.name || '').includes('· run')).length : 0; }"""
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url + "?lesson=compare&budget=2&seed=1")  # a teacher's link: the lesson, short budgets
            page.wait_for_function("document.querySelector('#lesson-text')?.innerText.includes('classic')")
            assert not page.is_visible("#race-settings")  # a lesson link hides the race's own settings
            page.click("#race")
            page.wait_for_function(f"({traces})() >= 10", polling=100)  # 5 runs: train + validation each
            page.wait_for_function("document.querySelector('#race-status').innerText.includes('Done')")
            table = page.inner_text("#runs-table")
            for label in ("n-gram", "RNN (from scratch)", "nn.RNN", "nn.GRU", "nn.LSTM"):  # a row each
                assert label in table, (label, table[:500])
            assert page.locator("#film-strip .film-frame").count() >= 10  # 5 runs, a few frames each
            # A lesson's own button races it as designed (why gates: RNN vs LSTM, 30 s each); Stop ends it early.
            page.click("#lesson-gates")
            page.wait_for_function("""() => { const p = document.querySelector('#compare-plot .js-plotly-plot');
                return p.data.filter(t => / · run [67] · train$/.test(t.name || '') && t.x.length).length == 2; }""")
            page.click("#race-stop")
            page.wait_for_function("document.querySelector('#race-status').innerText.includes('Stopped')")
            assert "score" in page.inner_text("#film-strip")  # the brackets checker scored both samples
            page.click("#copy-link")  # the link to share: the lesson, its budget and the seed
            page.wait_for_function("document.querySelector('#share-link textarea').value.includes('lesson=gates')")
            shared = page.input_value("#share-link textarea")
            assert shared.startswith(url.rstrip("/")) and "seed=1" in shared and "budget=" in shared
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "test-artifacts" / "compare-lesson.png"), full_page=True)
            (ROOT / "test-artifacts" / "compare-traces.json").write_text(json.dumps({"traces": page.evaluate(traces)}))
            browser.close()
    finally:
        demo.close()


def test_a_diverged_run_is_shown_as_failed_everywhere(settings):
    """Status, runs table, chart legend, film strip and a race's last status: a run whose loss exploded is
    marked diverged, and never named the best run."""
    from charrnn.race import RaceUpdate

    s = Session()
    handler = training.train_handler(settings, list_examples(settings.examples_dir))
    list(handler(s, example="tiny", model="mlp", time_budget=5, max_steps=6, **SMALL))  # a healthy run first
    outs = list(handler(s, example="tiny", model="gru", time_budget=5, max_steps=30, lr="10", grad_clip="none",
                        **SMALL))
    good, bad = s.runs
    assert bad.diverged and not good.diverged
    assert "diverged" in outs[-1][0]  # the Train tab's status
    assert "then press Train" in outs[-1][0] and "Train to continue" not in outs[-1][0]  # not the same run again
    # the typed rate (not the warm-up's) and a rate that trains: the preset's for this model
    assert "(learning rate 10, still warming up" in outs[-1][0] and \
        f"Try a learning rate of {preset('gru', len(TEXT), 5, 30)[1].lr:.2g}" in outs[-1][0]
    assert "DIVERGED" in train_chart.model_figure(s).layout.title.text
    assert list(compare_view.runs_table(s)["ended"]) == ["done", "diverged"]
    assert f"{bad.name} · diverged" in names(compare_view.compare_figure(s))
    assert f"{good.name}" in names(compare_view.compare_figure(s))
    assert "diverged: the loss exploded" in compare_view.film_html(s)
    # its frames: none after the weights went back (a tester's "5% · step 0", "100% · step 0"), and the last one
    # says which weights were kept
    restored = bad.film[-1]
    assert restored.label in ("after the divergence: the initial weights, untrained",
                              f"after the divergence: the weights of step {restored.step:,}")
    assert all(f.step > 0 for f in bad.film[:-1]) and all(f.step <= bad.steps for f in bad.film)
    bad.final_val = 0.01  # even with the lowest number, a failure is not the race's best
    status = racing.race_status(RaceUpdate([good, bad], None, done=True, seconds=3.0), s)
    assert "1 diverged" in status and f"Lowest validation loss: **{good.name}**" in status
    assert "Done" not in status and "Finished, but not every run trained" in status  # never shown as done
    racing_now = racing.race_status(RaceUpdate([good, bad], 0, seconds=2.0), s)
    assert "1 of 2 done" in racing_now and "1 diverged" in racing_now  # a failure is not counted as done
    assert racing.race_status(RaceUpdate([good], None, done=True, seconds=3.0), s).startswith("**Done.**")


def test_a_race_whose_finals_are_close_ends_on_a_y_axis_zoomed_to_them(settings):
    """Issue 17: rungs of the ladder ended within 0.229-0.263 nats/char on an axis from 0 to ~4: not visibly
    apart. Once every run has finished, a chart whose finals need under a quarter of the whole axis is zoomed
    to them (a window of 3× their spread, at least 0.1 nats, not the start), says so on its axis and title,
    and writes each run's final value at the end of its curve; while a run trains, the whole run is shown."""
    s = Session()
    outs = race(s, settings, models=["rnn", "rnn"], seed=0)  # one model twice, one seed: the closest finals
    finals = [r.final_val for r in s.runs]
    during = [out[1] for out in outs[:-1] if out[1] is not gr.skip() and hasattr(out[1], "layout")]
    assert during and during[0].layout.yaxis.range[0] == 0  # the first turns, runs still training: from 0
    fig = outs[-1][1]
    low, high = fig.layout.yaxis.range
    assert low <= min(finals) and max(finals) <= high  # the finals are on the chart …
    assert high - low == pytest.approx(max(3 * (max(finals) - min(finals)), runs_chart.ZOOM_MIN_WINDOW))
    assert all(high < r.curve.train_loss[0] for r in s.runs)  # … and the start is not: it is the finish, zoomed
    assert "not from 0" in fig.layout.yaxis.title.text and "zoomed to the final losses" in fig.layout.title.text
    assert sorted(a.text for a in fig.layout.annotations) == sorted(f"{v:.3f}" for v in finals)
    # a run far above the rest: the window stays the others', and its value is written at the top edge, "↑"
    far = replace(s.runs[0], run_id=99, final_val=max(finals) + 1.5)
    zoomed = runs_chart.runs_figure([*s.runs, far], uniform=s.uniform)
    assert zoomed.layout.yaxis.range[1] < far.final_val and f"↑ {far.final_val:.3f}" in \
        [a.text for a in zoomed.layout.annotations]
    # finals far apart for the whole axis: the whole run, from 0
    apart = replace(s.runs[1], final_val=min(finals) + 1.5)
    assert runs_chart.runs_figure([s.runs[0], apart], uniform=s.uniform).layout.yaxis.range[0] == 0


def test_a_diverged_train_run_shows_its_real_steps_rate_and_curve_on_the_train_tab(settings):
    """A tester's finding: learning rate 10 on Train said "step 0 · 0 chars/s" beside "exploded at step 12", and the
    Train chart was empty while Compare drew the run climbing. The weights go back (to the start here), but the
    status, the runs table and both charts say how far the run got, at what rate, and what its loss did."""
    import re

    s = Session()
    handler = training.train_handler(settings, list_examples(settings.examples_dir))
    outs = list(handler(s, example="tiny", model="gru", time_budget=5, max_steps=30, lr="10", grad_clip="none",
                        **SMALL))
    status = outs[-1][0]
    (run,) = s.runs
    assert run.diverged
    failed = int(re.search(r"at step (\d+)", status).group(1))
    assert failed >= 2 and run.steps == failed - 1 == run.curve.step[-1]  # the steps it made, not the weights' step
    assert f"step {failed - 1:,} ·" in status and "step 0 ·" not in status, status
    rate = float(re.search(r"([\d,]+) chars/s", status).group(1).replace(",", ""))
    assert rate > 0 and list(compare_view.runs_table(s)["steps"]) == [failed - 1]
    assert run.chars_seen == (failed - 1) * SMALL["batch_size"] * SMALL["seq_len"]
    fig = outs[-1][1]  # the Train chart draws what happened up to the divergence, marked, like Compare's
    train = next(t for t in fig.data if t.name.startswith("train"))
    assert list(train.x) == run.curve.step and train.name.endswith("· diverged")
    val = [t for t in fig.data if t.name.startswith("validation")]  # never drawn back to the restored step
    assert all(list(t.x) == sorted(t.x) for t in val) and run.curve.val_step == sorted(run.curve.val_step)
    assert "DIVERGED" in fig.layout.title.text
    assert list(train_chart.model_figure(s).data[0].x) == run.curve.step  # also when redrawn (e.g. in bits)
    # what Train will use next: not "the trained model" (a tester's finding) where nothing was learned
    assert s.bundle.step == 0  # nothing was learned: the starting weights kept
    _, plan = training.plan_summary("gru", {"vocab_size": len(s.bundle.vocab)}, 5, None, False, s)
    assert "continuing its untrained starting weights" in plan and "trained model" not in plan, plan
