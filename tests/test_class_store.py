"""A class's rules, its SQLite store and its board, without a server: the schema and its version, one
connection per thread under concurrent writes, `:memory:` refused, expiry deleting every row, the size
budget a hostile client cannot push past, reports only through the run lifecycle's hooks (real runs on a
tiny text), the ranking, and every field escaped where the board shows it. About ten seconds.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from charrnn_app import board_view
from charrnn_app import class_rules as rules
from charrnn_app.class_board import Board, Entry, csv_rows, rank, within_budget
from charrnn_app.class_rules import ClassError, ClassLimits, RateLimit, check_nickname, downsample
from charrnn_app.classroom import Classroom
from charrnn_app.classroom_db import MEMORY_REFUSED, MIGRATIONS, ClassRow, ClassStore, RunRow
from charrnn_app.runner import Runner
from charrnn_app.session import Session
from charrnn_app.settings import Settings
from charrnn_app.training import train_handler

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 120
ROOT = Path(__file__).resolve().parent.parent
SMALL = {"n_hidden": "16", "n_layer": "1", "batch_size": "4", "seq_len": "16"}


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(member_id: int, key: str, best: float | None, *, budget: float = 5.0, seconds: float = 4.0, reported=0.0,
        **kw) -> RunRow:
    return RunRow(member_id, key, reported, "train", "gru", "nn.GRU 16×1", {"n_hidden": 16, "lr": 0.003}, 1000, 10,
                  seconds, 500.0, budget, best, best, [(1.0, 3.0), (seconds, best or 3.0)], "the cat", **kw)


def a_class(code: str = "ABCDEFGH", budget: float = 5.0, now: float = 1_000_000.0, ttl: float = 100) -> ClassRow:
    return ClassRow(code, rules.digest("key"), now, now + ttl, None, TEXT, rules.text_digest(TEXT), len(TEXT),
                    ("gru",), None, budget)


# ── the rules ──────────────────────────────────────────────────────────────────────────────────────

def test_codes_are_long_unambiguous_and_forgiving_to_type():
    codes = {rules.new_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(len(c) == 8 and set(c) <= set(rules.CODE_ALPHABET) for c in codes)
    assert not set("01OIL") & set(rules.CODE_ALPHABET)
    assert rules.clean_code(" k7qm-3xpa ") == "K7QM3XPA" and rules.clean_code("K7QM3XP") == ""
    assert rules.clean_code("K7QM3XP0") == ""  # 0 is not in the alphabet
    assert len(rules.CODE_ALPHABET) ** rules.CODE_LENGTH > 8e11


@pytest.mark.parametrize("raw, shown", [("Ada", "Ada"), ("  Ada   Lovelace ", "Ada Lovelace"), ("Zoë_2", "Zoë_2"),
                                        ("O'Brien -- x", "O'Brien -- x"), ("ｆｕｌｌwidth", "fullwidth")])
def test_nicknames_accepted(raw, shown):
    assert check_nickname(raw)[0] == shown


@pytest.mark.parametrize("raw, words", [
    ("", "Pick a nickname"), ("x" * 25, "at most 24"), ("<script>", "not '<'"), ("Bob);DROP", r"not '\)'"),
    ("a=1", "not '='"), ("🙂", "not"), ("Teacher", "reserved"), ("---", "at least one letter"),
    ("sh1t head", "pick another"), ("a\u202eb", "not"),
])
def test_nicknames_refused_with_a_reason(raw, words):
    with pytest.raises(ClassError, match=words):
        check_nickname(raw)


def test_nickname_keys_ignore_case_spaces_and_punctuation():
    assert check_nickname("Ada L")[1] == check_nickname("ada-l")[1] == check_nickname("ADA.L")[1]


def test_rate_limit_counts_within_its_window_and_forgets_old_keys():
    clock = Clock(0)
    limit = RateLimit(3, 60, max_keys=2, clock=clock)
    for _ in range(3):
        assert limit.allowed("a")
        limit.hit("a")
    assert not limit.allowed("a") and limit.wait("a") == pytest.approx(60)
    clock.now = 61
    assert limit.allowed("a") and limit.wait("a") == 0
    limit.hit("b"), limit.hit("c")
    assert len(limit) == 2  # bounded, however many keys a client invents


def test_downsample_keeps_first_last_and_lowest():
    points = [(float(i), 3.0 - i / 1000) for i in range(1000)]
    points[437] = (437.0, 0.5)
    out = downsample(points, 50)
    assert len(out) <= 50 and out[0] == points[0] and out[-1] == points[-1] and (437.0, 0.5) in out
    assert downsample(points[:10], 50) == points[:10]


# ── the store ──────────────────────────────────────────────────────────────────────────────────────

def test_schema_version_wal_and_a_newer_file_refused(tmp_path):
    store = ClassStore(tmp_path / "c.sqlite3")
    assert store.version == len(MIGRATIONS)
    assert store.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.connection().execute("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()
    again = ClassStore(tmp_path / "c.sqlite3")  # an up-to-date file is opened as it is
    assert again.version == len(MIGRATIONS)
    again.connection().execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    again.close()
    with pytest.raises(RuntimeError, match="newer charrnn"):
        ClassStore(tmp_path / "c.sqlite3").connection()


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    from charrnn_app import classroom_db

    monkeypatch.setattr(classroom_db, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE extra (x); THIS IS NOT SQL"])
    with pytest.raises(sqlite3.OperationalError):
        ClassStore(tmp_path / "m.sqlite3").connection()
    conn = sqlite3.connect(tmp_path / "m.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)  # version 1 kept, 2 rolled back
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall()


def test_memory_database_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="CHARRNN_DB=:memory: is refused.*Give a file path"):
        ClassStore(":memory:")
    with pytest.raises(ValueError, match="is refused on a shared server"):
        Settings.from_env({"CHARRNN_DB": ":memory:"})
    assert Settings.from_env({"CHARRNN_DB": "/tmp/x.sqlite3", "CHARRNN_CLASS_TTL": "600"}).class_ttl == 600
    assert Settings.from_env({}).class_db.name == "classes.sqlite3"


def test_the_server_refuses_a_memory_database_in_one_line():
    """`python app.py` with CHARRNN_DB=:memory: says why and exits 2 (no traceback, no server)."""
    env = {**os.environ, "CHARRNN_DB": ":memory:", "GRADIO_SERVER_PORT": "7989"}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-500:]
    assert done.stderr.strip().splitlines() == [f"app.py: {MEMORY_REFUSED}"]


def test_one_connection_per_thread_and_concurrent_writes_all_land(tmp_path):
    store = ClassStore(tmp_path / "c.sqlite3")
    store.create_class(a_class(), 1_000_000.0, 5)
    connections, errors = set(), []

    def student(i: int):
        try:
            connections.add(id(store.connection()))
            m = store.add_member("ABCDEFGH", f"s{i}", f"s{i}", f"t{i}", 1_000_000.0, max_members=100)
            for k in range(5):
                store.put_run("ABCDEFGH", run(m.id, f"r{k}", 2.0 - k / 10), per_student=20, per_class=600)
        except Exception as e:  # noqa: BLE001 — collected, asserted below
            errors.append(e)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(connections) == 8
    assert store.counts() == {"classes": 1, "members": 8, "runs": 40}


def test_a_continued_run_replaces_its_report_and_budgets_trim_the_oldest(tmp_path):
    store = ClassStore(tmp_path / "c.sqlite3")
    store.create_class(a_class(), 1_000_000.0, 5)
    m = store.add_member("ABCDEFGH", "Ada", "ada", "t", 1_000_000.0, max_members=10)
    store.put_run("ABCDEFGH", run(m.id, "n:1", 2.5), per_student=3, per_class=100)
    store.put_run("ABCDEFGH", run(m.id, "n:1", 2.0, reported=1), per_student=3, per_class=100)
    assert [r.best_val for r in store.runs("ABCDEFGH")] == [2.0]  # the same run, continued: one row
    for k, best in enumerate([1.0, 3.0, 3.1, 3.2]):  # 1.0 is the student's best: it stays
        store.put_run("ABCDEFGH", run(m.id, f"n:{k + 2}", best, reported=k + 2), per_student=3, per_class=100)
    assert sorted(r.best_val for r in store.runs("ABCDEFGH")) == [1.0, 3.1, 3.2]


# ── the classroom: reports only through the hooks ─────────────────────────────────────────────────

@pytest.fixture
def classroom(tmp_path):
    clock = Clock()
    room = Classroom(ClassStore(tmp_path / "c.sqlite3"), ClassLimits(reports_per_minute=3), ttl=600, clock=clock)
    return room


def train(room: Classroom, session: Session, text: str = TEXT, **kw):
    runner = Runner()
    runner.on_start.append(room.on_start)
    runner.on_finish.append(room.on_finish)
    return list(train_handler(Settings(), {}, runner)(session, text=text, model="gru", time_budget=5,
                                                      max_steps=3, **{**SMALL, **kw}))


def test_runs_reach_the_board_only_from_a_member_tab_on_the_class_text(classroom):
    code, key, _ = classroom.open_class(TEXT, example=None, models=["gru"], lesson=None, budget=5, client="t")
    outsider, member = Session(), Session()
    train(classroom, outsider)  # not in the class: nothing reported
    classroom.join(member, code, "Ada", "", client="s")
    train(classroom, member)
    train(classroom, member, text="another text entirely, one that the class did not choose.\n" * 30, reset=True)
    runs = classroom.store.runs(code)
    assert [r.nickname for r in runs] == ["Ada"] and runs[0].steps == 3 and runs[0].curve
    assert "another text" in classroom.binding(member).note
    for _ in range(3):  # the fourth run on the class's text this minute is over reports_per_minute=3
        train(classroom, member, reset=True)
    assert len(classroom.store.runs(code)) == 3 and "a student may report 3 runs a minute" in classroom.binding(
        member).note
    board = classroom.board(code)
    assert [e.run.nickname for e in board.entries] == ["Ada"] and board.joined == 2  # Ada and the teacher


def test_a_class_expires_after_charrnn_class_ttl_with_all_its_rows(tmp_path):
    s = Settings.from_env({"CHARRNN_CLASS_TTL": "600", "CHARRNN_DB": str(tmp_path / "c.sqlite3")})
    classroom = Classroom(ClassStore(s.class_db), s.class_limits, s.class_ttl, clock=Clock())
    code, _, _ = classroom.open_class(TEXT, example=None, models=["gru"], lesson=None, budget=5, client="t")
    session = Session()
    classroom.join(session, code, "Ada", "", client="s")
    train(classroom, session)
    assert classroom.store.counts() == {"classes": 1, "members": 2, "runs": 1}
    classroom.clock.now += 599
    assert classroom.purge(force=True) == 0 and classroom.board(code).runs == 1
    classroom.clock.now += 2
    assert classroom.board(code) is None  # expired: gone from the board at once…
    with pytest.raises(ClassError, match="no open class"):
        classroom.join(Session(), code, "Bo", "", client="s")
    assert classroom.purge(force=True) == 1  # …and deleted with its rows
    assert classroom.store.counts() == {"classes": 0, "members": 0, "runs": 0}


def test_a_wrong_key_neither_moderates_nor_closes_and_is_counted(classroom):
    code, key, _ = classroom.open_class(TEXT, example=None, models=["gru"], lesson=None, budget=5, client="t")
    for action in ("close", "pin", "hide"):
        with pytest.raises(ClassError, match="does not open this class"):
            classroom.moderate(code, "not-the-key", action, 1, client="mallory")
    assert classroom.store.get_class(code, classroom.clock()).closed is None
    for _ in range(10):
        with pytest.raises(ClassError):
            classroom.moderate(code, "guess", "close", None, client="mallory")
    with pytest.raises(ClassError, match="Too many wrong teacher keys"):
        classroom.moderate(code, key, "close", None, client="mallory")  # even the right key, from that address
    classroom.moderate(code, key, "close", None, client="teacher")
    assert classroom.store.get_class(code, classroom.clock()).closed is not None
    with pytest.raises(ClassError, match="closed by its teacher"):
        classroom.join(Session(), code, "Late", "", client="s")


def test_a_hostile_client_cannot_grow_the_database_past_its_budget(tmp_path):
    limits = ClassLimits(max_classes=3, max_members=5, runs_per_student=4, runs_per_class=10, opens_per_hour=100,
                         reports_per_minute=10**6, max_text_chars=20_000)
    room = Classroom(ClassStore(tmp_path / "c.sqlite3"), limits, ttl=600)
    codes = [room.open_class(TEXT[:20_000], example=None, models=["gru"], lesson=None, budget=5,
                             client=f"10.0.0.{i}")[0] for i in range(3)]
    with pytest.raises(ClassError, match="holds 3 classes already"):
        room.open_class(TEXT, example=None, models=["gru"], lesson=None, budget=5, client="10.0.0.9")
    with pytest.raises(ClassError, match="at most 20,000"):
        room.open_class("x" * 20_001, example=None, models=["gru"], lesson=None, budget=5, client="10.0.1.1")
    for code in codes:
        members = [room.join(Session(), code, f"s{i}", "", client="h")[0] for i in range(5)]
        with pytest.raises(ClassError, match="full"):
            room.join(Session(), code, "one-more", "", client="h")
        for k in range(200):  # what a flood of reported runs would write
            m = members[k % 5]
            room.store.put_run(code, run(m.member_id, f"{m.nonce}:{k}", 2.0, reported=k),
                               per_student=limits.runs_per_student, per_class=limits.runs_per_class)
        assert len(room.store.runs(code)) <= limits.runs_per_class
    assert room.store.counts()["runs"] <= 3 * limits.runs_per_class
    assert room.store.size_bytes() <= limits.max_db_bytes(), (room.store.size_bytes(), limits.max_db_bytes())


def test_a_thousand_random_codes_find_no_class(classroom):
    classroom.open_class(TEXT, example=None, models=["gru"], lesson=None, budget=5, client="t")
    found = 0
    for i in range(1000):  # each from its own address: the rate limit aside, a guess must miss
        try:
            classroom.find(rules.new_code(), client=f"198.51.{i // 250}.{i % 250}")
            found += 1
        except ClassError as e:
            assert "no open class" in str(e)
    assert found == 0


# ── the board ──────────────────────────────────────────────────────────────────────────────────────

def test_ranking_pins_first_hides_and_counts_only_runs_within_the_budget():
    cls = a_class(budget=5)
    runs = [run(1, "a", 2.0, id=1, nickname="Ada"), run(1, "b", 1.5, id=2, nickname="Ada"),
            run(2, "c", 1.0, budget=10, seconds=9, id=3, nickname="Bo"),  # over the budget: listed, not ranked
            run(3, "d", 1.8, id=4, nickname="Cy", hidden=True), run(4, "e", 2.2, id=5, nickname="Di", pinned=True),
            run(5, "f", 1.9, id=6, nickname="Teach", teacher=True)]
    board = rank(cls, [], runs, version=1)
    assert [(e.run.id, e.rank) for e in board.entries] == [(5, None), (2, 1), (6, 2), (3, None)]
    assert "over the 5 s budget" in board.entries[-1].note and not within_budget(runs[2], 5)
    assert [e.run.id for e in board.samples] == [2, 6]


def test_every_field_is_escaped_where_the_board_shows_it():
    evil = "<img src=x onerror=alert(1)>"
    hostile = run(1, "a", 1.0, id=1, nickname="<script>alert(1)</script>", teacher=False)
    hostile = RunRow(**{**hostile.__dict__, "label": f"<b>{evil}</b>", "sample": evil,
                        "settings": {"n_hidden": evil, "lr": "<i>"}})
    board = Board("ABCDEFGH", 1, 5.0, [Entry(hostile, 1, note=evil)], 1, 1, all_runs=[hostile])
    for html in (board_view.leaderboard_html(board), board_view.leaderboard_html(board, projector=True),
                 board_view.samples_html(board)):
        assert "<script" not in html and "<img" not in html and "<b>&lt;" not in html and "&lt;img" in html
    fig = board_view.overlay_figure(board)
    assert "<script" not in fig.data[0].hovertemplate
    assert csv_rows([RunRow(**{**hostile.__dict__, "sample": "=HYPERLINK(\"x\")"})], 5)[0]["sample"].startswith("'=")


def test_the_class_text_is_kept_once_and_examples_by_name(classroom):
    code, _, _ = classroom.open_class(TEXT, example="cats", models=["gru"], lesson=None, budget=5, client="t")
    row = classroom.store.get_class(code, classroom.clock(), with_text=True)
    assert row.example == "cats" and row.text is None and row.text_sha == rules.text_digest(TEXT)
    raw = classroom.store.connection().execute("SELECT COUNT(*) FROM classes WHERE text IS NULL").fetchone()[0]
    assert raw == 1
