"""The Gradio app around the `charrnn` core: each tab's layout and wiring, its handlers, figures and texts.

    page.py        the page around the tabs; `Page`, what every tab's builder gets
    *_tab.py       one per tab (train, write, compare, inside, keep): build(page, tab) -> its handles
    runner.py      one run's lifecycle, shared by Train and Race; one run per tab; hooks on runs
    server.py      the only module touching Gradio's internals, glibc and Gradio's cache folder
    the rest       handlers (plain functions: values in, values out), figures and texts, by topic

Per-user state lives in each browser tab's `Session` (in `gr.State`), never in a module global.
"""

import gradio as gr


def user_error(message: str) -> gr.Error:
    """An error the user caused and can fix: shown as a toast with `message`, not logged as a crash."""
    return gr.Error(message, print_exception=False)
