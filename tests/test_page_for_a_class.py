"""A page a class can read (issue 17, item 5, and the views that say how much to trust them, item 4): the
handlers first (plain calls), then the real page in headless Chromium at projector, phone and desktop size —
the charts' type and height measured on a projector, the Compare chart on the first screen, a queued race's
place in line, the status in view after Train on a phone, a link that carries the text, a typed setting's
reset, the Inside views drawn on opening with a found unit one click away, a diverged run marked diverged on
Train and Compare — and the README's screenshot.

The browser tests print what they measured and write it to test-artifacts/page-figures.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import chart_runs
import gradio as gr
import pytest
import torch

import app
from charrnn.inspect import AttentionMaps, BigramTable, EmbeddingMap
from charrnn.lessons import LESSONS
from charrnn.presets import preset
from charrnn_app import compare_view, inside_figures, inside_model, inside_tab, links, plots, racing, runs_chart, typed
from charrnn_app.page import present_charts
from charrnn_app.session import Session
from charrnn_app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOT = ROOT / "docs" / "page.png"  # the README's first picture; refreshed with CHARRNN_SCREENSHOT=1
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120
FIGURES: dict = {}  # what the browser tests measured


# ---- handlers --------------------------------------------------------------------------------------------

def test_a_typed_setting_is_listed_and_one_click_resets_it():
    names = [s.name for s in typed._specs()]
    values = [None] * len(names)
    values[names.index("lr")], values[names.index("n_hidden")] = "0.02", " 64 "
    values[names.index("order")] = "5"  # the n-gram's: an LSTM does not use it, so it is not listed
    update = typed.listed("lstm", 100, *values)
    assert update["visible"] and update["value"] == ["n_hidden", "lr", "max_steps"]
    assert ("learning rate 0.02", "lr") in update["choices"] and ("step limit 100", "max_steps") in update["choices"]
    resets = typed.reset(["n_hidden"], "lstm", 100, *values)  # lr and the step limit unticked
    assert resets[names.index("lr")]["value"] is None and resets[-1] == 0
    assert resets[names.index("n_hidden")] is not None and "value" not in resets[names.index("n_hidden")]
    assert typed.listed("lstm", 0, *[None] * len(names))["visible"] is False


def test_a_lesson_races_the_typed_budget_and_says_which(settings):
    lesson = LESSONS["compare"]
    seconds, source = racing.lesson_budget(lesson, settings)
    assert seconds == min(lesson.time_budget, settings.max_seconds) and source == "the lesson's own"
    assert racing.lesson_budget(lesson, settings, 10) == (10.0, "the budget on the page")
    cap = min(settings.max_seconds, settings.max_race_seconds // len(lesson.entrants))
    seconds, source = racing.lesson_budget(lesson, settings, 10_000)
    assert seconds == cap and "cut to this server's limit" in source
    _, _, budget, words = racing.choose_lesson("compare", settings, 10)
    assert budget == 10 and "10 s per model (the budget on the page" in words
    assert f"{len(lesson.entrants)} models" in words
    assert racing.queued_budget(None, 10, "compare", settings) == 10 * len(lesson.entrants)
    assert racing.queued_budget(["gru", "lstm"], 7, "", settings) == 14


def test_copy_a_link_carries_a_short_text_and_says_when_it_cannot(tmp_path):
    examples = {"tiny": tmp_path / "tiny.txt"}
    examples["tiny"].write_text(TEXT)
    short = "my own little text.\n" * 20
    query, note = compare_view.share(None, ["gru"], 5, 0, "tiny", None, short, examples=examples, max_bytes=10**6)
    assert parse_qs(query[1:])["text"] == [short] and "carries your text" in note
    assert links.parse({k: v[0] for k, v in parse_qs(query[1:]).items()})["text"] == short  # a link round trip
    upload = tmp_path / "notes.txt"
    upload.write_text("a longer text of mine. " * 400)  # 9,200 characters: too long for a link
    query, note = compare_view.share(None, ["gru"], 5, 0, "tiny", str(upload), None, examples=examples,
                                     max_bytes=10**6)
    assert "text=" not in query and "example=tiny" in query
    assert "carries the example `tiny` only" in note and "9,200 characters" in note
    query, note = compare_view.share("memorise", None, 5, 0, "tiny", str(upload), None, examples=examples,
                                     max_bytes=10**6)  # a lesson with its own text: nothing to carry
    assert "text=" not in query and note == ""
    assert links.parse({"text": "x" * (links.MAX_TEXT + 1)}) == {}


def test_presentation_mode_draws_the_charts_in_large_type():
    fig = runs_chart.runs_figure([], present=True)
    assert fig.layout.font.size >= 20 and fig.layout.legend.font.size >= 20
    assert fig.layout.xaxis.tickfont.size >= 20 and fig.layout.yaxis.tickfont.size >= 20
    assert plots.loss_figure(None).layout.font.size is None  # the page's ordinary size otherwise
    s = Session()

    train_chart, compare_chart = present_charts(True, s, {"uniform": 3.0, "unigram": 2.5}, "step")
    assert s.present and train_chart.layout.font.size >= 20 and compare_chart.layout.font.size >= 20


def finished_run(run_id: int, final: float, steps: int = 100):
    """A finished run's record whose validation loss falls from 3.0 to `final` over `steps` steps."""
    from charrnn.bundle import History
    from charrnn.record import RunRecord

    h = History()
    for i in range(0, steps + 1, 10):
        loss = 3.0 + (final - 3.0) * i / steps
        h.add(i, i * 64, i / 10, loss)
        h.add_val(i, i * 64, i / 10, loss)
    return RunRecord(run_id, "gru", "nn.GRU 64×1", {}, 1, "example tiny", 1000, 900, 0, curve=h, steps=steps,
                     final_val=final, stop_reason="time_budget")


def test_the_final_labels_of_close_runs_stand_apart_and_the_zoomed_title_fits_the_chart():
    """A tester saw the final-loss labels of two runs ending 0.01 apart written over each other on the zoomed
    Compare chart, and its title cut off at 1280 px. Labels of curves that end together stand at least a line of
    text apart (on a plot 180 px tall), in presentation mode too; each still says its own
    value; the zoomed chart's title fits the chart beside the lesson at 1280 px (~700 px) and, in presentation
    mode, the page's width."""
    runs = [finished_run(1, 1.500), finished_run(2, 1.510), finished_run(3, 1.515, 95)]
    for present, font in ((False, 13), (True, plots.PRESENT_FONT)):
        fig = runs_chart.runs_figure(runs, uniform=3.2, present=present)
        low, high = fig.layout.yaxis.range
        assert "zoomed to the final losses" in fig.layout.title.text  # the finals are close: zoomed
        labels = sorted((a.y, a.text) for a in fig.layout.annotations)
        assert [t for _, t in labels] == ["1.500", "1.510", "1.515"]
        line_px = 1.2 * font  # a line of text
        ys = [y for y, _ in labels]  # on a plot 180 px tall: the desktop's Compare chart under a legend of 7 runs
        gaps_px = [(b - a) / (high - low) * 180 for a, b in zip(ys, ys[1:], strict=False)]
        assert min(gaps_px) >= line_px, gaps_px
        assert all(low <= y <= high for y, _ in labels)
        title = fig.layout.title
        width = len(title.text) * 0.55 * title.font.size  # a proportional font's average glyph: ~0.55 em
        assert width <= (1216 if present else 700) - 40, (title.text, width)


def test_every_finished_run_keeps_its_final_label_inside_the_axis():
    """A tester's phone showed a race whose LSTM had no final label: three runs ended near the uniform guess at
    nearby steps, their labels were stacked upwards a line apart, and the third was pushed above the y axis's
    top, where Plotly draws no annotation. Every finished run has its label, inside the axis, a line apart from
    its neighbours in a column, a label's text (a line tall) under the top."""
    runs = chart_runs.phone_race()[1:]  # the race on one text
    fig = runs_chart.runs_figure(runs)
    low, high = fig.layout.yaxis.range
    labels = {a.text: a.y for a in fig.layout.annotations}
    assert sorted(labels) == sorted(f"{r.final_val:.3f}" for r in runs)  # one each, the LSTM's (4.196) too
    line = 1.4 * 13 / runs_chart.LABEL_PLOT_PX * (high - low)
    assert all(low <= y and y + line <= high + 1e-9 for y in labels.values()), (labels, high)
    column = sorted(labels[v] for v in ("4.071", "4.186", "4.196"))  # curves ending at steps 8, 12 and 18
    assert all(b - a >= line - 1e-9 for a, b in zip(column, column[1:], strict=False)), column


def test_the_legend_has_its_own_rows_under_the_axis_and_the_title_fits_a_phone():
    """On a phone the legend placed at y = -0.25 of the plot was drawn over the x axis's title once it wrapped to
    six rows, and the title ran under the tool bar and off the chart. The legend stands at the chart box's bottom
    edge (Plotly gives it a margin as tall as its rows, the axis title above it); each line of the title fits a
    phone's chart (~330 px at 15 px: TITLE_CHARS)."""
    for runs in ([], chart_runs.phone_race()[1:], chart_runs.phone_race()):
        fig = runs_chart.runs_figure(runs)
        legend = fig.layout.legend
        assert (legend.yref, legend.y, legend.yanchor, legend.orientation) == ("container", 0, "bottom", "h")
        title_lines = fig.layout.title.text.split("<br>")
        assert len(title_lines[0]) <= runs_chart.TITLE_CHARS, title_lines[0]  # 15 px
        assert all(len(re.sub(r"<[^>]+>", "", t)) <= runs_chart.NOTE_CHARS for t in title_lines[1:])  # 12 px
        assert fig.layout.margin.t >= 40 + 15 * (len(title_lines) - 1)  # room for every line of it


def test_the_chart_draws_the_runs_of_one_text_and_says_how_to_see_the_others():
    """A race on "brackets" (a uniform guess of 1.95) and one on "weather" (4.19) were drawn on one y axis with
    weather's levels only: losses on different texts do not compare. The chart draws the latest run's text, its
    own levels, and says how many runs on other texts it leaves out and how to draw them; the table says which
    are on another text; "Show / hide" on one of them draws its text instead, until a newer run starts."""
    s = Session()
    s.runs = chart_runs.phone_race()  # run 1 on brackets, runs 2-7 on weather
    s.next_run, s.uniform, s.unigram = 8, 0.1, 0.1  # the session's levels: not the drawn text's, never drawn
    fig = compare_view.compare_figure(s)
    assert runs_drawn(fig) == [f"{r.name}" for r in s.runs[1:]]
    assert "uniform guess ln(V) = 4.19" in names(fig) and "letter frequencies (unigram) = 3.36" in names(fig)
    words = fig.layout.title.text.replace("<br>", " ")
    assert "on example weather" in words and "1 run on another text not drawn" in words and "Show / hide" in words
    assert list(compare_view.runs_table(s)["shown"]) == ["other text"] + ["shown"] * 6
    fig, table = compare_view.toggle_run(s, 1)  # a run on the other text: its text is drawn
    assert runs_drawn(fig) == ["nn.RNN 192×2 · run 1"]
    assert "uniform guess ln(V) = 1.95" in names(fig) and "6 runs on other texts" in fig.layout.title.text
    assert list(table["shown"]) == ["shown"] + ["other text"] * 6
    s.runs.append(chart_runs.finished(8, "nn.GRU 64×1", 2.0, 30))  # a newer run (on weather): its text again
    s.next_run = 9
    assert "nn.GRU 64×1 · run 8" in names(compare_view.compare_figure(s))
    # runs that do not know their text's levels (older records) are drawn with the levels given
    old = [replace(r, uniform=None, unigram=None) for r in chart_runs.phone_race()[1:]]
    assert "uniform guess ln(V) = 3.00" in names(runs_chart.runs_figure(old, uniform=3.0))


def test_seven_runs_fit_a_projectors_legend():
    """Presentation mode, the ladder's seven runs: the legend beside the plot took half the chart and scrolled,
    cutting "uniform guess = 4.20". Its names drop their words in brackets ("RNN 128×1 · stateless · run 2"), and
    no gap stands between a run's entry and the next (Plotly's 10 px per group): nine entries of 20 px fit a
    projector's plot (~300 px), every one on one line."""
    fig = runs_chart.runs_figure(chart_runs.ladder(), present=True)
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert len(legend) == 9 and "uniform guess = 4.19" in legend
    assert "RNN 128×1 · relu · identity init · stateless · run 7" in legend
    assert all("(" not in n and "<br>" not in n for n in legend)
    assert max(len(n) for n in legend) <= 55  # the legend ~40 % of the chart at 1280 px, not half
    assert fig.layout.legend.tracegroupgap == 0 and fig.layout.legend.font.size >= 20
    assert 9 * 1.4 * plots.PRESENT_FONT <= 410 - fig.layout.margin.t - fig.layout.margin.b  # 57vh at 720 px


def names(fig) -> list[str]:
    return [t.name.replace("<br>", " ") for t in fig.data]  # a long legend name is written on two lines


def runs_drawn(fig) -> list[str]:
    """The runs whose validation curve the chart draws (their names: "nn.GRU 64×1 · run 8")."""
    return [n for n in names(fig) if re.search(r"· run \d+$", n)]


def test_the_ladder_on_a_phone_reads_its_legend_labels_and_seconds():
    """A tester's phone, the ladder's seven runs (m_11, m_12): legend names cut at the chart's right edge (runs 2, 3
    and 7 alike), final labels printed over each other, the "seconds" axis running to the lesson's 10 s for runs of
    3 s; on a desktop (d_64, d_30) the zoomed axis's title ran off the plot's top, labels lay over the curves, one
    label above the zoomed axis had its arrow and one not, and yellow labels were faint on white. Each legend line
    fits a phone (LEGEND_CHARS), every name its own; no two labels' boxes overlap on a phone's plot (260×180 px),
    each right of its curve's end; the x axis ends just past the runs; every final above a zoomed axis has "↑";
    label text reads on white (contrast ≥ 4.5); the zoomed axis's title is short."""
    def contrast(color: str) -> float:
        lin = [(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
               for c in (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))]
        return 1.05 / (0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] + 0.05)

    d64 = [finished_run(1, 0.280), finished_run(2, 0.269), finished_run(3, 0.253, 120), finished_run(4, 1.723),
           finished_run(5, 1.208)]  # the tester's own race: three close finals, two far above them
    zoomed = 0
    for runs, x in ((chart_runs.ladder(), "step"), (chart_runs.ladder(), "seconds"),
                    (chart_runs.phone_race()[1:], "chars"), (d64, "chars")):
        fig = runs_chart.runs_figure(runs, x=x, uniform=3.2)
        legend = [t.name for t in fig.data if t.showlegend is not False]
        assert all(len(line) <= runs_chart.LEGEND_CHARS for n in legend for line in n.split("<br>")), legend
        assert len(set(legend)) == len(legend)
        (x_low, x_high), (low, high) = fig.layout.xaxis.range, fig.layout.yaxis.range
        ends = [max(t.x) for t in fig.data if t.x is not None and "run" in t.name and len(t.x) > 2]
        assert max(ends) < x_high <= 1.2 * max(ends), (x, x_high, max(ends))  # 3 s of runs: not a 10 s axis
        boxes = []
        for a in fig.layout.annotations:
            assert a.xanchor == "left" and a.yanchor == "bottom" and low <= a.y <= high
            assert contrast(a.font.color) >= 4.5 and a.bgcolor, a.font.color
            w = (len(a.text) + 1) * 0.6 * 13 / 260 * (x_high - x_low)
            boxes.append((a.x, a.x + w, a.y, a.y + 1.4 * 13 / 180 * (high - low), a.text))
        for i, b in enumerate(boxes):
            for c in boxes[i + 1:]:
                assert b[1] <= c[0] or c[1] <= b[0] or b[3] <= c[2] + 1e-9 or c[3] <= b[2] + 1e-9, (b, c)
        if "not from 0" in fig.layout.yaxis.title.text:
            assert len(fig.layout.yaxis.title.text) <= 25  # ~150 px at 14 px: a desktop's plot is ~190 px tall
            for r in runs:
                text = next(a.text for a in fig.layout.annotations if a.text.endswith(f"{r.final_val:.3f}"))
                assert text.startswith("↑") == (r.final_val > high), text
            zoomed += 1
    assert zoomed == 1  # the tester's race is drawn zoomed, two labels above its axis


def test_the_embedding_map_writes_only_labels_that_stand_clear():
    """A tester's map of ~80 characters piled its labels up in the middle (d_07_inside_4_Maps.png). Labels are
    written only where they stand clear of each other; every character keeps its marker and its name on hover."""
    import random

    rng = random.Random(0)
    chars = [chr(c) for c in range(33, 113)]
    xs = [rng.gauss(0, 0.3) if i % 4 else rng.uniform(-3, 4) for i in range(80)]
    ys = [rng.gauss(0, 0.8) if i % 4 else rng.uniform(-4, 6) for i in range(80)]
    fig = inside_figures.embedding_figure(EmbeddingMap(chars, chars, xs, ys, [0.08, 0.07], "x (V, E)"), False)
    trace = fig.data[0]
    assert list(trace.customdata) == chars and len(trace.x) == 80 and "customdata" in trace.hovertemplate
    written = [(x, y) for x, y, t in zip(trace.x, trace.y, trace.text, strict=True) if t]
    sx, sy = max(xs) - min(xs), max(ys) - min(ys)
    for i, (x, y) in enumerate(written):
        for u, v in written[i + 1:]:
            assert abs(x - u) / sx >= 0.035 or abs(y - v) / sy >= 0.07
    assert 10 <= len(written) < 80  # the outliers and some of the middle, not a pile


def test_the_embedding_map_says_when_it_is_too_little_to_read():
    chars = list("abcd")
    flat = EmbeddingMap(chars, chars, [0, 1, 0, 1], [0, 0, 1, 1], [0.09, 0.08], "input.embedding.weight (V, E)")
    words = inside_model.embedding_words(flat)
    assert not inside_model.map_readable(flat) and "Too little to read" in words and "17.0%" in words
    assert "closest pairs" not in words
    assert "too little to read" in inside_figures.embedding_figure(flat, False).layout.title.text
    # A tester read "8%" and "7%" on the axes beside "16%" in the title (8.4 + 7.4 = 15.8): the shares are written
    # to one decimal, and the total is the sum of the two as written, on the axes, in the title and in the words.
    tester = EmbeddingMap(chars, chars, [0, 1, 0, 1], [0, 0, 1, 1], [0.0836, 0.0744], "input.embedding.weight (V, E)")
    fig, words = inside_figures.embedding_figure(tester, False), inside_model.embedding_words(tester)
    assert "8.4%" in fig.layout.xaxis.title.text and "7.4%" in fig.layout.yaxis.title.text
    assert "15.8%" in fig.layout.title.text and "8.4% and 7.4%" in words and "only 15.8%" in words
    edge = EmbeddingMap(chars, chars, [0, 1, 0, 1], [0, 0, 1, 1], [0.1204, 0.07976], "input.embedding.weight (V, E)")
    assert inside_model.map_readable(edge)  # 12.0% + 8.0% = 20.0% as written: never "only 20.0% … at least 20%"
    clear = EmbeddingMap(chars, chars, [0, 0.1, 5, 5.3], [0, 0, 1, 1], [0.6, 0.2], "input.embedding.weight (V, E)")
    assert inside_model.map_readable(clear) and "closest pairs here: `a` `b`" in inside_model.embedding_words(clear)


def test_maps_label_every_row_and_both_axes():
    labels = [chr(c) for c in range(ord("a"), ord("a") + 40)]
    table = BigramTable(labels, labels, [[1] * 40 for _ in labels], 1600)
    fig = inside_figures.bigram_figure(table)
    assert fig.layout.yaxis.dtick == 1 and fig.layout.xaxis.dtick == 1  # no label skipped
    assert fig.layout.height >= 12 * 40  # tall enough for one row a label
    maps = AttentionMaps("abca", False, list("abca"), [[[[1, 0, 0, 0], [.5, .5, 0, 0], [.3, .3, .4, 0],
                                                          [.25, .25, .25, .25]]]])
    fig = inside_figures.attention_figure(maps)
    assert list(fig.layout.xaxis.ticktext) == list("abca") and list(fig.layout.yaxis.ticktext) == list("abca")


def test_an_inside_view_draws_once_per_model_state_and_quietly_without_a_model():
    calls = []

    def view(session, text):
        calls.append(text)
        return "drawn", text

    draw, drawn, s = inside_tab.on_open(view, 2), {}, Session()
    assert draw(s, drawn, "x") == (gr.skip(),) * 2 and calls == []  # no model: nothing, no error
    assert "No model yet" in inside_tab.notice(s)

    class Bundle:
        step, model_name = 10, "gru"

    s.bundle = Bundle()
    assert draw(s, drawn, "x") == ("drawn", "x") and draw(s, drawn, "x") == (gr.skip(),) * 2
    s.bundle.step = 20  # trained further: drawn again
    assert draw(s, drawn, "y") == ("drawn", "y") and calls == ["x", "y"]


def test_the_write_tabs_preview_says_how_to_write_it_again_and_its_words_are_true():
    """The preview under the Write tab's box is 200 characters while the length box says 500: its note said "same
    prompt, length, temperature and top-k", which writes 500. It says 200 now (and an empty prompt where the
    box's could not be read), and doing what it says writes the same text again."""
    from charrnn import Bundle, TrainConfig, Vocab, build_model, make_config, split, train
    from charrnn_app import sampling

    vocab = Vocab.from_text(TEXT)
    bundle = Bundle(build_model("gru", len(vocab), make_config("gru", n_hidden=16, n_layer=1)), vocab, "gru")
    for _ in train(bundle, *split(vocab.encode(TEXT), seq_len=8), TrainConfig(max_steps=5, time_budget=None,
                                                                                batch_size=4, seq_len=8)):
        pass
    s = Session()
    s.bundle = bundle
    for prompt, empty in (("the ", False), ("the ~", True)):  # "~": a character this model never saw
        s.written_by = None
        box, note, _ = sampling.preview(s, None, prompt, 0.8, 0, -1)
        seed = s.sample_seed
        assert f"put {seed} in the seed box" in note and f"{sampling.PREVIEW_LENGTH} in the length" in note, note
        assert "same prompt, length" not in note and ("nothing in the prompt" in note) == empty, note
        again = list(sampling.sample_text(s, "" if empty else prompt, sampling.PREVIEW_LENGTH, 0.8, 0, seed))[-1][0]
        assert again == box["value"]
    list(sampling.sample_text(s, "the ", 60, 0.8, 0, 3))
    assert "same prompt, length, temperature and top-k" in sampling.seed_note(s)  # Sample's text: the boxes'


def test_no_tab_shows_the_same_accordion_twice(settings):
    """A tester saw "The numbers (JSON, also what the API returns)" twice in Inside → Predictions (the coloured
    text's, then the worked loss's): within one tab (not counting the tabs inside it) no two accordions read the
    same — one holds both of a view's numbers, or each says whose they are."""

    def accordions(block):
        for child in getattr(block, "children", []):
            if isinstance(child, gr.Tab):
                continue  # a tab inside this one: counted on its own
            if isinstance(child, gr.Accordion):
                yield child.label
            yield from accordions(child)

    def tabs(block):
        for child in getattr(block, "children", []):
            if isinstance(child, gr.Tab):
                yield child
            yield from tabs(child)

    demo = app.build_demo(settings)
    seen = {tab.label: list(accordions(tab)) for tab in tabs(demo)}
    assert "The numbers (JSON, also what the API returns)" in seen["Predictions"]
    for label, titles in seen.items():
        assert len(titles) == len(set(titles)), (label, titles)


# ---- the page in a browser ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text(TEXT)
    shutil.copy(ROOT / "examples_corpora" / "weather.txt", examples / "weather.txt")
    return Settings(concurrency=1, max_seconds=30, max_race_seconds=300, examples_dir=examples)


@pytest.fixture(scope="module")
def url(settings, tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium binary (install Debian's `chromium`; never `playwright install`)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    temp = pytest.MonkeyPatch()
    temp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))
    app.warm_up()
    demo = app.build_demo(settings)
    _, address, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                                **app.launch_options(settings))
    yield address
    demo.close()
    temp.undo()
    torch.set_num_threads(threads)
    if FIGURES:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "page-figures.json").write_text(json.dumps(FIGURES, indent=1))


def open_page(browser, url, query="", width=1400, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(60_000)
    page.goto(url + query)
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('Train will use')")
    return page


def wait_text(page, selector, words, timeout=60_000):
    page.wait_for_function("([s, w]) => (document.querySelector(s)?.innerText || '').includes(w)",
                           arg=[selector, words], timeout=timeout)


CHART = """(id) => { const p = document.querySelector(`#${id} .js-plotly-plot`);
  const tick = p.querySelector('.ytick text'), legend = p.querySelector('.legendtext');
  const box = p.getBoundingClientRect(), plot = p.querySelector('.nsewdrag').getBoundingClientRect();
  return {tick_px: parseFloat(getComputedStyle(tick).fontSize),
          xtick_px: parseFloat(getComputedStyle(p.querySelector('.xtick text')).fontSize),
          legend_px: parseFloat(getComputedStyle(legend).fontSize),
          top: box.top, bottom: box.bottom, height: box.height, plot_height: plot.height}; }"""


@pytest.mark.browser
def test_a_projector_reads_the_charts_and_the_compare_chart_is_on_the_first_screen(browser, url):
    page = open_page(browser, url, "?present=1&example=tiny&budget=5", 1280, 720)
    page.wait_for_function("document.body.classList.contains('present')")
    page.wait_for_function("document.querySelector('#loss-plot .ytick text')?.style.fontSize === '20px'")
    train = page.evaluate(CHART, "loss-plot")
    page.get_by_role("tab", name="Compare").click()
    page.click("#lesson-compare")  # a lesson's race: five curves and their legend
    wait_text(page, "#race-status", "Racing")
    page.wait_for_function("document.querySelectorAll('#compare-plot .legendtext').length >= 5")
    compare = page.evaluate(CHART, "compare-plot")
    page.click("#race-stop")
    wait_text(page, "#race-status", "Stopped")
    FIGURES["projector 1280x720"] = {"train chart": train, "compare chart": compare}
    print(f"\nprojector 1280×720: Train chart {train}; Compare chart {compare}")
    for chart in (train, compare):
        assert chart["tick_px"] >= 20 and chart["xtick_px"] >= 20 and chart["legend_px"] >= 20
        assert chart["height"] >= 720 / 2  # the chart at least half the screen's height
    assert 0 <= compare["top"] and compare["bottom"] <= 720  # all of it on the first screen
    page.close()


@pytest.mark.browser
def test_a_projector_keeps_the_train_chart_on_the_first_screen_after_a_run_ends(browser, url):
    """A tester's projector: when a run ended, its status and a warning grew to 425 px and the Train chart moved to
    441-803 px, off a 720 px screen. The status scrolls instead, and the chart stays where it was."""
    page = open_page(browser, url, "?present=1&example=tiny&budget=5", 1280, 720)
    page.wait_for_function("document.body.classList.contains('present')")
    page.click("#train")
    wait_text(page, "#status", "Done", timeout=120_000)
    chart = page.evaluate(CHART, "loss-plot")
    status = page.evaluate("document.querySelector('#status').getBoundingClientRect().height")
    print(f"\nprojector 1280×720 after a run: Train chart {chart}, status {status:.0f} px")
    assert chart["height"] >= 720 / 2 and 0 <= chart["top"] and chart["bottom"] <= 720, (chart, status)
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("size, query, lesson", [
    ((1280, 720), "?present=1&lesson=memorise&budget=1", "memorise"),  # a projector, a two-model lesson
    ((1400, 1000), "?lesson=ladder&budget=1", "ladder"),  # a desktop, the lesson with the most to say
])
def test_the_compare_chart_stays_on_the_first_screen_after_a_lesson_has_run(browser, url, size, query, lesson):
    """A tester saw the Compare chart on the first screen before a lesson and below it after: what the race
    showed (a paragraph a claim, above the chart) pushed it down, at projector size and, after the ladder, at
    desktop size. The chart stays on the first screen with the lesson's findings under it."""
    width, height = size
    page = open_page(browser, url, query, width, height)
    if "present=1" in query:
        page.wait_for_function("document.body.classList.contains('present')")
    wait_text(page, "#lesson-text", "Budget:")
    page.click(f"#lesson-{lesson}")
    wait_text(page, "#race-status", "What this race showed", timeout=120_000)
    page.evaluate("window.scrollTo(0, 0)")
    chart = page.evaluate(CHART, "compare-plot")
    status = page.evaluate("document.querySelector('#race-status').getBoundingClientRect().toJSON()")
    FIGURES[f"{width}x{height} after the {lesson} lesson"] = {"compare chart": chart, "status": status}
    print(f"\n{width}×{height} after the {lesson} lesson: Compare chart {chart}; status {status}")
    assert 0 <= chart["top"] and chart["bottom"] <= height  # all of it on the first screen
    assert status["top"] >= chart["bottom"] - 1  # the findings under the chart
    page.close()


TOASTS = "[...document.querySelectorAll('.toast-message-item')].map(t => t.innerText)"
TYPED_OUT_OF_RANGE = [  # (tab, field, a number outside its range, the button that asks for a run, the message)
    ("Train", "#time-budget", "2", None, "“time budget (seconds)” takes a number from 5 to 30: 2 became 5."),
    ("Train", "#time-budget", "500", None, "“time budget (seconds)” takes a number from 5 to 30: 500 became 30."),
    ("Compare", "#race-budget", "0", None, "“budget per model (seconds of its own training)” takes a number from 1 "
                                           "to 30: 0 became 1."),
    ("Write", "#length", "5", None, "“length (characters)” takes a number from 10 to 2000: 5 became 10."),
    ("Write", "#seed", "-5", "#sample", "“seed (-1 = random)” cannot be -5: it takes a number -1 or more."),
    ("Train", "#max-steps", "-3", "#train", "“step limit (0 = none)” cannot be -3: it takes a number 0 or more."),
]


@pytest.mark.browser
def test_a_number_typed_outside_its_range_names_the_field_and_the_server_logs_nothing(browser, url):
    """A tester typed 2 into the time budget (its least is 5 s): Gradio's red "Value 2 is less than minimum value
    5." and a traceback in the server's log — and typing 25 showed the same for its 2. Now typing says nothing
    while the number is on its way; a slider typed outside its range says which number it took when it loses
    the focus, a number field sent out of range with Train or Sample is refused naming the field and its
    range (Train then says it did not start), and the server logs nothing (this module's traceback watch); a
    link's Train budget below the least opens the page at the least."""
    page = open_page(browser, url, "?example=tiny&budget=2")
    box = "#time-budget input[type=number]"
    page.wait_for_function(f"document.querySelector('{box}').value === '5'")
    page.click("#settings")  # the step limit is in the settings
    page.click(box, click_count=3)
    page.keyboard.type("25", delay=100)  # sends 2, then 25
    wait_text(page, "#plan", "and 25 s")
    page.press(box, "Tab")
    assert page.evaluate(TOASTS) == []  # nothing said about the 2 on its way to 25
    for tab, field, value, button, words in TYPED_OUT_OF_RANGE:
        page.get_by_role("tab", name=tab).click()
        page.fill(f"{field} input[type=number]", value)
        page.press(f"{field} input[type=number]", "Tab")  # the focus leaves the field
        if button:
            page.click(button)
        page.wait_for_function(f"(w) => ({TOASTS}).includes(w)", arg=words)
    wait_text(page, "#status", "Not started")
    toasts = page.evaluate(TOASTS)  # each said once, and nothing else (no Gradio "Value … minimum value")
    assert set(toasts) <= {words for *_, words in TYPED_OUT_OF_RANGE} and len(toasts) == len(set(toasts)), toasts
    assert page.input_value(box) == "30" and "and 30 s" in page.inner_text("#plan")
    page.close()


@pytest.mark.browser
def test_a_queued_race_shows_its_place_in_line(browser, url):
    first, second = open_page(browser, url, "?example=tiny&budget=20"), open_page(browser, url, "?example=tiny")
    first.click("#train")  # the server's one training slot
    wait_text(first, "#status", "Training")
    second.get_by_role("tab", name="Compare").click()
    second.click("#race")
    wait_text(second, "#race-status", "1st in line")
    assert "should start in about" in second.inner_text("#race-status")
    second.click("#race-stop")  # cancelled while waiting: the status says so
    wait_text(second, "#race-status", "Cancelled")
    first.click("#stop")
    wait_text(first, "#status", "Stopped")
    first.close()
    second.close()


@pytest.mark.browser
def test_on_a_phone_train_brings_the_status_and_chart_into_view(browser, url):
    page = open_page(browser, url, "?example=tiny&budget=5", 390, 844)
    page.click("#train")
    page.wait_for_function("""() => { const s = document.querySelector('#status').getBoundingClientRect();
        const c = document.querySelector('#loss-plot').getBoundingClientRect();
        return s.top >= -1 && c.bottom <= innerHeight + 1; }""")
    FIGURES["phone 390x844 after Train"] = page.evaluate("""() => ['#status', '#loss-plot'].map(s => {
        const r = document.querySelector(s).getBoundingClientRect(); return [s, r.top, r.bottom]; })""")
    wait_text(page, "#status", "Done")
    page.close()


@pytest.mark.browser
def test_a_link_carries_the_text_and_a_typed_setting_has_a_reset(browser, url, tmp_path):
    page = open_page(browser, url)
    mine = tmp_path / "mine.txt"
    mine.write_text("a short text of my own, for the class.\n" * 10)
    page.set_input_files("#corpus-file input[type=file]", str(mine))
    wait_text(page, "#corpus-stats", "mine.txt")
    page.click("#settings")
    page.fill("#opt-lr textarea, #opt-lr input", "0.02")
    page.press("#opt-lr textarea, #opt-lr input", "Enter")
    page.wait_for_selector("#yours", state="visible")  # the typed value, which the next model would keep
    assert "learning rate 0.02" in page.inner_text("#yours")
    page.click("#yours label:has-text('learning rate')")  # one click: back to the preset
    page.wait_for_selector("#yours", state="hidden")
    assert page.input_value("#opt-lr textarea, #opt-lr input") == "" and "**" not in page.inner_text("#plan")
    page.get_by_role("tab", name="Compare").click()
    page.click("#copy-link")
    wait_text(page, "#share-note", "carries your text")
    link = page.input_value("#share-link textarea")
    assert parse_qs(urlparse(link).query)["text"] == [mine.read_text()]
    opened = open_page(browser, link)  # the link opens the page with the text in the paste box
    opened.wait_for_function("document.querySelector('#corpus-text textarea').value.includes('of my own')")
    opened.close()
    page.close()


def type_setting(page, name, value):
    box = f"#opt-{name} textarea, #opt-{name} input"
    page.fill(box, value)
    page.press(box, "Enter")


@pytest.mark.browser
def test_a_diverged_run_is_marked_diverged_on_the_page_and_never_done(browser, url):
    """Item 2 as the page shows it: a GRU at learning rate 10 (AdamW: steps of ~10 whatever the clip) explodes;
    the Train status, the Train chart's legend, and on Compare the runs table, the chart's legend and the film
    strip say diverged, and no status says Done."""
    page = open_page(browser, url, "?example=tiny&model=gru&budget=10")
    page.click("#settings")
    type_setting(page, "lr", "10")
    page.wait_for_selector("#yours", state="visible")
    page.click("#train")
    page.wait_for_function("""() => { const s = document.querySelector('#status').innerText;
        return s.includes('diverged') || s.includes('Done'); }""")
    status = page.inner_text("#status")
    assert "diverged" in status and "Done" not in status, status
    default = preset("gru", len(TEXT), 10)[1].lr  # the advice: the rate the preset gives this model
    assert "(learning rate 10, still warming up" in status and f"Try a learning rate of {default:.2g}" in status, status
    page.wait_for_function("[...document.querySelectorAll('#loss-plot .legendtext')].some(t => "
                           "t.textContent.includes('diverged'))")
    assert "DIVERGED" in page.text_content("#loss-plot .gtitle")
    page.get_by_role("tab", name="Compare").click()
    wait_text(page, "#runs-table", "diverged")
    page.wait_for_function("[...document.querySelectorAll('#compare-plot .legendtext')].some(t => "
                           "t.textContent.includes('· diverged'))")
    wait_text(page, "#film-strip", "diverged: the loss exploded")
    assert "Done" not in page.inner_text("#race-status")
    page.close()


INSIDE_PANELS = {  # each Inside sub-tab and what shows that its view was drawn when the tab opened
    "Predictions": "document.querySelectorAll('#pred-strip .ch').length > 20",
    "Neurons": "document.querySelectorAll('#neuron-strip .ch').length > 20",
    "What it looked at": "document.querySelectorAll('#sal-strip .ch').length > 5",
    "Shapes": "(document.querySelector('#shapes-table')?.innerText || '').includes('(B, T, V)')",
    "Maps": "document.querySelector('#map-plot .js-plotly-plot')?.data?.length > 0",
    "Why is my loss flat?": "document.querySelector('#grad-plot .js-plotly-plot')?.data?.length > 0",
}


@pytest.mark.browser
def test_the_inside_views_are_drawn_on_opening_and_a_found_unit_is_one_click_away(browser, url):
    """Item 4 in the page: after Train, opening Inside draws every view (no button pressed, no blank panel),
    and a row of "find units" shows that unit over the text."""
    page = open_page(browser, url, "?example=tiny&budget=5")
    page.click("#train")
    wait_text(page, "#status", "Done")
    page.get_by_role("tab", name="Inside").click()
    wait_text(page, "#inside-notice", "The views show the tab's model")
    for tab, drawn in INSIDE_PANELS.items():
        page.locator("#inside-views").get_by_role("tab", name=tab).click()
        page.wait_for_function(drawn)
    page.locator("#inside-views").get_by_role("tab", name="Neurons").click()
    page.click("#find-units")
    page.wait_for_function("document.querySelectorAll('#units-table tr[data-unit]').length > 0")
    row = page.locator("#units-table tr[data-unit]").last
    layer, unit = row.get_attribute("data-layer"), row.get_attribute("data-unit")
    page.fill("#neuron-unit input", "-1" if unit != "-1" else "0")  # not the row's: the click must set it
    row.click()
    page.wait_for_function("(u) => document.querySelector('#neuron-unit input').value === u", arg=unit)
    wait_text(page, "#neuron-summary", f"Unit {unit} of {layer}")
    page.close()


@pytest.mark.browser
def test_the_readme_screenshot(browser, url):
    """The README's first picture, made here so that it shows the page as it is: a desktop after a 20 s run of
    the page's default model. Kept small: 128 colours (about 50 KB)."""
    from PIL import Image

    page = open_page(browser, url, "?example=weather&model=lstm&budget=20", 1280, 800)
    page.click("#train")
    wait_text(page, "#status", "Done")
    page.wait_for_function("document.querySelector('#live-sample textarea').value.length > 50")
    page.evaluate("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "page.png"
    page.screenshot(path=str(shot))
    Image.open(shot).convert("RGB").quantize(128, dither=Image.Dither.NONE).save(shot, optimize=True)
    assert 10_000 < shot.stat().st_size < 150_000 and Image.open(shot).size == (1280, 800)
    if os.environ.get("CHARRNN_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
    page.close()


@pytest.mark.browser
def test_the_write_tab_says_what_to_press_and_shows_a_new_models_text_when_it_opens(browser, url):
    """Issue 17: the sample box was empty until Sample was pressed. Without a model it says what to do; when the
    tab opens on a model whose text it does not show yet, it shows 200 characters of it (the tab's temperature and
    seed); a sample the learner asked for stays when the tab is opened again."""
    page = open_page(browser, url, "?example=tiny&budget=5")
    page.get_by_role("tab", name="Write").click()
    page.wait_for_function("""() => (document.querySelector('#sample-output textarea').placeholder || '')
                              .includes('No model yet')""")
    assert "press Sample" in page.get_attribute("#sample-output textarea", "placeholder")
    assert page.input_value("#sample-output textarea") == ""
    page.get_by_role("tab", name="Train").click()
    page.click("#train")
    wait_text(page, "#status", "Done")
    page.get_by_role("tab", name="Write").click()  # the run's model writes by itself
    page.wait_for_function("document.querySelector('#sample-output textarea').value.length >= 200")
    preview = page.input_value("#sample-output textarea")
    assert set(preview) <= set(TEXT) and len(preview) <= 200 + len(page.input_value("#prompt textarea"))
    wait_text(page, "#sample-seed", "written when the tab opened")
    page.fill("#prompt textarea", "the ")
    page.fill("#length input[type=number]", "60")
    page.press("#length input[type=number]", "Enter")
    page.click("#sample")
    page.wait_for_function("""() => { const v = document.querySelector('#sample-output textarea').value;
                              return v.startsWith('the ') && v.length === 64; }""")
    asked = page.input_value("#sample-output textarea")
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("tab", name="Write").click()  # the same model: the sample asked for stays
    page.wait_for_timeout(1500)
    assert page.input_value("#sample-output textarea") == asked
    page.close()
