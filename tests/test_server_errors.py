"""The watch on the server's tracebacks (tests/conftest.py) sees what it is there to see: a handler that
fails on a real Gradio server is caught, a user's mistake answered with `user_error` is not."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from charrnn_app import user_error

pytestmark = pytest.mark.server


def test_the_watch_sees_a_failing_handler_and_not_a_users_mistake(server_tracebacks):
    def broken(x):
        raise RuntimeError("a bug in a handler")

    def refused(x):
        raise user_error("Type a number first.")

    with gr.Blocks() as demo:
        box = gr.Textbox()
        gr.Button().click(broken, box, box, api_name="broken")
        gr.Button().click(refused, box, box, api_name="refused")
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        start = len(server_tracebacks.seen)
        with pytest.raises(AppError, match="Type a number"):
            client.predict("x", api_name="/refused")
        assert server_tracebacks.seen[start:] == []  # an expected refusal is no traceback
        with pytest.raises(AppError):  # Gradio's bare "Error": the bug is the server's to log
            client.predict("x", api_name="/broken")
        assert any("a bug in a handler" in t and "Traceback" in t for t in server_tracebacks.seen[start:])
    finally:
        demo.close()
    del server_tracebacks.seen[start:]  # planted here: no other test is blamed for it


pytest_plugins = ["pytester"]

PLANTED = '''
import logging
import pytest

@pytest.fixture(scope="module")
def server():
    yield "http://127.0.0.1:1"
    logging.getLogger("uvicorn.error").error("a run that outlived its test failed", exc_info=RuntimeError("late"))

def test_not_in_a_browser():
    logging.getLogger().error("a test of its own", exc_info=ValueError("planted"))

@pytest.mark.browser
def test_in_a_browser(server):
    pass
'''


def test_the_watch_covers_a_browser_modules_servers_outside_its_tests(pytester):
    """A traceback a browser module's server logs outside any test (here: as its fixture closes) fails the
    module; one logged inside a test that drives no browser is that test's own business."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    browser: x\n")
    pytester.makepyfile(test_planted=PLANTED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*1 traceback(s) in test_planted outside its browser tests*", "*late*"])
    assert not any("ValueError" in line for line in result.stdout.lines)  # the test's own: excused
