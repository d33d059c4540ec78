"""The Gradio app's view layer: plain handler functions, figure builders and the texts the page shows.

`app.py` beside this package lays out the page and wires events to these functions; nothing here
imports Gradio's layout or keeps per-user state (each browser tab's `Session` lives in `gr.State`).
"""

import gradio as gr


def user_error(message: str) -> gr.Error:
    """An error the user caused and can fix: shown as a toast with `message`, not logged as a crash."""
    return gr.Error(message, print_exception=False)
