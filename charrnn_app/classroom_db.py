"""Where classes live: one SQLite file (stdlib `sqlite3`), so that classes and their runs survive a restart.

    store = ClassStore("classes.sqlite3")     opens nothing yet; the file is made on first use
    store.create_class(ClassRow(...))          a class; members join it, their runs are put in it
    store.add_member(...) / store.put_run(...) within the class's bounds (`ClassLimits`), in one transaction
    store.delete_expired(now)                  expired classes go, with their members and runs (ON DELETE CASCADE)

One connection per thread (Gradio answers on many threads; a sqlite3 connection belongs to one), WAL
journal (readers never wait for the writer), foreign keys on, a busy timeout for the rare write that
meets another. The schema has a version (`PRAGMA user_version`) and `MIGRATIONS` bring an older file up
to date in order; a file from a newer charrnn is refused rather than misread. No Gradio here: plain rows in,
plain rows out. Texts are stored zlib-compressed; secrets only as digests (`class_rules.digest`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

MEMORY_REFUSED = ("CHARRNN_DB=:memory: is refused on a shared server: each thread would see its own empty database "
                  "and a restart would lose every class. Give a file path (on a Hugging Face Space with persistent "
                  "storage: /data/charrnn-classes.sqlite3)")
WAL_PAGES, WAL_BYTES = 256, 1 << 20  # the write-ahead log: checkpointed every 256 pages (1 MB), then cut to 1 MB
CACHE_KB = 1024  # each connection's page cache
CLOSED_KEEP = 3600.0  # seconds a closed class stays readable (its board, the teacher's CSV) before it is deleted

MIGRATIONS = [  # MIGRATIONS[i] takes a file from version i to i + 1; never edit one that has shipped
    """
    CREATE TABLE classes (
        code TEXT PRIMARY KEY, key_hash TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
        closed REAL, example TEXT, text BLOB, text_sha TEXT NOT NULL, text_chars INTEGER NOT NULL,
        models TEXT NOT NULL, lesson TEXT, budget REAL NOT NULL, uniform REAL, unigram REAL);
    CREATE TABLE members (
        id INTEGER PRIMARY KEY, code TEXT NOT NULL REFERENCES classes(code) ON DELETE CASCADE,
        nickname TEXT NOT NULL, nick_key TEXT NOT NULL, token_hash TEXT NOT NULL,
        teacher INTEGER NOT NULL DEFAULT 0, joined REAL NOT NULL, UNIQUE (code, nick_key));
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, code TEXT NOT NULL REFERENCES classes(code) ON DELETE CASCADE,
        member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE, record_key TEXT NOT NULL,
        reported REAL NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL, label TEXT NOT NULL,
        settings TEXT NOT NULL, n_params INTEGER NOT NULL, steps INTEGER NOT NULL, seconds REAL NOT NULL,
        chars_per_sec REAL NOT NULL, time_budget REAL, final_val REAL, best_val REAL, curve TEXT NOT NULL,
        sample TEXT NOT NULL, diverged INTEGER NOT NULL, stopped INTEGER NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0, hidden INTEGER NOT NULL DEFAULT 0, UNIQUE (member_id, record_key));
    CREATE INDEX members_by_class ON members(code);
    CREATE INDEX runs_by_class ON runs(code);
    """,
]


class NicknameTaken(ValueError):
    pass


class ClassFull(ValueError):
    pass


@dataclass(frozen=True)
class ClassRow:
    code: str
    key_hash: str
    created: float
    expires: float
    example: str | None  # the text is this example of the server's (kept by name)…
    text: str | None  # …or this text (None when read without it, or for an example)
    text_sha: str
    text_chars: int
    models: tuple[str, ...]
    lesson: str | None
    budget: float  # seconds: a run within it is ranked
    uniform: float | None = None  # the text's reference levels (nats/char): ln V and the unigram entropy
    unigram: float | None = None
    closed: float | None = None


@dataclass(frozen=True)
class MemberRow:
    id: int
    code: str
    nickname: str
    teacher: bool
    joined: float


@dataclass(frozen=True)
class RunRow:
    """A run as the class keeps it: losses in nats/char, `curve` its validation points (seconds, loss)."""

    member_id: int
    record_key: str  # the run's identity in its tab: a continued run replaces its earlier report
    reported: float
    kind: str  # "train" or "race"
    model: str
    label: str
    settings: dict
    n_params: int
    steps: int
    seconds: float
    chars_per_sec: float
    time_budget: float | None
    final_val: float | None
    best_val: float | None
    curve: list = field(default_factory=list)
    sample: str = ""
    diverged: bool = False
    stopped: bool = False
    pinned: bool = False
    hidden: bool = False
    id: int = 0
    nickname: str = ""
    teacher: bool = False


_RUN_COLUMNS = [f.name for f in fields(RunRow) if f.name not in ("id", "nickname", "teacher", "pinned", "hidden")]


class ClassStore:
    """The classes of one server in the SQLite file at `path` (see the module docstring)."""

    def __init__(self, path: str | Path):
        if str(path).strip() in (":memory:", "") or str(path).startswith("file::memory:"):
            raise ValueError(MEMORY_REFUSED)
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ready = False

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made, and the schema brought up to date, on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL's safe setting: a power cut loses at most the last commit
            # The log is copied into the file every WAL_PAGES pages and cut back to WAL_BYTES after: the
            # database's size on disk stays within `ClassLimits.max_db_bytes` (the file reuses freed pages).
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")
            # Each thread's connection keeps its own page cache (SQLite's default: 2 MB); Gradio answers on
            # dozens of threads, and a class's board is read whole, so 1 MB each bounds the server's share.
            conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")
            with self._lock:
                self._all.append(conn)
                if not self._ready:
                    self._migrate(conn)
                    self._ready = True
            self._local.conn = conn
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(f"{self.path} was written by a newer charrnn (schema {version}, this one knows "
                               f"{len(MIGRATIONS)}); use a new CHARRNN_DB file or upgrade")
        for target in range(version + 1, len(MIGRATIONS) + 1):
            conn.execute("BEGIN IMMEDIATE")  # one transaction per step: a failed step leaves the file as it was
            try:  # statement by statement: executescript would commit the transaction first
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @property
    def version(self) -> int:
        return self.connection().execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self):
        """A write transaction (taken at once: two writers queue instead of failing half-way)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # ── classes ───────────────────────────────────────────────────────────────────────────────────

    def create_class(self, row: ClassRow, now: float, max_classes: int) -> None:
        """Store a new class; ClassFull when the server already holds `max_classes` (expired ones go first)."""
        text = zlib.compress(row.text.encode("utf-8"), 6) if row.text is not None else None
        with self.transaction() as conn:
            self._delete_expired(conn, now)
            if conn.execute("SELECT COUNT(*) FROM classes").fetchone()[0] >= max_classes:
                raise ClassFull(max_classes)
            conn.execute("INSERT INTO classes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (row.code, row.key_hash, row.created, row.expires, row.closed, row.example, text,
                          row.text_sha, row.text_chars, json.dumps(list(row.models)), row.lesson, row.budget,
                          row.uniform, row.unigram))

    def get_class(self, code: str, now: float, with_text: bool = False) -> ClassRow | None:
        """The class, or None if there is none (or it has expired)."""
        r = self.connection().execute("SELECT * FROM classes WHERE code = ? AND expires > ?", (code, now)).fetchone()
        if r is None:
            return None
        text = zlib.decompress(r["text"]).decode("utf-8") if with_text and r["text"] is not None else None
        return ClassRow(r["code"], r["key_hash"], r["created"], r["expires"], r["example"], text, r["text_sha"],
                        r["text_chars"], tuple(json.loads(r["models"])), r["lesson"], r["budget"], r["uniform"],
                        r["unigram"], r["closed"])

    def close_class(self, code: str, now: float) -> None:
        """No more joins or runs; readable for CLOSED_KEEP seconds more, then deleted."""
        with self.transaction() as conn:
            conn.execute("UPDATE classes SET closed = ?, expires = MIN(expires, ?) WHERE code = ?",
                         (now, now + CLOSED_KEEP, code))

    def delete_expired(self, now: float) -> int:
        with self.transaction() as conn:
            return self._delete_expired(conn, now)

    @staticmethod
    def _delete_expired(conn, now: float) -> int:
        return conn.execute("DELETE FROM classes WHERE expires <= ?", (now,)).rowcount

    # ── members ───────────────────────────────────────────────────────────────────────────────────

    def add_member(self, code: str, nickname: str, nick_key: str, token_hash: str, now: float, *,
                   teacher: bool = False, max_members: int) -> MemberRow:
        """A new member; NicknameTaken if the class has that nickname, ClassFull at `max_members`."""
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM members WHERE code = ? AND nick_key = ?", (code, nick_key)).fetchone():
                raise NicknameTaken(nickname)
            if conn.execute("SELECT COUNT(*) FROM members WHERE code = ?", (code,)).fetchone()[0] >= max_members:
                raise ClassFull(max_members)
            cur = conn.execute("INSERT INTO members (code, nickname, nick_key, token_hash, teacher, joined) "
                               "VALUES (?,?,?,?,?,?)", (code, nickname, nick_key, token_hash, int(teacher), now))
            return MemberRow(cur.lastrowid, code, nickname, teacher, now)

    def member_by_token(self, code: str, token_hash: str) -> MemberRow | None:
        r = self.connection().execute("SELECT * FROM members WHERE code = ? AND token_hash = ?",
                                      (code, token_hash)).fetchone()
        return None if r is None else MemberRow(r["id"], r["code"], r["nickname"], bool(r["teacher"]), r["joined"])

    def members(self, code: str) -> list[MemberRow]:
        rows = self.connection().execute("SELECT * FROM members WHERE code = ? ORDER BY id", (code,)).fetchall()
        return [MemberRow(r["id"], r["code"], r["nickname"], bool(r["teacher"]), r["joined"]) for r in rows]

    # ── runs ──────────────────────────────────────────────────────────────────────────────────────

    def put_run(self, code: str, run: RunRow, *, per_student: int, per_class: int) -> None:
        """Store a member's run (replacing the earlier report of the same run), then trim: beyond
        `per_student` runs of this member, or `per_class` of the class, the oldest run that is neither
        pinned nor its student's best is deleted."""
        values = {k: getattr(run, k) for k in _RUN_COLUMNS}
        values["settings"], values["curve"] = json.dumps(run.settings), json.dumps(run.curve)
        names = ", ".join(_RUN_COLUMNS)
        updates = ", ".join(f"{k} = excluded.{k}" for k in _RUN_COLUMNS if k not in ("member_id", "record_key"))
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO runs (code, {names}) VALUES (?, {', '.join('?' * len(_RUN_COLUMNS))}) "
                         f"ON CONFLICT (member_id, record_key) DO UPDATE SET {updates}",
                         (code, *values.values()))
            self._trim(conn, "member_id = ?", run.member_id, per_student)
            self._trim(conn, "code = ?", code, per_class)

    @staticmethod
    def _trim(conn, where: str, value, keep: int) -> None:
        count = conn.execute(f"SELECT COUNT(*) FROM runs WHERE {where}", (value,)).fetchone()[0]
        if count <= keep:
            return
        best = ("SELECT id FROM runs AS b WHERE b.member_id = runs.member_id "
                "ORDER BY b.best_val IS NULL, b.best_val LIMIT 1")
        conn.execute(f"DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE {where} AND pinned = 0 "
                     f"AND id != ({best}) ORDER BY reported LIMIT ?)", (value, count - keep))

    def runs(self, code: str) -> list[RunRow]:
        rows = self.connection().execute(
            "SELECT runs.*, members.nickname, members.teacher FROM runs JOIN members ON members.id = runs.member_id "
            "WHERE runs.code = ? ORDER BY runs.id", (code,)).fetchall()
        out = []
        for r in rows:
            values = {k: r[k] for k in r.keys() if k != "code"}
            values.update(settings=json.loads(r["settings"]), curve=[tuple(p) for p in json.loads(r["curve"])],
                          diverged=bool(r["diverged"]), stopped=bool(r["stopped"]), pinned=bool(r["pinned"]),
                          hidden=bool(r["hidden"]), teacher=bool(r["teacher"]))
            out.append(RunRow(**values))
        return out

    def set_flag(self, code: str, run_id: int, flag: str, on: bool) -> bool:
        """Pin or hide (`flag`) a run of the class; False if the class has no such run."""
        if flag not in ("pinned", "hidden"):
            raise ValueError(f"unknown flag {flag!r}")
        with self.transaction() as conn:
            return conn.execute(f"UPDATE runs SET {flag} = ? WHERE code = ? AND id = ?",
                                (int(on), code, int(run_id))).rowcount == 1

    def counts(self) -> dict[str, int]:
        """Rows per table, for tests and the benchmark."""
        conn = self.connection()
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("classes", "members", "runs")}

    def size_bytes(self) -> int:
        """The database's size on disk: the file and its write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
