"""An open tab keeps its model past the session TTL: Gradio counts the TTL from the State's last write,
and reading the model (sampling, the views) does not write it; the page's timer does (a real server with
a 4 s TTL, the page in headless Chromium)."""

from __future__ import annotations

import time

import pytest

from charrnn_app.settings import Settings

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(session_ttl=4, examples_dir=tmp_path_factory.mktemp("ex"))


@pytest.fixture(scope="module")
def served(settings):
    import app

    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    yield url, demo
    demo.close()


@pytest.mark.browser
def test_an_open_tab_keeps_its_model_past_the_ttl(served, browser, tmp_path):
    url, demo = served
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(url + "?model=ngram&budget=5")
    page.wait_for_function("document.querySelector('#plan')?.innerText.includes('5 s')")
    page.set_input_files("#corpus-file input[type=file]", str(corpus))
    page.wait_for_function("document.querySelector('#corpus-stats')?.innerText.includes('cats.txt')")
    page.click("#train")
    page.wait_for_function("document.querySelector('#status')?.innerText.includes('Done')")
    (session,) = [s for s in demo.sessions.sessions() if s.bundle is not None]
    time.sleep(3 * 4)  # three TTLs without a Train (Gradio checks for expired state every second)
    assert session.bundle is not None and not session.closed
    page.close()
    deadline = time.perf_counter() + 30
    while not session.closed and time.perf_counter() < deadline:  # a closed tab: freed at once, as before
        time.sleep(0.2)
    assert session.closed and session.bundle is None
