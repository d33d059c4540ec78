"""A classroom server that no request can knock over: each hostile or careless input against a real
in-process server (the estimate refuses before allocating, so these stay cheap), runs that end on time,
Stop for a queued API job, files and closed tabs freed, and the page's state after errors and while
waiting in line (headless Chromium).
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
from charrnn import plan_run
from charrnn.run import Limits
from charrnn_app import waiting
from charrnn_app.settings import Settings

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("class")
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8))) for _ in range(500)]
    big = " ".join(rng.choice(words) for _ in range(400_000))  # ~2 MB: a held-out tenth of 200,000 characters
    cjk = "".join(chr(0x4E00 + rng.randrange(20_000)) for _ in range(60_000))  # a 19,000-character vocabulary
    out = {"cats": TEXT, "big": big, "cjk": cjk}
    paths = {}
    for name, text in out.items():
        paths[name] = d / f"{name}.txt"
        paths[name].write_text(text)
    # A 456-byte file whose header describes a huge LSTM (n_hidden 9130 × 2 layers).
    meta = {"format": "charrnn", "format_version": "1", "model_name": "lstm", "vocab": json.dumps("abc"),
            "model_config": json.dumps({"n_hidden": 9130, "n_layer": 2, "n_embd": 32}), "train_config": "null",
            "step": "0", "chars_seen": "0", "seconds": "0", "run_step": "0", "run_seconds": "0",
            "rnn_state": "none", "optim_groups": "null"}
    for name, hidden in (("huge", 9130), ("big-model", 4000)):
        meta["model_config"] = json.dumps({"n_hidden": hidden, "n_layer": 2, "n_embd": 32})
        header = json.dumps({"__metadata__": meta}).encode()
        paths[name] = d / f"{name}.safetensors"
        paths[name].write_bytes(struct.pack("<Q", len(header)) + header)
    return paths


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(concurrency=1, max_seconds=30, max_run_mb=1500, max_step_seconds=2.0,
                    examples_dir=tmp_path_factory.mktemp("ex"))


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    temp = pytest.MonkeyPatch()
    temp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-cache")))
    temp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    yield url, demo
    demo.close()
    temp.undo()
    torch.set_num_threads(threads)


def wait_status(page, words: str, timeout: float = 30_000) -> None:
    """Wait until the page's status line says `words`; a timeout fails with what it said instead."""
    try:
        page.wait_for_function(f"document.querySelector('#status')?.innerText.includes({json.dumps(words)})",
                               timeout=timeout)
    except Exception:
        pytest.fail(f"the status never said {words!r}; it says {page.inner_text('#status')!r}")


def train(client, path, **kw):
    return client.predict(corpus=handle_file(str(path)), api_name="/train", **{"model": "gru", **kw})


# ── memory: refused before anything is allocated ─────────────────────────────────────────────────

@pytest.mark.server
@pytest.mark.parametrize("path, kw, words", [
    ("big", {"model": "lstm", "batch_size": "1024", "seq_len": "1024"}, "Lower batch_size to"),
    ("big", {"model": "lstm", "n_hidden": "1024", "n_layer": "1", "batch_size": "64", "seq_len": "256"},
     "per training step"),
    ("big", {"model": "lstm", "n_hidden": "4096", "n_layer": "2"}, "allows at most 20,000,000"),
    ("big", {"model": "transformer", "n_layer": "12", "n_embd": "256", "n_head": "16", "block_size": "1024",
              "seq_len": "1024", "batch_size": "64"}, "this server allows 1,500 MB"),
    ("cjk", {"model": "lstm", "batch_size": "1024", "seq_len": "1024", "n_hidden": "64"}, "logits"),
])
def test_a_run_over_the_memory_or_step_budget_is_refused_before_allocating(server, files, path, kw, words):
    url, _ = server
    client = Client(url, verbose=False)
    before = rss_mb()
    with pytest.raises(AppError, match=words):
        train(client, files[path], max_steps=1, **kw)
    assert rss_mb() - before < 200  # nothing big was built


@pytest.mark.server
def test_a_checkpoint_header_describing_a_huge_model_is_refused_before_building_it(server, files):
    url, _ = server
    before = rss_mb()
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match="describes an impossible model: n_hidden must be"):
        client.predict(file=handle_file(str(files["huge"])), api_name="/load_checkpoint")
    with pytest.raises(AppError, match="with 192,.* parameters .*n_hidden=4000.*allows at most 20,000,000"):
        client.predict(file=handle_file(str(files["big-model"])), api_name="/load_checkpoint")
    assert files["huge"].stat().st_size < 600 and rss_mb() - before < 100


def test_any_model_the_server_lets_a_user_train_can_be_uploaded_again():
    s = Settings()
    biggest = plan_run(TEXT, "lstm", {"n_hidden": 1100, "n_layer": 2}, limits=s.limits)  # ~15M parameters
    assert biggest.n_params > 2_500_000
    assert 4 * biggest.n_params + 1_000_000 < s.max_checkpoint_bytes <= s.max_file_bytes


# ── time: a run lets go of its slot soon after its budget ──────────────────────────────────────────

@pytest.mark.server
@pytest.mark.parametrize("path, kw", [("big", {"model": "lstm", "n_hidden": "1024", "n_layer": "1"}),
                                      ("cjk", {"model": "gru", "n_hidden": "64"}), ("big", {"model": "ngram"}),
                                      ("cjk", {"model": "ngram", "order": "3"})])
def test_runs_end_soon_after_their_budget(server, files, path, kw):
    """Before the bounds, validation grew with the text and the vocabulary: 161 s and 30 s for a 5 s budget.
    The aim (within 3 s) is a speed figure, measured on a quiet machine by benchmarks/classroom.py (max
    2.40 s there); here the bound has room for a loaded machine and still catches the kind."""
    url, _ = server
    job = Client(url, verbose=False).submit(corpus=handle_file(str(files[path])), time_budget=5, api_name="/train",
                                            **kw)
    started = None
    for out in job:
        if started is None and ("Starting" in out[0] or "Training" in out[0]):
            started = time.perf_counter()
    final = job.outputs()[-1]
    assert started is not None and "Done" in final[0], final[0]
    assert time.perf_counter() - started < 5 + 10


def test_a_huge_vocabulary_does_not_take_the_servers_memory(files, settings):
    """An n-gram scores every position against every character: 19,000 of them here. Validation pieces
    are sized by the vocabulary, so a run stays within ~200 MB of what the server had."""
    from charrnn_app import training
    from charrnn_app.session import Session

    handler = training.train_handler(settings, {})
    list(handler(Session(), text="warm up " * 200, model="ngram", max_steps=1))
    before = rss_mb()
    peak = before
    for _ in handler(Session(), corpus=str(files["cjk"]), model="ngram", order="3", time_budget=5):
        peak = max(peak, rss_mb())
    assert peak - before < 200


def test_validation_on_a_server_reads_a_fixed_sample_sized_to_the_model():
    limits = Settings().limits
    fast = plan_run(TEXT * 40, "gru", {"n_hidden": 32}, limits=limits)
    slow = plan_run(TEXT * 40, "lstm", {"n_hidden": 1024, "n_layer": 1}, limits=limits)
    assert fast.train_config.final_eval_chars == 50_000  # the server's fixed sample
    assert slow.train_config.final_eval_chars < 50_000  # a slow model reads fewer, in about a second
    assert plan_run(TEXT * 40, "gru").train_config.final_eval_chars == 200_000  # the CLI: no server bounds
    assert plan_run(TEXT, "gru", {"final_eval_chars": 3000}, limits=limits).train_config.final_eval_chars == 3000


def test_start_estimate_plays_the_queue_forward():
    assert waiting.start_estimate([], [], 2) == 0  # a free slot
    assert waiting.start_estimate([10, 20], [], 2) == 10
    assert waiting.start_estimate([10, 20], [30], 2) == 20  # the run ahead takes the slot freed at 10
    assert waiting.start_estimate([10], [30, 30], 1) == 70
    assert waiting._ordinal(2) == "2nd" and waiting._ordinal(11) == "11th" and waiting._ordinal(23) == "23rd"


# ── the API: every value checked, Stop reaches a queued job ───────────────────────────────────────

@pytest.mark.server
def test_stop_reaches_an_api_job_waiting_in_the_queue(server, files):
    url, _ = server
    blocker = Client(url, verbose=False).submit(corpus=handle_file(str(files["cats"])), model="gru",
                                                time_budget=5, api_name="/train")  # holds the one slot
    for out in blocker:
        if "Training" in out[0] or "Starting" in out[0]:
            break
    student = Client(url, verbose=False)
    queued = student.submit(corpus=handle_file(str(files["cats"])), model="gru", time_budget=5, api_name="/train")
    deadline = time.perf_counter() + 10
    while queued.status().code.name not in ("IN_QUEUE", "QUEUE_FULL") and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert "Cancelled" in student.predict(api_name="/stop")
    assert "Cancelled" in queued.result(timeout=60)[0]  # it never trained
    with pytest.raises(AppError, match="No model yet"):
        student.predict(prompt="a", api_name="/sample")
    blocker.result(timeout=60)


def _raw(url: str, api: str, **values):
    """A hostile client: raw JSON with NaN / Infinity, which gradio_client refuses to send."""
    info = httpx.get(url + "gradio_api/info").json()["named_endpoints"][api]["parameters"]
    values = {"text": TEXT, **values}  # pasted text, where the endpoint takes it
    data = [values.get(p["parameter_name"], p.get("parameter_default")) for p in info]
    r = httpx.post(url + "gradio_api/call" + api, content=json.dumps({"data": data}),
                   headers={"content-type": "application/json"})
    return httpx.get(url + f"gradio_api/call{api}/{r.json()['event_id']}", timeout=60).text


@pytest.mark.server
@pytest.mark.parametrize("api, values, words", [
    ("/train", {"max_steps": float("nan")}, "max_steps must be a finite number"),
    ("/train", {"smoothing": float("nan"), "model": "ngram"}, "smoothing must be a finite number"),
    ("/train", {"lr": float("inf")}, "lr must be a finite number"),
    ("/train", {"time_budget": float("nan")}, "time_budget must be a finite number"),
    ("/sample", {"seed": float("nan")}, "No model yet"),
])
def test_nan_and_infinity_in_raw_json_get_a_clear_message(server, files, api, values, words):
    url, _ = server
    out = _raw(url, api, **values)
    assert "event: error" in out and words in out, out[-300:]


@pytest.mark.server
def test_a_failed_run_never_replaces_the_working_model(server, files):
    url, _ = server
    client = Client(url, verbose=False)
    train(client, files["cats"], model="ngram", time_budget=5)
    with pytest.raises(AppError, match="smoothing"):
        train(client, files["cats"], model="ngram", reset=True, smoothing="nan")
    with pytest.raises(AppError, match="seed must be"):
        client.predict(prompt="the", seed=2**64, api_name="/sample")
    assert client.predict(prompt="the", length=20, seed=1, api_name="/sample").startswith("the")


# ── files and sessions freed ──────────────────────────────────────────────────────────────────────

@pytest.mark.server
def test_one_checkpoint_file_per_tab_and_no_copies(server, files):
    url, demo = server
    cache = Path(demo.GRADIO_CACHE)
    before = {p for p in cache.rglob("*.safetensors")}
    client = Client(url, verbose=False)
    names = {Path(train(client, files["cats"], model="ngram", time_budget=5)[3]).name for _ in range(4)}
    assert len(names) == 4  # each run offered its own file (named by its step)…
    after = {p for p in cache.rglob("*.safetensors")} - before
    assert len(after) == 1  # …and the server keeps one, written where Gradio serves it from: no copies


@pytest.mark.browser
def test_the_page_stays_usable_and_says_what_is_true(server, files, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no chromium binary (install Debian's `chromium`; never `playwright install`)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    url, demo = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage"])
        first, second, third = (browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(3))
        for page in (first, second, third):
            page.set_default_timeout(30_000)
            page.goto(url + "?budget=5")
            page.wait_for_function("document.querySelector('#plan')?.innerText.includes('5 s')")
        tabs = len(demo.sessions)
        for page in (first, second, third):  # as a student does: Train once the page has read the upload
            page.set_input_files("#corpus-file input[type=file]", str(files["cats"]))
            page.wait_for_function("document.querySelector('#corpus-stats')?.innerText.includes('cats.txt')")
        first.click("#train")
        wait_status(first, "Training")
        second.click("#train")  # one slot, taken: the second student waits and is told where they stand
        wait_status(second, "1st in line")
        assert "should start in about" in second.inner_text("#status")
        third.click("#train")
        wait_status(third, "in line")
        third.click("#stop")  # a queued run cancelled: the status says so, and the queue's timer leaves it
        wait_status(third, "Cancelled")
        time.sleep(2.5)  # longer than the timer's period
        assert "Cancelled" in third.inner_text("#status"), third.inner_text("#status")
        wait_status(second, "Training", 60_000)
        wait_status(first, "Done")
        # A refused checkpoint: the message says so, the chart and the settings stay as they were.
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"not a checkpoint" * 10)
        first.get_by_role("tab", name="Keep").click()
        first.set_input_files("#checkpoint-file input[type=file]", str(bad))
        first.wait_for_selector(".toast-body")
        first.get_by_role("tab", name="Train").click()
        assert first.is_visible("#loss-plot .js-plotly-plot") and first.is_visible("#plan")
        # A refused run: the status says it did not start (not "Waiting…").
        first.click("#settings")
        first.fill("#opt-lr input, #opt-lr textarea", "-1")
        first.click("#train")
        wait_status(first, "Not started")
        assert "lr must be" in first.inner_text("#status") and first.is_visible("#loss-plot .js-plotly-plot")
        # Closing a tab frees its model and files at once (not after Gradio's hour).
        wait_status(second, "Done", 60_000)
        assert len(demo.sessions) >= tabs
        second.close()
        deadline = time.perf_counter() + 30
        while len(demo.sessions) >= tabs and time.perf_counter() < deadline:
            time.sleep(0.2)
        assert len(demo.sessions) < tabs
        browser.close()


@pytest.mark.browser
def test_two_students_upload_the_same_text_and_one_leaves(server, files, browser):
    """The teacher hands out one text: Gradio keeps one file for both uploads. The first student closing
    the tab must not take the second student's text with it."""
    url, demo = server
    pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    for page in pages:
        page.set_default_timeout(30_000)
        page.goto(url + "?budget=5&model=ngram")
        page.wait_for_function("document.querySelector('#plan')?.innerText.includes('5 s')")
        page.set_input_files("#corpus-file input[type=file]", str(files["cats"]))
        page.wait_for_function("document.querySelector('#corpus-stats')?.innerText.includes('cats.txt')")
    tabs = len(demo.sessions)
    pages[0].close()
    deadline = time.perf_counter() + 30
    while len(demo.sessions) >= tabs and time.perf_counter() < deadline:
        time.sleep(0.2)
    assert len(demo.sessions) < tabs  # the first tab is gone, with what it kept
    pages[1].click("#train")
    wait_status(pages[1], "Done", 60_000)
    pages[1].close()


def test_limits_are_checked_in_the_core_too():
    with pytest.raises(ValueError, match="this server allows 10 MB"):
        plan_run(TEXT * 20, "lstm", {"batch_size": 512, "seq_len": 512}, limits=Limits(max_run_mb=10))


def test_a_tab_keeps_no_more_than_its_budget(tmp_path):
    from charrnn_app import training
    from charrnn_app.session import Session

    tight = Settings(max_tab_mb=2, examples_dir=tmp_path)
    handler = training.train_handler(tight, {})
    with pytest.raises(Exception, match="this tab would keep about .* MB .* allows 2 MB a tab"):
        list(handler(Session(), text=TEXT, model="gru", n_hidden="256", max_steps=1))
    assert list(handler(Session(), text=TEXT, model="gru", n_hidden="16", max_steps=1))  # a small one fits


def test_an_upload_goes_with_the_last_tab_that_used_it(tmp_path):
    """Gradio keeps one file per content, shared by tabs that upload the same bytes: closing one tab must
    not take a file another tab (or its queued run) still needs; the last one takes it."""
    from charrnn_app.server import Uploads
    from charrnn_app.session import Session

    ledger = Uploads()
    shared, own = tmp_path / "abc123" / "text.txt", tmp_path / "def456" / "mine.txt"
    for p in (shared, own):
        p.parent.mkdir()
        p.write_text("x")
    a, b = Session(uploads=ledger), Session(uploads=ledger)
    ledger.use(a, str(shared))
    ledger.use(b, str(shared))
    ledger.use(b, str(own))
    a.close()
    assert shared.exists() and own.exists()
    b.close()
    assert not shared.exists() and not own.exists() and not own.parent.exists()


def _uploaded_twice(tmp_path):
    """Two tabs of one ledger and one cache file: the first tab claimed it, then the second student's
    upload of the same bytes renamed a fresh file over the path (what Gradio's upload route does), before
    the second tab told the ledger. Returns (path, first, second)."""
    import os

    from charrnn_app.server import Uploads
    from charrnn_app.session import Session

    ledger = Uploads()
    path = tmp_path / "abc123" / "cats.txt"
    path.parent.mkdir()
    path.write_text(TEXT)
    first, second = Session(uploads=ledger), Session(uploads=ledger)
    first.claim(str(path))
    time.sleep(0.01)
    (tmp_path / "fresh").write_text(TEXT)
    os.rename(tmp_path / "fresh", path)
    return path, first, second


def test_a_file_uploaded_again_by_another_tab_stays_when_the_first_tab_closes(tmp_path):
    """Two students upload the same text (one file in Gradio's cache, named by its bytes): the first tab
    closing must not take the second's (seen in the page: "no such file" on Train). The second's close does."""
    path, first, second = _uploaded_twice(tmp_path)
    first.close()
    assert path.exists()  # the second tab's Train still finds it
    second.claim(str(path))  # its upload event (or its Train)
    second.close()
    assert not path.exists() and not path.parent.exists()


def test_a_run_cancelled_in_the_queue_still_takes_its_upload_with_its_tab(tmp_path, settings):
    """The second student presses Stop while queued: the run never starts, but the file it brought is
    theirs, and goes when their tab goes."""
    from charrnn_app import training

    path, first, second = _uploaded_twice(tmp_path)
    second.pending = second.stop = True  # Stop while its Train waited in the queue
    out = list(training.train_handler(settings, {})(second, corpus=str(path), model="gru"))
    assert "Cancelled" in out[-1][0]
    first.close()
    assert path.exists()
    second.close()
    assert not path.exists()


def test_a_tab_closed_on_several_threads_at_once_frees_its_files_once(tmp_path):
    """The unload handler, Gradio's expiry and the page's own close can release one tab at the same time
    (on different threads): each must succeed, and the shared file goes exactly when its last tab goes."""
    errors = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes: a race shows up at once
    try:
        _close_concurrently(tmp_path, errors)
    finally:
        sys.setswitchinterval(switch)
    assert errors == []


def _close_concurrently(tmp_path, errors):
    import threading

    from charrnn_app.server import Uploads
    from charrnn_app.session import Session

    for round_ in range(40):
        ledger = Uploads()
        path = tmp_path / f"h{round_}" / "text.txt"
        path.parent.mkdir()
        path.write_text("x")
        tabs = [Session(uploads=ledger) for _ in range(4)]
        for tab in tabs:
            ledger.use(tab, str(path))
        start = threading.Barrier(8)

        def close(tab, start=start):
            start.wait()
            try:
                tab.close()
            except Exception as e:  # noqa: BLE001 — any exception here is the bug
                errors.append(e)

        threads = [threading.Thread(target=close, args=(tabs[i % 4],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not path.exists() and not path.parent.exists()


def test_gradios_empty_upload_leftovers_are_swept_without_any_tab_event(tmp_path):
    """Gradio's upload route leaves an empty `tmp…` file per upload. The server sweeps them on its own
    clock too: the class's last upload is otherwise left behind (found by benchmarks/classroom.py)."""
    import os

    from charrnn_app.server import keep_sweeping_empty_uploads

    old, young, upload = tmp_path / "tmpold123", tmp_path / "tmpnew456", tmp_path / "abc" / "text.txt"
    upload.parent.mkdir()
    for p in (old, young):
        p.touch()
    upload.write_text("keep me")
    os.utime(old, (time.time() - 120, time.time() - 120))  # two minutes old: its upload is long over
    stop = keep_sweeping_empty_uploads(tmp_path, every=0.05)
    try:
        deadline = time.perf_counter() + 5
        while old.exists() and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert not old.exists() and young.exists() and upload.exists()  # an upload in progress is left alone


def test_a_tab_closed_while_training_ends_its_run_quietly(tmp_path, settings):
    """Closing a tab frees its model at once, also mid-run: the run ends at its next step without an
    error and writes no checkpoint into the closed tab's (removed) folder."""
    from charrnn_app import training
    from charrnn_app.server import Uploads
    from charrnn_app.session import Session

    root = tmp_path / "server"
    session = Session(root=str(root), uploads=Uploads())
    outs = []
    for out in training.train_handler(settings, {})(session, text=TEXT, model="gru", time_budget=5):
        outs.append(out)
        if len(outs) == 2:
            session.close()
    assert session.bundle is None and not list(root.rglob("*.safetensors"))
