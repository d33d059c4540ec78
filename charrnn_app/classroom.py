"""A class: a teacher opens it, students join it with a code and a nickname, and every run a member finishes
on the class's text lands on the class's board. One `Classroom` per server (made by the Class tab's
builder, never a module global); no Gradio here — the handlers in `class_actions` call it.

    classroom = Classroom(ClassStore(path), limits, ttl)
    runner.on_start.append(classroom.on_start); runner.on_finish.append(classroom.on_finish)
    code, key = classroom.open_class(text, ...)                  the teacher's key: shown once, kept as a digest
    classroom.join(session, code, nickname, token, client=…)     a tab becomes a member (a Binding)
    classroom.board(code)                                         the Board, rebuilt only when the class changed
    classroom.moderate(code, key, "pin", run_id, client=…)       pin, unpin, hide, show; close

Reports come only from the run lifecycle's hooks, on the server: a tab bound to a class reports the runs
it trained itself (a `RunReport`'s records), into that one class, at most `reports_per_minute`; there is
no endpoint a client could post results to. Every lookup of a code or key a client makes counts against
its address when it fails (`joins_per_minute`, `keys_per_minute`), so codes cannot be enumerated.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass, field

from . import class_rules as rules
from .class_board import Board, rank
from .class_rules import ClassError, ClassLimits
from .classroom_db import ClassFull, ClassRow, ClassStore, NicknameTaken, RunRow

NO_CLASS = ("There is no open class with that code. Check it with your teacher: a code is 8 letters and "
            "digits, such as K7QM3XPA.")
WRONG_KEY = "That teacher key does not open this class (only the teacher's link can moderate it)."
# What a run's record says about its settings: the model's options and the few training settings a student
# chooses (the rest are the preset's, the same for everyone).
STORED_SETTINGS = ("order", "smoothing", "interpolate", "context", "n_embd", "n_hidden", "n_layer", "dropout",
                   "onehot", "nonlinearity", "combine", "identity_init", "n_head", "block_size", "lr",
                   "batch_size", "seq_len", "weight_decay", "time_budget", "max_steps", "seed", "loss_on", "stateless")


@dataclass
class Binding:
    """A tab's place in a class: who it is there, and what the class should tell it."""

    code: str
    member_id: int
    nickname: str
    teacher: bool
    token: str  # the member's secret, for the tab to find its class again after a reload
    tab: str | None  # Gradio's session hash of the tab (its place in the queue)
    nonce: str = field(default_factory=rules.new_secret)  # this tab's runs' key prefix
    note: str = ""  # what the tab should be told about its last report (refused, another text)


@dataclass(frozen=True)
class Counts:
    joined: int
    training: int
    queued: int
    runs: int


class Classroom:
    def __init__(self, store: ClassStore, limits: ClassLimits | None = None, ttl: float = 86_400.0,
                 clock=time.time):
        limits = limits or ClassLimits()
        self.store, self.limits, self.ttl, self.clock = store, limits, ttl, clock
        self._versions: dict[str, int] = {}
        self._boards: dict[str, Board] = {}
        self._bound: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Session → Binding
        self._training: set[str] = set()  # nonces of bound tabs with a run in progress
        self._lock = threading.Lock()
        self._purged = -math.inf
        self.joins = rules.RateLimit(limits.joins_per_minute, 60)
        self.keys = rules.RateLimit(limits.keys_per_minute, 60)
        self.opens = rules.RateLimit(limits.opens_per_hour, 3600)
        self.reports = rules.RateLimit(limits.reports_per_minute, 60)

    def version(self, code: str) -> int:
        return self._versions.get(code, 0)

    def changed(self, code: str) -> None:
        with self._lock:
            self._versions[code] = self._versions.get(code, 0) + 1

    def purge(self, force: bool = False) -> int:
        """Delete expired classes with their rows (at most once a minute unless `force`)."""
        now = self.clock()
        if not force and now - self._purged < 60:
            return 0
        self._purged = now
        return self.store.delete_expired(now)

    # ── opening, finding and joining ──────────────────────────────────────────────────────────────

    def open_class(self, text: str, *, example: str | None, models: list[str], lesson: str | None, budget: float,
                   client: str, uniform: float | None = None, unigram: float | None = None) -> tuple[str, str, str]:
        """A new class on `text` (kept by name when it is the server's `example` as it is). Returns (code,
        teacher key, the teacher's member token); ClassError past the limits."""
        if len(text) > self.limits.max_text_chars:
            raise ClassError(f"The class's text has {len(text):,} characters; a class may have at most "
                             f"{self.limits.max_text_chars:,}. Use a shorter text or an example.")
        if not self.opens.allowed(client):
            raise ClassError(f"This network has opened {self.limits.opens_per_hour} classes in the last hour; "
                             f"try again in {self.opens.wait(client) / 60:.0f} minutes.")
        self.purge()
        now, key = self.clock(), rules.new_secret()
        row = ClassRow(rules.new_code(), rules.digest(key), now, now + self.ttl, example,
                       None if example else text, rules.text_digest(text), len(text), tuple(models), lesson,
                       float(budget), uniform, unigram)
        try:
            self.store.create_class(row, now, self.limits.max_classes)
        except ClassFull:
            raise ClassError(f"This server holds {self.limits.max_classes} classes already; ask its owner, or "
                             "close a class you no longer need.") from None
        self.opens.hit(client)
        token = rules.new_secret()
        self.store.add_member(row.code, rules.TEACHER, rules.TEACHER, rules.digest(token), now, teacher=True,
                              max_members=self.limits.max_members + 1)
        self.changed(row.code)
        return row.code, key, token

    def find(self, code, client: str, with_text: bool = False) -> ClassRow:
        """The open class with this code; ClassError for none (counted against `client`) or too many tries."""
        self._check_tries(self.joins, client, "tries of class codes")
        row = self.store.get_class(rules.clean_code(code), self.clock(), with_text) if rules.clean_code(code) else None
        if row is None:
            self.joins.hit(client)
            raise ClassError(NO_CLASS)
        return row

    def join(self, session, code, nickname, token, *, client: str, tab: str | None = None
             ) -> tuple[Binding, ClassRow]:
        """Bind `session` (a tab) to the class as the member whose `token` this is (a reload, another tab of
        the same student), else as a new member called `nickname`. Returns (binding, the class with its text)."""
        row = self.find(code, client, with_text=True)
        if token:
            member = self.store.member_by_token(row.code, rules.digest(token))
            if member is not None:
                return self._bind(session, row, member.id, member.nickname, member.teacher, token, tab), row
        if row.closed is not None:
            raise ClassError("This class was closed by its teacher: it takes no new members.")
        name, key = rules.check_nickname(nickname, self.limits.nickname_chars)
        token = rules.new_secret()
        try:
            member = self.store.add_member(row.code, name, key, rules.digest(token), self.clock(),
                                           max_members=self.limits.max_members + 1)
        except NicknameTaken:
            self.joins.hit(client)
            raise ClassError(f"“{name}” is already taken in this class: pick another nickname.") from None
        except ClassFull:
            raise ClassError(f"This class is full ({self.limits.max_members} students).") from None
        self.changed(row.code)
        return self._bind(session, row, member.id, name, False, token, tab), row

    def join_as_teacher(self, session, code, key, *, client: str, tab: str | None = None
                        ) -> tuple[Binding, ClassRow]:
        """Bind `session` to the class's teacher (runs highlighted on the board) if `key` is the class's."""
        row = self.check_key(code, key, client, with_text=True)
        teacher = next(m for m in self.store.members(row.code) if m.teacher)
        return self._bind(session, row, teacher.id, teacher.nickname, True, "", tab), row

    def _bind(self, session, row: ClassRow, member_id: int, nickname: str, teacher: bool, token: str,
              tab: str | None) -> Binding:
        binding = Binding(row.code, member_id, nickname, teacher, token, tab)
        with self._lock:
            self._bound[session] = binding
        return binding

    def binding(self, session) -> Binding | None:
        return self._bound.get(session) if session is not None else None

    def leave(self, session) -> None:
        with self._lock:
            self._bound.pop(session, None)

    # ── the teacher ───────────────────────────────────────────────────────────────────────────────

    def check_key(self, code, key, client: str, with_text: bool = False) -> ClassRow:
        """The class if `key` is its teacher key; ClassError otherwise (counted against `client`)."""
        self._check_tries(self.keys, client, "wrong teacher keys")
        row = self.find(code, client, with_text)
        if not key or not rules.same_secret(rules.digest(key), row.key_hash):
            self.keys.hit(client)
            raise ClassError(WRONG_KEY)
        return row

    def moderate(self, code, key, action: str, run_id, *, client: str) -> None:
        """"pin", "unpin", "hide" or "show" one of the class's runs (by its number), or "close" the class."""
        row = self.check_key(code, key, client)
        if action == "close":
            self.store.close_class(row.code, self.clock())
        elif action in ("pin", "unpin", "hide", "show"):
            flag = "pinned" if action in ("pin", "unpin") else "hidden"
            try:
                found = self.store.set_flag(row.code, int(run_id), flag, action in ("pin", "hide"))
            except (TypeError, ValueError):
                found = False
            if not found:
                raise ClassError("Pick one of the class's runs first.")
        else:
            raise ClassError(f"unknown action {action!r}: pin, unpin, hide, show or close")
        self.changed(row.code)

    def _check_tries(self, limit: rules.RateLimit, client: str, what: str) -> None:
        if not limit.allowed(client):
            raise ClassError(f"Too many {what} from your network: wait {limit.wait(client):.0f} s and try again.")

    # ── the board ─────────────────────────────────────────────────────────────────────────────────

    def board(self, code: str) -> Board | None:
        """The class's board at its current version (built once per change); None once the class is gone."""
        self.purge()
        version = self.version(code)
        cached = self._boards.get(code)
        now = self.clock()
        if cached is not None and cached.version == version and now < cached.expires and now - cached.made < 60:
            return cached
        row = self.store.get_class(code, self.clock())
        if row is None:
            self._boards.pop(code, None)
            return None
        board = rank(row, self.store.members(code), self.store.runs(code), version)
        self._boards[code] = board
        return board

    def counts(self, board: Board, waiting: list[str]) -> Counts:
        """Who is in the board's class (joined), training now, and waiting in the training queue (`waiting`:
        the queue's session hashes, first in line first). Tabs that went away are not counted."""
        line = set(waiting)
        bound = [b for s, b in list(self._bound.items()) if b.code == board.code and not getattr(s, "closed", False)]
        training = {b.nonce for b in bound if b.nonce in self._training}
        return Counts(board.joined, len(training),
                      sum(1 for b in bound if b.tab in line and b.nonce not in training), board.runs)

    # ── the run lifecycle's hooks ─────────────────────────────────────────────────────────────────

    def on_start(self, report) -> None:
        binding = self.binding(report.session)
        if binding is not None:
            self._training.add(binding.nonce)
            self.changed(binding.code)

    def on_finish(self, report) -> None:
        """Put the tab's finished runs on its class's board (runs on another text are not comparable: the
        tab is told instead)."""
        binding = self.binding(report.session)
        if binding is None:
            return
        self._training.discard(binding.nonce)
        self.changed(binding.code)
        row = self.store.get_class(binding.code, self.clock())
        if row is None or row.closed is not None or getattr(report.session, "closed", False):
            return
        # A race's models share one text; one whose weights (and text) the tab already let go still ran on it.
        shared = next((r.text for r in report.records if r.text is not None), None) if report.kind == "race" else None
        digests: dict[int, str] = {}  # each text hashed once

        def on_class_text(record) -> bool:
            text = record.text if record.text is not None else shared
            return text is not None and digests.setdefault(id(text), rules.text_digest(text)) == row.text_sha

        trained = [r for r in report.records if r.steps > 0]
        ours = [r for r in trained if on_class_text(r)]
        others = len(trained) - len(ours)
        binding.note = (f"{others} run(s) on another text than the class's: not on the board." if others else "")
        key = f"{binding.code}:{binding.member_id}"
        if ours and not self.reports.allowed(key, len(ours)):
            binding.note = (f"Not on the board: a student may report {self.limits.reports_per_minute} runs a "
                            "minute. Take a moment to read the board!")
            return
        self.reports.hit(key, len(ours))
        for record in ours:
            self.store.put_run(binding.code, run_row(record, binding, report.kind, self.clock(), self.limits),
                               per_student=self.limits.runs_per_student, per_class=self.limits.runs_per_class)
        if ours:
            self.changed(binding.code)


def run_row(record, binding: Binding, kind: str, now: float, limits: ClassLimits) -> RunRow:
    """What the class keeps of a run record (`charrnn.record.RunRecord`): its numbers, its settings, its
    validation curve thinned to `limits.curve_points` (seconds, nats/char), the start of its last sample."""
    c = record.curve
    points = [(round(s, 2), round(v, 4)) for s, v in zip(c.val_seconds, c.val_loss, strict=False)
              if math.isfinite(s) and math.isfinite(v)]
    settings = {k: v for k, v in record.settings.items() if k in STORED_SETTINGS
                and (v is None or isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= 40))}

    def finite(v):
        return float(v) if v is not None and math.isfinite(v) else None

    return RunRow(binding.member_id, f"{binding.nonce}:{record.run_id}", now, kind, record.model_name,
                  record.label[:80], settings, int(record.n_params), int(record.steps), float(record.seconds),
                  float(record.chars_per_sec), finite(record.settings.get("time_budget")), finite(record.final_val),
                  finite(record.best_val), rules.downsample(points, limits.curve_points),
                  record.sample[: limits.sample_chars], record.stop_reason == "diverged", bool(record.stopped))

