"""Fixtures every test file shares: one torch thread and a private temp folder per module, and a headless
Chromium (Debian's /usr/bin/chromium driven by PyPI playwright; never `playwright install`)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import torch

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_own_temp_dir(tmp_path_factory):
    """Two trainings at once on two cores: one thread each, as `python app.py` sets it. Session folders
    and other temporary files go to pytest's temporary directory, not /tmp."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))
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
