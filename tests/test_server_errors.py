"""The watch on the server's tracebacks (tests/conftest.py) sees what it is there to see: a handler that
fails on a real Gradio server is caught, a user's mistake answered with `user_error` is not."""

from __future__ import annotations

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
