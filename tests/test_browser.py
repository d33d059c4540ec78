"""The page in a real headless Chromium (Debian's /usr/bin/chromium driven by PyPI playwright):
upload a corpus, train, watch points appear in #loss-plot, stop, move the temperature, sample, read the
text, download the model, and save a screenshot to test-artifacts/.

Skipped, with the reason, when there is no chromium binary (scripts/test.sh installs it where it can).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import torch

import app
from charrnn_app.settings import Settings

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120

# Plotly keeps a chart's traces on its DOM node: count the points of one named line.
POINTS = """([id, prefix]) => {
  const p = document.querySelector(`#${id} .js-plotly-plot`);
  const t = p && p.data && p.data.find(t => (t.name || '').startsWith(prefix));
  return t ? t.x.length : 0;
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory, browser):
    """The page at 1400×1000 on the app with one example (tiny); the module's one Chromium (`browser`, conftest:
    a second sync Playwright in one process is refused, so the Compare chart's tests share it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `python app.py` does for two concurrent trainings on two cores
    temp = pytest.MonkeyPatch()
    temp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))  # session folders: not /tmp
    app.warm_up()  # as `python app.py` does at start-up
    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text(TEXT)
    settings = Settings(max_seconds=60, examples_dir=examples)
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('Train will use')")
    yield page
    page.close()
    demo.close()
    temp.undo()
    torch.set_num_threads(threads)


def test_upload_train_watch_stop_sample_download(page, tmp_path):
    for elem_id in ["corpus-file", "model", "train", "stop", "loss-plot", "status", "live-sample", "time-budget"]:
        assert page.is_visible(f"#{elem_id}"), elem_id  # the first tab: text, model, Train and the chart
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    page.set_input_files("#corpus-file input[type=file]", str(corpus))
    page.wait_for_function("document.querySelector('#corpus-stats').innerText.includes('cats.txt')")

    page.click("#train")
    clicked = time.perf_counter()
    page.wait_for_function(POINTS, arg=["loss-plot", "train"], polling=50)
    first_point = time.perf_counter() - clicked
    page.wait_for_function(f"({POINTS})(['loss-plot', 'train']) >= 5")
    page.wait_for_function("document.querySelector('#live-sample textarea').value.length > 50")  # watch it learn
    points = page.evaluate(POINTS, ["loss-plot", "train"])
    page.click("#stop")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Stopped')")
    stopped = page.evaluate(POINTS, ["loss-plot", "train"])
    assert stopped >= points >= 5
    assert page.evaluate(POINTS, ["loss-plot", "uniform guess"]) == 2  # the reference lines are drawn

    # Temperature: the next-character bars follow the slider.
    page.get_by_role("tab", name="Write").click()
    page.fill("#temperature input[type=number]", "0.3")
    page.press("#temperature input[type=number]", "Enter")
    page.wait_for_function("""document.querySelector('#next-char-plot .js-plotly-plot')?.layout.title.text
                              .includes('temperature 0.3')""")
    # …and its numbers in words, the chart's text alternative
    page.wait_for_function("document.querySelector('#next-char-numbers')?.innerText.includes('temperature 0.3:')")
    assert "%" in page.inner_text("#next-char-numbers")

    page.fill("#prompt textarea", "the ")
    page.fill("#length input[type=number]", "200")
    page.press("#length input[type=number]", "Enter")
    page.click("#sample")
    page.wait_for_function("document.querySelector('#sample-output textarea').value.length >= 204")
    text = page.input_value("#sample-output textarea")
    assert text.startswith("the ") and set(text) <= set(TEXT)

    page.get_by_role("tab", name="Keep").click()
    with page.expect_download() as download:
        page.click("#download")
    saved = Path(download.value.path())
    assert download.value.suggested_filename.endswith(".safetensors") and saved.stat().st_size > 1000

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-flow.png"), full_page=True)
    (ARTIFACTS / "browser-timings.json").write_text(json.dumps({"train_click_to_first_point_s": first_point}))
    print(f"\nTrain click → first loss point on the chart: {first_point:.2f} s")
    assert first_point < 5  # the target is < 2 s; generous here for a busy CI machine


def test_a_bad_upload_says_what_to_do_once_and_leaves_the_box(page, tmp_path):
    """A refused upload is said once and taken out of the upload box; Train then uses the text the page shows
    (the example). A tester's bin.txt, refused for a NUL byte, stayed in the box: every later Train repeated
    the error, and a lesson said "Not started: bin.txt looks like a binary file" under the example menu."""
    page.get_by_role("tab", name="Train").click()
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4)
    if page.query_selector("#corpus-file button[aria-label=Clear]"):
        page.click("#corpus-file button[aria-label=Clear]")
    page.set_input_files("#corpus-file input[type=file]", str(binary))
    toast = page.wait_for_selector(".toast-body")
    said = toast.inner_text()
    assert "binary" in said and "plain" in said and "taken out of the upload box" in said and "tiny" in said, said
    page.wait_for_function("!document.querySelector('#corpus-file').innerText.includes('photo.txt')")
    page.wait_for_function("document.querySelector('#corpus-stats').innerText.includes('Using the example')")
    assert page.input_value("#example input") == "tiny"
    page.click("#train")  # the example the page shows, not the refused file again
    page.wait_for_function("document.querySelector('#status').innerText.includes('the example')")
    page.click("#stop")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Stopped')")
    status = page.inner_text("#status")
    assert "binary" not in status and "Not started" not in status, status
    told = page.eval_on_selector_all(".toast-message-item", "els => els.map(e => e.innerText)")
    assert sum("binary" in t for t in told) == 1, told  # said once


def test_a_budget_typed_below_the_least_and_train_pressed_says_the_number_used(page):
    """A tester typed 2 into the time budget (least 5 s) and pressed Train: the run used 5 s and only a toast, gone
    before the run ended, said so. The box shows the number used, and a line beside it and the run's status say
    "time budget: least is 5 s — used 5 s" for as long as the run (and the box) keep it."""
    page.get_by_role("tab", name="Train").click()
    box = "#time-budget input[type=number]"
    page.click(box, click_count=3)
    page.keyboard.type("2", delay=50)
    page.click("#train")  # straight from the box: no Tab, no Enter
    note = "time budget: least is 5 s — used 5 s"
    page.wait_for_function("(w) => document.querySelector('#budget-note')?.innerText.includes(w)", arg=note)
    page.wait_for_function("(w) => document.querySelector('#status').innerText.includes(w)"
                           " && document.querySelector('#status').innerText.includes('Training')", arg=note)
    assert page.input_value(box) == "5"
    page.click("#stop")  # a 5 s run on a loaded machine may end on its own first: the note stays said either way
    page.wait_for_function("(w) => /Stopped|Done/.test(document.querySelector('#status').innerText)"
                           " && document.querySelector('#status').innerText.includes(w)", arg=note)
    page.click(box, click_count=3)
    page.keyboard.type("10", delay=50)
    page.press(box, "Tab")  # a number in range: the line goes
    page.wait_for_function("!document.querySelector('#budget-note') || "
                           "!document.querySelector('#budget-note').innerText.includes('least')")


TRAIN_BOX = "() => document.querySelector('#train').getBoundingClientRect().toJSON()"


def test_a_budget_typed_below_the_least_and_train_pressed_at_once_trains_every_time(page):
    """A tester typed 2 into the time budget (least 5 s) and pressed Train straight away: once in three tries the
    press was lost, because the note that appears as the box loses the focus stood above Train and pushed it 39 px
    down under the pointer. The note now appears without moving Train, and each of three tries trains."""
    page.get_by_role("tab", name="Train").click()
    box = "#time-budget input[type=number]"
    note = "time budget: least is 5 s — used 5 s"
    for attempt in range(3):
        page.click(box, click_count=3)
        page.keyboard.type("10", delay=50)
        page.press(box, "Tab")  # in range: no note, the layout a first visitor sees
        page.wait_for_function("!document.querySelector('#budget-note') || "
                               "!document.querySelector('#budget-note').innerText.includes('least')")
        before = page.evaluate(TRAIN_BOX)
        page.click(box, click_count=3)
        page.keyboard.type("2", delay=50)
        page.click("#train")  # straight from the box: the press itself takes the focus away
        page.wait_for_function("(w) => document.querySelector('#budget-note')?.innerText.includes(w)", arg=note)
        assert page.evaluate(TRAIN_BOX) == before, f"try {attempt + 1}: the note moved Train"
        page.wait_for_function("(w) => document.querySelector('#status').innerText.includes(w)"
                               " && document.querySelector('#status').innerText.includes('Training')", arg=note)
        page.click("#stop")  # a 5 s run on a loaded machine may end on its own first
        page.wait_for_function("/Stopped|Done/.test(document.querySelector('#status').innerText)")


def test_a_lesson_link_with_a_budget_does_not_say_the_budget_was_typed(page):
    """A tester opened `?lesson=ladder&budget=3` and the lesson said "(the budget you typed…)" for a number that
    came from the link: it says "the budget on the page", true for a typed number and a link's alike."""
    base = page.url.split("?")[0]
    page.goto(base + "?lesson=ladder&budget=3")
    page.wait_for_function("document.querySelector('#lesson-text')?.innerText.includes('3 s per model')")
    words = page.inner_text("#lesson-text")
    assert "you typed" not in words and "(the budget on the page" in words, words
    page.goto(base)  # the other tests start from the page without a link
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('Train will use')")


# ---- the Compare chart as a phone and a projector draw it ---------------------------------------------------
# A tester saw, at 390×844, the legend drawn over the x axis's title, the title cut under the tool bar and a
# finished run without its label; at 1280×720 in presentation mode, the ladder's legend scrolled and cut an entry.
# Runs made without training (tests/chart_runs.py) are put into the page's session, and opening the Compare tab
# draws them, so the real page (its CSS, Gradio's own Plotly.js) is measured, not the figure's numbers.

COMPARE_BOXES = """() => { const p = document.querySelector('#compare-plot .js-plotly-plot');
  const box = e => e ? e.getBoundingClientRect().toJSON() : null;
  const legend = p.querySelector('.legend .bg'), scroll = p.querySelector('.legend .scrollbar');
  return {chart: box(p), legend: box(legend), x_title: box(p.querySelector('.xtitle')),
          title: box(p.querySelector('.gtitle')), title_lines: [...p.querySelectorAll('.gtitle .line')].map(box),
          modebar: box(p.querySelector('.modebar')),
          plot: box(p.querySelector('.nsewdrag')), scrollbar_px: scroll ? scroll.getBoundingClientRect().height : 0,
          entries: [...p.querySelectorAll('.legend .traces')].map(box),
          legend_px: parseFloat(getComputedStyle(p.querySelector('.legendtext')).fontSize),
          tick_px: parseFloat(getComputedStyle(p.querySelector('.ytick text')).fontSize),
          labels: [...p.querySelectorAll('.annotation-text')].map(a => a.textContent)}; }"""


@pytest.fixture(scope="module")
def compare_app(tmp_path_factory):
    """The app (its demo, to reach a page's session) and its address."""
    examples = tmp_path_factory.mktemp("compare-examples")
    (examples / "tiny.txt").write_text(TEXT)
    settings = Settings(max_seconds=60, examples_dir=examples)
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    yield demo, url
    demo.close()


def compare_chart_with(browser, compare_app, runs, width, height, query="") -> tuple[object, dict]:
    """A page at `width`×`height` whose tab holds `runs`, on its Compare tab: (the page, what COMPARE_BOXES
    measured)."""
    demo, url = compare_app
    before = {key for key, _ in demo.sessions.items()}
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(60_000)
    page.goto(url + query)
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('Train will use')")
    session = next(s for key, s in demo.sessions.items() if key not in before)
    session.runs, session.next_run = list(runs), max(r.run_id for r in runs) + 1
    page.get_by_role("tab", name="Compare").click()  # opening the tab draws its runs
    page.wait_for_function("document.querySelectorAll('#compare-plot .legend .traces').length >= 3")
    return page, page.evaluate(COMPARE_BOXES)


def apart(a: dict, b: dict) -> bool:
    return a["bottom"] <= b["top"] or b["bottom"] <= a["top"] or a["right"] <= b["left"] or b["right"] <= a["left"]


def test_on_a_phone_the_compare_charts_legend_title_and_labels_stand_clear(browser, compare_app):
    import chart_runs

    runs = chart_runs.phone_race()  # a run on another text, then a race of six on one text
    page, m = compare_chart_with(browser, compare_app, runs, 390, 844)
    print(f"\nphone 390×844 Compare chart: { {k: v for k, v in m.items() if k != 'entries'} }")
    assert apart(m["legend"], m["x_title"]), (m["legend"], m["x_title"])  # the legend under the axis's title
    assert m["x_title"]["bottom"] <= m["legend"]["top"]
    chart, title = m["chart"], m["title"]
    first = m["title_lines"][0] if m["title_lines"] else title  # a text's box is a line taller than its glyphs
    assert chart["left"] <= title["left"] and title["right"] <= chart["right"] and first["top"] >= chart["top"] - 2
    assert title["bottom"] <= m["plot"]["top"]  # every line of it above the plot
    assert apart(title, m["modebar"])  # not under the tool bar
    assert m["scrollbar_px"] == 0 and all(e["bottom"] <= m["legend"]["bottom"] + 1 for e in m["entries"])
    assert m["plot"]["height"] >= 120  # a plot left to read, under the title and above the legend
    # every finished run drawn has its final label, the race's LSTM (4.196) too; the other text's run is not drawn
    assert sorted(m["labels"]) == sorted(f"{r.final_val:.3f}" for r in runs[1:])
    assert "1 run on another text not drawn" in page.evaluate(
        "document.querySelector('#compare-plot .js-plotly-plot').layout.title.text.replaceAll('<br>', ' ')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#compare-plot").screenshot(path=str(ARTIFACTS / "compare-phone.png"))
    page.close()


def test_on_a_phone_the_ladders_legend_fits_and_no_tool_bar_covers_the_plot(browser, compare_app):
    """A tester's phone, the ladder's seven runs (m_11): legend names ran past the chart's right edge, cut (runs 2,
    3 and 7 alike), final labels overprinted each other, and the tool bar stood over the plot's right strip."""
    import chart_runs

    page, m = compare_chart_with(browser, compare_app, chart_runs.ladder(), 390, 844)
    assert all(e["right"] <= m["chart"]["right"] + 1 for e in m["entries"]), (m["chart"], m["entries"])
    assert m["scrollbar_px"] == 0 and len(m["entries"]) == 9  # the levels too, without scrolling
    assert m["plot"]["height"] >= 150, m["plot"]
    assert m["modebar"] is None or m["modebar"]["width"] == 0  # no tool bar over the plot
    boxes = page.evaluate("[...document.querySelectorAll('#compare-plot .annotation')]"
                          ".map(a => a.getBoundingClientRect().toJSON())")
    assert len(boxes) == 7
    for i, b in enumerate(boxes):
        assert all(apart(b, c) for c in boxes[i + 1:]), boxes
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#compare-plot").screenshot(path=str(ARTIFACTS / "compare-phone-ladder.png"))
    page.close()


def test_a_projector_shows_the_ladders_whole_legend(browser, compare_app):
    import chart_runs

    page, m = compare_chart_with(browser, compare_app, chart_runs.ladder(), 1280, 720, "?present=1")
    page.wait_for_function("document.querySelector('#compare-plot .legendtext')?.style.fontSize === '20px'")
    m = page.evaluate(COMPARE_BOXES)
    print(f"\nprojector 1280×720, the ladder: { {k: v for k, v in m.items() if k != 'entries'} }")
    assert len(m["entries"]) == 9  # seven runs and the two levels
    assert m["scrollbar_px"] == 0 and all(e["bottom"] <= m["legend"]["bottom"] + 1 for e in m["entries"])
    assert m["legend_px"] >= 20 and m["tick_px"] >= 20
    assert m["chart"]["height"] >= 720 / 2 and m["chart"]["bottom"] <= 720  # half the screen, on the first screen
    assert m["legend"]["width"] <= 0.45 * m["chart"]["width"]  # the plot keeps more than half the width
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#compare-plot").screenshot(path=str(ARTIFACTS / "compare-projector-ladder.png"))
    page.close()
