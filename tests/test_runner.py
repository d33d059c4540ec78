"""The run lifecycle Train and Race share (charrnn_app/runner.py): one run per tab through a real server
(two submits from one client; Train then a race while queued), the slot taken under a lock, the hooks,
the throttle, and the two things written once (adopt, snapshot).

Tiny texts and budgets of a few seconds: the file takes about half a minute on two cores.
"""

from __future__ import annotations

import contextlib
import threading
import time

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
from charrnn_app import racing, runner, training
from charrnn_app.runner import Runner, RunReport, Throttle, adopt, snapshot
from charrnn_app.session import Session
from charrnn_app.settings import Settings

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120
SMALL = {"n_hidden": "16", "n_layer": "1", "batch_size": "4", "seq_len": "16"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(concurrency=2, max_seconds=30, max_race_seconds=30, examples_dir=tmp_path_factory.mktemp("ex"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "cats.txt"
    path.write_text(TEXT)
    return path


@contextlib.contextmanager
def served(settings: Settings):
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    try:
        yield url, demo
    finally:
        demo.close()


def outcome(job) -> str:
    """The run's last status, or the refusal's message."""
    try:
        return job.result(timeout=90)[0]
    except AppError as e:
        return f"refused: {e}"


def run_ids(client) -> list[int]:
    return [row[0] for row in client.predict(api_name="/runs")["data"]]


def wait_queued(job, seconds: float = 20) -> None:
    deadline = time.perf_counter() + seconds
    while job.status().code.name != "IN_QUEUE" and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert job.status().code.name == "IN_QUEUE", job.status()


# ── one run per tab, through a real server ─────────────────────────────────────────────────────────

@pytest.mark.server
def test_two_submits_from_one_client_train_once_and_the_second_is_refused(settings, corpus):
    """Two free slots: both requests start together; the tab's slot lets one in (before: both trained,
    the runs table showed "run 1" twice, and continuing one model twice killed a run)."""
    with served(settings) as (url, demo):
        client = Client(url, verbose=False)
        args = dict(corpus=handle_file(str(corpus)), model="gru", time_budget=5, max_steps=40, api_name="/train",
                    **SMALL)
        first, second = client.submit(**args), client.submit(**args)
        results = sorted([outcome(first), outcome(second)])
        assert "Done" in results[0] and results[1].startswith("refused") and "already training" in results[1]
        assert run_ids(client) == [1]
        # Continuing the trained model twice at once: one continues it, the other is refused; the model lives.
        again = [client.submit(**{**args, "max_steps": 5}) for _ in range(2)]
        results = sorted(outcome(j) for j in again)
        assert "Done" in results[0] and "already training" in results[1]
        assert run_ids(client) == [1]  # the one run, continued once
        assert len(client.predict(prompt="the", length=20, api_name="/sample")) == 23
        assert all(not s.running for s in demo.sessions.sessions())


@pytest.mark.server
def test_train_then_a_race_while_queued_runs_the_train_and_refuses_the_race(settings, corpus):
    """One slot, taken by another student. This tab sends Train, then a race, both waiting in line: the
    Train runs when the slot frees; the race, sent while this tab's run was waiting, is refused when it
    reaches the front (it never replaces the queued Train, which would cost the tab its place in line)."""
    with served(Settings(**{**settings.__dict__, "concurrency": 1})) as (url, _):
        blocker = Client(url, verbose=False).submit(corpus=handle_file(str(corpus)), model="gru", time_budget=5,
                                                    api_name="/train", **SMALL)
        for out in blocker:
            if "Starting" in out[0] or "Training" in out[0]:
                break
        student = Client(url, verbose=False)
        train = student.submit(corpus=handle_file(str(corpus)), model="gru", time_budget=5, max_steps=20,
                               api_name="/train", **SMALL)
        wait_queued(train)
        race = student.submit(corpus=handle_file(str(corpus)), models=["ngram", "mlp"], time_budget=1,
                              api_name="/race")
        wait_queued(race)
        assert "Done" in outcome(train)
        refused = outcome(race)
        assert refused.startswith("refused") and "one run per tab" in refused, refused
        assert run_ids(student) == [1]
        assert "Done" in outcome(blocker)
        # Later, with the tab's run over, a race is welcome.
        raced = student.predict(corpus=handle_file(str(corpus)), models=["ngram"], time_budget=1, api_name="/race")
        assert "Done" in raced[0] and run_ids(student) == [1, 2]


# ── the lifecycle, called directly ─────────────────────────────────────────────────────────────────

def test_two_threads_on_one_tab_take_its_slot_once(settings):
    """The slot is checked and taken under a lock: of two requests reaching the handler together, one trains."""
    handler = training.train_handler(settings, {})
    session, results, start = Session(), [], threading.Barrier(2)

    def press():
        start.wait()
        try:
            results.append(list(handler(session, text=TEXT, model="gru", time_budget=1, **SMALL))[-1][0])
        except gr.Error as e:
            results.append(f"refused: {e.message}")

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.split(":")[0] for r in results) == ["**Done", "refused"], results
    assert [r.run_id for r in session.runs] == [1] and not session.running


def test_hooks_hear_each_run_and_a_failing_hook_spoils_nothing(settings):
    reports: list[RunReport] = []
    hooked = Runner()
    hooked.on_start.append(reports.append)
    hooked.on_finish.append(reports.append)
    hooked.on_finish.append(lambda report: 1 / 0)  # logged, never the user's problem
    s = Session()
    outs = list(training.train_handler(settings, {}, hooked)(s, text=TEXT, model="gru", max_steps=3, **SMALL))
    assert "Done" in outs[-1][0]
    assert [(r.kind, r.outcome) for r in reports] == [("train", "started"), ("train", "done")]
    assert reports[-1].records == (s.runs[0],) and reports[-1].session is s and reports[-1].tab is None
    race = racing.race_handler(settings, {}, hooked)
    outs = list(race(s, text=TEXT, models=["ngram", "mlp"], time_budget=1))
    assert "Done" in outs[-1][0]
    assert [(r.kind, r.outcome) for r in reports[2:]] == [("race", "started"), ("race", "done")]
    assert [r.run_id for r in reports[-1].records] == [2, 3]


def test_a_refused_plan_says_not_started_and_leaves_the_slot_free(settings):
    s = Session()
    handler = training.train_handler(settings, {})
    outs = []
    with pytest.raises(gr.Error, match="lr must be"):
        for out in handler(s, text=TEXT, model="gru", lr="-1"):
            outs.append(out)
    assert outs[-1][0].startswith("**Not started:**") and not s.running and not s.pending
    assert "Done" in list(handler(s, text=TEXT, model="gru", max_steps=2, **SMALL))[-1][0]


def test_stop_during_a_run_and_while_waiting(settings):
    s = Session()
    assert runner.stop_training(s) == gr.skip()  # nothing to stop: nothing changes on the page
    runner.mark_pending(s, 30)
    assert s.pending and s.pending_budget == 30
    assert "Cancelled" in runner.stop_training(s)
    outs = list(training.train_handler(settings, {})(s, text=TEXT, model="gru", **SMALL))
    assert len(outs) == 1 and "Cancelled" in outs[0][0] and s.bundle is None and not s.running


def test_the_throttle_lets_about_three_updates_a_second_through():
    due = Throttle(every=0.05)
    start, passed = time.perf_counter(), 0
    while time.perf_counter() - start < 0.5:
        passed += due()
    assert 5 <= passed <= 12  # ~10 in 0.5 s at one per 0.05 s, however often it is asked
    assert due(urgent=True) and not due()  # urgent always passes, and restarts the wait


def test_adopt_and_snapshot(settings):
    s = Session()
    list(training.train_handler(settings, {})(s, text=TEXT, model="gru", max_steps=2, **SMALL))
    bundle = s.bundle
    other = Session()
    adopt(other, bundle, text=TEXT)
    assert other.bundle is bundle and other.uniform == pytest.approx(s.uniform) and other.unigram == pytest.approx(
        s.unigram) and other.train_text is None
    assert snapshot(other, bundle) is bundle  # nothing trains: the model itself
    other.running = True
    copy = snapshot(other, bundle)
    assert copy is not bundle and copy.model is not bundle.model and copy.vocab is bundle.vocab
    assert snapshot(other, None) is None


def test_a_run_gradio_closes_frees_the_slot_keeps_the_model_and_reports_stopped(settings):
    """An API client's cancel (or a closed connection) closes the handler's generator at a yield."""
    reports: list[RunReport] = []
    hooked = Runner()
    hooked.on_finish.append(reports.append)
    s = Session()
    run = training.train_handler(settings, {}, hooked)(s, text=TEXT, model="gru", time_budget=5, **SMALL)
    next(run), next(run)  # the first update, then the first chart
    run.close()
    assert not s.running and s.bundle is not None and s.runs[0].stopped
    assert [(r.kind, r.outcome) for r in reports] == [("train", "stopped")]
    assert "Done" in list(training.train_handler(settings, {})(s, text=TEXT, model="gru", max_steps=2, **SMALL))[-1][0]
