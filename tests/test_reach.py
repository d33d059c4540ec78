"""Reach: the page on a phone, on a desktop and on a projector (real headless Chromium), and a downloaded
model used outside the page with the two snippets the Keep tab shows (run for real).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file

import app
from charrnn_app import links, texts
from charrnn_app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120
# The blocks of the Train tab that must never cover each other, at any size.
BLOCKS = ["#example", "#corpus-file", "#model", "#time-budget", "#train", "#stop", "#reset", "#plan", "#status",
          "#loss-plot", "#live-sample", "#tabs > div[role=tablist]"]
BOXES = """(sels) => sels.map(s => { const e = document.querySelector(s); if (!e) return null;
  const r = e.getBoundingClientRect(); return [s, r.left, r.top, r.right, r.bottom]; }).filter(Boolean)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    temp = pytest.MonkeyPatch()
    temp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))
    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text(TEXT)
    settings = Settings(max_seconds=30, examples_dir=examples)
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    yield url
    demo.close()
    temp.undo()
    torch.set_num_threads(threads)


def _overlaps(boxes) -> list[tuple[str, str]]:
    out = []
    for i, (a, *ra) in enumerate(boxes):
        for b, *rb in boxes[i + 1:]:
            w = min(ra[2], rb[2]) - max(ra[0], rb[0])
            h = min(ra[3], rb[3]) - max(ra[1], rb[1])
            if w > 1 and h > 1 and not (a in b or b in a):
                out.append((a, b))
    return out


@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1400, 1000), (390, 844)])
def test_no_overlaps_and_the_flow_works(browser, server, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(30_000)
    page.goto(server + "?example=tiny&model=gru&budget=10")
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('10 s')")  # the link applied
    assert _overlaps(page.evaluate(BOXES, BLOCKS)) == []
    train = page.query_selector("#train").bounding_box()
    assert train["y"] + train["height"] <= height  # Train is on the first screen, phone included
    page.click("#train")
    page.wait_for_function("""(() => { const p = document.querySelector('#loss-plot .js-plotly-plot');
                              return p && p.data && p.data.some(t => t.name.startsWith('train')); })()""")
    page.click("#stop")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Stopped')")
    assert _overlaps(page.evaluate(BOXES, BLOCKS)) == []  # with a chart and a status of several lines
    title = page.evaluate("document.querySelector('#loss-plot .gtitle').getBoundingClientRect().bottom")
    legend = page.evaluate("document.querySelector('#loss-plot .legend').getBoundingClientRect().top")
    assert legend > title  # the legend never covers the chart's title
    page.get_by_role("tab", name="Write").click()
    page.fill("#prompt textarea", "the ")
    page.click("#sample")
    page.wait_for_function("document.querySelector('#sample-output textarea').value.length > 100")
    page.close()


@pytest.mark.browser
def test_presentation_mode_fits_a_projector_screen(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server + "?present=1")
    page.wait_for_function("document.body.classList.contains('present')")
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('Train will use')")
    for sel in ["#loss-plot", "#train", "#status", "#live-sample"]:
        box = page.query_selector(sel).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, sel  # one screen, no scrolling
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#status p')).fontSize)")
    assert size >= 20
    page.uncheck("#present input")  # the toggle takes it back out
    page.wait_for_function("!document.body.classList.contains('present')")
    page.close()


def test_a_link_round_trips_the_page_state():
    query = links.make_link("weather", "gru", 60, True)
    state = links.parse(dict(re.findall(r"(\w+)=([^&]+)", query)), examples=("weather",), max_seconds=120)
    assert state == {"example": "weather", "model": "gru", "budget": 60.0, "present": True}
    assert links.parse({"model": "nope", "budget": "9999", "example": "../etc"}, ("weather",)) == {}


@pytest.mark.server
def test_the_take_away_snippets_run(server, tmp_path):
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    trained = Client(server, verbose=False).predict(corpus=handle_file(str(corpus)), model="gru", time_budget=5,
                                                    n_hidden="32", api_name="/train")
    name = "my-model.safetensors"
    shutil.copy(trained[3], tmp_path / name)
    blocks = re.findall(r"```python\n(.*?)```", texts.takeaway(name, server), re.S)
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) <= 5 for b in blocks)  # five lines each
    for code in blocks:
        # Run where the download lands, outside the repository, with no PYTHONPATH: the venv's charrnn
        # (installed editable by the README's commands) is what a user's script finds.
        r = subprocess.run([sys.executable, "-c", code.replace('"The "', '"the "')], cwd=tmp_path, timeout=120,
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        written = r.stdout.removeprefix(f"Loaded as API: {server}\n").rstrip("\n")  # gradio_client's greeting
        assert len(written) >= 300 and set(written) <= set(TEXT)
