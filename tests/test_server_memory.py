"""Issue 18, item 4: a server-wide memory budget. What all tabs keep is counted together (CHARRNN_MAX_SERVER_MB
less what runs and views may take); the oldest idle tab's models are set aside first, keeping its curves and
saying so; loss histories count in a tab's budget (a crafted 3,000,000-row history held ~700 MB); sessions that
never disconnect (a script's raw HTTP calls, ~370 KB each in Gradio's store) are forgotten instead of kept.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from safetensors import safe_open
from safetensors.torch import save_file

from charrnn.options import SettingError
from charrnn_app import memory, sampling, training
from charrnn_app.memory import ServerMemory
from charrnn_app.session import Session
from charrnn_app.settings import Settings

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 60


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text(TEXT)
    return Settings(concurrency=2, max_seconds=30, max_tab_mb=5, session_ttl=600, examples_dir=examples)


def trained_tab(settings, shared: ServerMemory, n_hidden: int = 32, idle: float = 0.0) -> Session:
    """A tab that trained a small GRU (a real run through the page's Train handler), last used `idle` s ago."""
    session = Session(memory=shared)
    list(training.train_handler(settings, {})(session, text=TEXT, model="gru", n_hidden=str(n_hidden),
                                               n_layer="1", max_steps=2))
    session.last_used -= idle
    return session


def test_a_setting_that_leaves_the_tabs_no_room_is_refused_at_start():
    with pytest.raises(ValueError, match="MAX_SERVER_MB=4000 leaves .* Raise CHARRNN_MAX_SERVER_MB to at least"):
        Settings.from_env({"CHARRNN_MAX_SERVER_MB": "4000"})
    ok = Settings.from_env({"CHARRNN_MAX_SERVER_MB": "4000", "CHARRNN_MAX_RUN_MB": "500"})
    assert ok.tabs_mb == 4000 - 1000 - 2 * 500 - 2 * 300


def test_the_oldest_idle_tabs_models_are_set_aside_to_make_room_and_they_are_told(settings):
    shared = ServerMemory(budget_mb=None)
    oldest, older, recent = (trained_tab(settings, shared, idle=s) for s in (3600, 1800, 5))
    busy = trained_tab(settings, shared, idle=7200)
    busy.running = True  # training now: never set aside
    each = oldest.kept_bytes() / memory.MB
    shared.budget_mb = shared.kept_bytes() / memory.MB + each / 2  # room for half a tab more
    newcomer = Session(memory=shared)
    newcomer.check_room(int(each * memory.MB), settings.max_tab_mb)  # needs one tab's worth
    assert oldest.bundle is None and all(r.bundle is None for r in oldest.runs)
    assert older.bundle is not None and recent.bundle is not None and busy.bundle is not None
    assert oldest.runs and oldest.runs[-1].curve.step and oldest.runs[-1].film  # the curves stay
    assert "set aside" in oldest.notice and "curves" in oldest.notice
    with pytest.raises(Exception, match="set aside after 60 minutes"):  # a sample says why there is no model
        list(sampling.sample_text(oldest, "the "))
    assert oldest.notice is None  # said once
    # Training again brings a model back and clears the reason.
    list(training.train_handler(settings, {})(oldest, text=TEXT, model="gru", n_hidden="32", n_layer="1",
                                              max_steps=2))
    assert oldest.bundle is not None and oldest.set_aside_because is None


def test_when_no_idle_tab_can_make_room_the_run_is_refused_and_nothing_is_set_aside(settings):
    shared = ServerMemory(budget_mb=None)
    recent = trained_tab(settings, shared, idle=5)  # used within the last minute: being read now
    shared.budget_mb = shared.kept_bytes() / memory.MB + 0.01
    with pytest.raises(SettingError, match="this server is full: its 2 tabs would keep .* Try again in a few"):
        Session(memory=shared).check_room(recent.kept_bytes(), settings.max_tab_mb)
    assert recent.bundle is not None and recent.notice is None


def test_a_closed_tab_no_longer_counts(settings):
    shared = ServerMemory(budget_mb=None)
    tab = trained_tab(settings, shared)
    assert shared.kept_bytes() == tab.kept_bytes() > 0
    tab.close()
    assert shared.kept_bytes() == 0


def test_a_loss_history_counts_in_the_tabs_budget(settings):
    tab = trained_tab(settings, ServerMemory(budget_mb=None))
    before = tab.kept_bytes()
    h = tab.bundle.history
    rows = 100_000
    h.step += list(range(rows))
    h.chars += list(range(rows))
    h.train_loss += [1.0] * rows
    h.seconds += [0.0] * rows
    assert tab.kept_bytes() - before == memory.HISTORY_ROW_BYTES * rows


# ---- through a real server ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(settings):
    import app

    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    yield url, demo
    demo.close()


def lengthened(path, tmp_path, rows: int):
    """The checkpoint at `path` with a loss history of `rows` rows (a crafted file: valid, only long)."""
    with safe_open(path, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    history = torch.zeros(rows, 3, dtype=torch.float64)
    history[:, 0] = history[:, 1] = torch.arange(rows, dtype=torch.float64)
    tensors["history.train"] = history  # 24 bytes a row in the file (3,000,000 rows: 72 MB, under the upload limit)
    tensors.pop("history.train_seconds", None)  # optional: read as unknown (NaN) seconds
    out = tmp_path / f"history-{rows}.safetensors"
    save_file(tensors, str(out), metadata=meta)
    return out


@pytest.mark.server
def test_a_crafted_checkpoint_with_a_long_history_is_refused_or_counted(served, settings, tmp_path):
    url, _ = served
    client = Client(url, verbose=False)
    out = client.predict(example="tiny", model="gru", max_steps=2, n_hidden=16, n_layer=1, api_name="/train")
    assert settings.max_history_rows == 10_005  # a quarter of the 5 MB tab budget, 131 bytes a row
    with pytest.raises(AppError, match="has 3,000,000 rows, more than the 10,005"):
        client.predict(file=handle_file(str(lengthened(out[3], tmp_path, 3_000_000))), api_name="/load_checkpoint")
    status = client.predict(file=handle_file(str(lengthened(out[3], tmp_path, 10_000))), api_name="/load_checkpoint")
    assert "Loaded" in status[0]  # 1.3 MB of history: within the tab's 5 MB, and counted there


@pytest.mark.server
def test_sessions_that_never_disconnect_are_forgotten(served, monkeypatch):
    from charrnn_app import page

    url, demo = served
    # Long while the calls are made (on a slow or busy CPU 30 calls take more than a second, and a sweep meanwhile
    # would forget the first ones before they are counted), then 1 s (60 s on a real server).
    monkeypatch.setattr(page, "EMPTY_SESSION_SECONDS", 3600.0)
    store = demo.server_app.state_holder.session_data  # Gradio's store of sessions (read only)
    keeper = Client(url, verbose=False)  # an API client that keeps a model: stays until the TTL (600 s)
    keeper.predict(example="tiny", model="gru", max_steps=2, n_hidden=16, n_layer=1, api_name="/train")
    params = httpx.get(url + "gradio_api/info").json()["named_endpoints"]["/sample"]["parameters"]
    data = [p.get("parameter_default") for p in params]
    # the sessions there before, by name: one of an earlier test may reach its own end meanwhile (CI, busy CPU:
    # counting them, 31 of "2 + 30" were left after the calls)
    before = set(store)
    for _ in range(30):  # a script's raw calls: a new session each, never disconnected, keeping nothing
        r = httpx.post(url + "gradio_api/call/sample", content=json.dumps({"data": data}),
                       headers={"content-type": "application/json"})
        httpx.get(url + f"gradio_api/call/sample/{r.json()['event_id']}").raise_for_status()
    assert len(set(store) - before) >= 30
    monkeypatch.setattr(page, "EMPTY_SESSION_SECONDS", 1.0)
    time.sleep(1.5)
    assert demo.expire_idle() >= 30
    assert keeper.session_hash in store and not set(store) - before
    assert set(keeper.predict(prompt="the", length=20, api_name="/sample")) <= set(TEXT)  # its model is there


@pytest.mark.server
def test_what_a_never_disconnected_call_leaves_is_gone_after_expiry(served, monkeypatch):
    """Counted in objects, not RSS: after expiry no raw call's Session, Gradio session state, message
    queue or event-id set is left (Gradio drops the last two only when a client disconnects)."""
    import gc

    from charrnn_app import page
    from charrnn_app.session import Session

    url, demo = served
    monkeypatch.setattr(page, "EMPTY_SESSION_SECONDS", 1.0)
    queue = demo._queue
    params = httpx.get(url + "gradio_api/info").json()["named_endpoints"]["/sample"]["parameters"]
    data = [p.get("parameter_default") for p in params]
    demo.expire_idle()
    gc.collect()
    sessions_before = sum(isinstance(o, Session) for o in gc.get_objects())
    known = set(demo.server_app.state_holder.session_data)  # a client of another test may stay (it keeps a model)
    for _ in range(20):
        r = httpx.post(url + "gradio_api/call/sample", content=json.dumps({"data": data}),
                       headers={"content-type": "application/json"})
        httpx.get(url + f"gradio_api/call/sample/{r.json()['event_id']}").raise_for_status()
    hashes = [h for h in demo.server_app.state_holder.session_data
              if h not in known and h in queue.pending_messages_per_session]
    assert len(hashes) >= 20  # each raw call: a session with a message queue of its own
    time.sleep(1.5)
    assert demo.expire_idle() >= 20
    gc.collect()
    for h in hashes:
        assert h not in demo.server_app.state_holder.session_data
        assert h not in queue.pending_messages_per_session and h not in queue.pending_event_ids_session
        assert h not in demo.sessions
    assert sum(isinstance(o, Session) for o in gc.get_objects()) <= sessions_before
