"""Fixtures every test file shares: one torch thread and a private temp folder per module, a headless
Chromium (Debian's /usr/bin/chromium driven by PyPI playwright; never `playwright install`), and a watch on
the server's tracebacks: a test marked `browser` fails if the server printed or logged one while it ran."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
import traceback
from pathlib import Path

import pytest
import torch

from charrnn import steprate

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]


def quiet_step_seconds(family: str, options: dict, config, vocab_size: int) -> float:
    """This project's 2-core CPU when quiet, one thread: the default LSTM's step of 16 × 64 in 10.5 ms (~97,000
    chars/s), H256's ~1.6x that. What a time budget buys in tests, instead of a measurement that would follow
    the load of whatever else runs (`charrnn.steprate`; tests/test_presets.py measures a real one)."""
    return 0.0105 * (1.6 if options.get("n_hidden") == 256 else 1.0) * config.batch_size * config.seq_len / 1024


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_own_temp_dir(tmp_path_factory):
    """Two trainings at once on two cores: one thread each, as `python app.py` sets it. Session folders
    and other temporary files go to pytest's temporary directory, not /tmp. A time budget buys the steps of
    a quiet machine (`quiet_step_seconds`), so that plans do not depend on the load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))
        mp.setattr(steprate, "step_seconds", quiet_step_seconds)
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module; skipped, saying why, where there is none."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary (install Debian's `chromium`; never `playwright install`)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(settings):
    """The real app, in-process, on 127.0.0.1, built with the requesting module's `settings` fixture; its
    URL for gradio_client. (Modules that need the demo itself define their own.)"""
    import app  # the UI's imports only where a server is asked for

    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    yield url
    demo.close()


class ServerTracebacks(logging.Handler):
    """Every traceback this process prints or logs: Gradio prints a handler's exception with
    `traceback.print_exc` (all but a `gr.Error` made with print_exception=False, the app's `user_error`),
    the app logs a failed run or hook with `logging.exception`, a thread's uncaught exception goes to
    `threading.excepthook`, uvicorn and asyncio log theirs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.seen: list[str] = []
        self.excused: set[int] = set()
        self.last: logging.LogRecord | None = None  # indices in `seen` logged during a test that drives no browser

    def emit(self, record: logging.LogRecord) -> None:
        if record is self.last:  # the same record, propagated to a parent logger this handler also watches
            return
        self.last = record
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.seen.append(text)

    def printed(self, exc, value=None, tb=None, *args, **kwargs) -> None:
        file = kwargs.get("file", args[1] if len(args) > 1 else None)
        if file not in (None, sys.stderr, sys.__stderr__):  # formatted into a string (a logging Formatter):
            return  # the record itself is counted by `emit`
        if value is None and isinstance(exc, BaseException):  # print_exception(exc), Python 3.10+
            exc, value, tb = type(exc), exc, exc.__traceback__
        self.seen.append("".join(traceback.format_exception(exc, value, tb)))


@pytest.fixture(scope="session", autouse=True)
def server_tracebacks():
    """The session's ServerTracebacks, installed before any server starts."""
    watch = ServerTracebacks()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    print_exception, excepthook = traceback.print_exception, threading.excepthook

    def printed(*args, **kwargs):
        watch.printed(*args, **kwargs)
        print_exception(*args, **kwargs)

    def thread_died(args):
        watch.seen.append(f"thread {getattr(args.thread, 'name', '?')}: " + "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))
        excepthook(args)

    for logger in loggers:
        logger.addHandler(watch)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(traceback, "print_exception", printed)  # traceback.print_exc calls it
        mp.setattr(threading, "excepthook", thread_died)
        yield watch
    for logger in loggers:
        logger.removeHandler(watch)


@pytest.fixture(autouse=True)
def no_server_traceback_in_browser_tests(request, server_tracebacks):
    """A browser test fails if the server printed or logged a traceback while it ran (a handler that fails
    is a bug even when the page looks right: e.g. a click wired to an output it cannot fill). What another
    test logs is its own business (`ServerTracebacks.excused`): e.g. a test that plants a failing handler."""
    start = len(server_tracebacks.seen)
    yield
    new = server_tracebacks.seen[start:]
    if request.node.get_closest_marker("browser") is None:
        server_tracebacks.excused.update(range(start, len(server_tracebacks.seen)))
        return
    assert not new, f"the server logged {len(new)} traceback(s) during this test:\n" + "\n".join(new)


@pytest.fixture(scope="module", autouse=True)
def no_server_traceback_around_browser_tests(request, server_tracebacks):
    """The rest of the browser suite: in a module with a browser test, a traceback logged outside any test —
    while its server starts or warms up, between its tests, or while a run that outlived its test ends —
    fails the module (an error at its last test), so no server-side traceback goes unseen."""
    selected = [item for item in request.session.items if item.module is request.module]
    start = len(server_tracebacks.seen)
    yield
    if not any(item.get_closest_marker("browser") is not None for item in selected):
        return
    new = [t for i, t in enumerate(server_tracebacks.seen[start:], start) if i not in server_tracebacks.excused]
    assert not new, (f"the server logged {len(new)} traceback(s) in {request.module.__name__} outside its "
                     "browser tests:\n" + "\n".join(new))
