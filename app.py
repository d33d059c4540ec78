"""charrnn's web app: train a character-level language model on your own text and watch it learn.

    python app.py      serves on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)

This file only assembles the page: each tab is built by its own module's `build(page, tab)` (layout and
wiring; the handlers, figures and texts beside it in `charrnn_app/`), in the order of `TABS`. Importing
this module builds the page but opens no port and trains nothing. Server limits come from environment
variables (see `charrnn_app/settings.py`). The page is also an API (gradio_client): /train, /stop,
/sample, /race, … (see the README).

    charrnn_app/page.py     the page around the tabs: styles, header, each tab's Session, `Page`
    charrnn_app/runner.py   one run's lifecycle (Train and Race), one run per tab, hooks for what is built on runs
    charrnn_app/server.py   the only door to Gradio's internals, glibc and Gradio's cache folder
"""

from __future__ import annotations

import os
import shutil
import signal
import sys

import gradio as gr
import torch

import charrnn
import charrnn.race
from charrnn_app import classroom_tab, compare_tab, inside_tab, keep_tab, plots, server, train_tab, write_tab
from charrnn_app.page import CSS, EXPIRE_EVERY, TITLE, Page
from charrnn_app.settings import Settings, list_examples

# The tabs in page order: each module has LABEL, TAB_ID and build(page, tab) -> its handles, kept as page.<key>.
TABS = {"train": train_tab, "write": write_tab, "compare": compare_tab, "inside": inside_tab, "keep": keep_tab,
        "classroom": classroom_tab}


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """The whole page for a server with `settings` (default: from the environment), queued, not launched."""
    settings = settings or Settings.from_env()
    with gr.Blocks(title=TITLE, delete_cache=server.cache_sweep(settings.session_ttl)) as demo:
        page = Page.open(demo, settings, list_examples(settings.examples_dir))
        with gr.Tabs(elem_id="tabs") as page.tabs:
            for key, module in TABS.items():
                with gr.Tab(module.LABEL, id=module.TAB_ID, elem_id=module.TAB_ID) as tab:
                    setattr(page, key, module.build(page, tab))
        page.serve()
    demo.runner = page.runner  # for what is built on runs: demo.runner.on_finish.append(…)
    demo.expire_idle = page.expire_idle  # sessions unused for the TTL, forgotten (main: every minute)
    demo.queue(max_size=settings.queue_size)
    return demo


def launch_options(settings: Settings) -> dict:
    """launch() arguments shared by `python app.py` and the tests' in-process servers."""
    return dict(max_file_size=settings.max_file_bytes, css=CSS, run_history=False)


try:
    SETTINGS = Settings.from_env()  # server configuration, the same for every visitor
except ValueError as e:  # a CHARRNN_* variable the server cannot run with: say which, in one line
    if __name__ != "__main__":
        raise
    print(f"app.py: {e}", file=sys.stderr)
    sys.exit(2)
demo = build_demo(SETTINGS)


def warm_up() -> None:
    """Pay the one-time costs before the first user does: a tiny real run through the run plan (the first
    optimizer imports ~1.5 s of code; the first step of each kernel and the first chart cost more), so
    the first point on the first chart comes quickly and the server's memory at rest includes them."""
    for model in dict.fromkeys([charrnn.run.DEFAULT_MODEL, *charrnn.race.DEFAULT_ENTRANTS]):  # a new user's first
        plan = charrnn.plan_run("the cat sat on the mat.\n" * 200, model, {"threads": 1}, max_steps=3,
                                limits=SETTINGS.limits)
        for _ in plan.train(plan.build()):
            pass
    plots.loss_figure(None)


def main() -> None:
    server.limit_malloc_arenas()  # before Gradio starts its worker threads
    server.map_large_blocks()  # large tensors go back to the system when freed
    # Concurrent trainings each get their share of the cores instead of fighting over all of them
    # (oversubscribed, PyTorch's worker threads spin and a step can take 10x longer).
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // SETTINGS.concurrency))
    # Server name and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860.
    demo.launch(prevent_thread_lock=True, **launch_options(SETTINGS))
    cache = demo.runner.server.cache
    sweeping = server.keep_sweeping_empty_uploads(cache)
    expiring = server.repeat(EXPIRE_EVERY, demo.expire_idle, "charrnn-expire-sessions")
    signal.signal(signal.SIGTERM, _interrupt)  # a Space restart or `kill`: clean up as Ctrl-C does
    try:
        warm_up()  # serving already; this only shortens the first user's wait for the chart
    except KeyboardInterrupt:
        demo.close()
        return
    try:
        demo.block_thread()  # until Ctrl-C or SIGTERM
    finally:
        sweeping.set()
        expiring.set()
        demo.sessions.close_all()  # every tab's model and files
        shutil.rmtree(demo.runner.server.session_root(), ignore_errors=True)
        server.sweep_empty_uploads(cache, age=0)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
