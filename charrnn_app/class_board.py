"""The board of a class as data: who ranks where, which curves are drawn, which samples are shown. Pure:
rows from the database in, a `Board` out (its pictures are `board_view`'s).

    rank(cls, members, runs, version)   the Board: pinned runs first, then each student's best run within
                                        the class's budget by best validation loss, then runs over the budget
    within_budget(run, budget)          is this run ranked?
    csv_rows(runs, budget)              every run of the class (hidden ones too) for the teacher's CSV

Ranked by the best validation loss (nats/char) a run reached — the number a class can compare, since every
run counted was trained on the class's own text — among runs whose time budget is at most the class's and
whose own training time stayed within it (a continued model adds up its runs' seconds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from .classroom_db import ClassRow, MemberRow, RunRow

SHOWN_SAMPLES = 3  # the best runs' samples on the board
MAX_CURVES = 60  # curves overlaid: beyond it the best ones (a projector shows no more)
TOLERANCE = 1.1  # a run's own seconds may pass the budget by 10 % (+ 2 s): its last step and evaluation


def within_budget(run: RunRow, budget: float) -> bool:
    return (run.time_budget is not None and run.time_budget <= budget + 1e-9
            and run.seconds <= budget * TOLERANCE + 2.0)


def _loss(run: RunRow) -> float:
    return run.best_val if run.best_val is not None and math.isfinite(run.best_val) else math.inf


@dataclass(frozen=True)
class Entry:
    run: RunRow
    rank: int | None  # 1 = best; None: pinned, or not ranked (over the budget, no validation loss)
    note: str = ""  # "pinned by the teacher", "over the 20 s budget", "diverged"


@dataclass(frozen=True)
class Board:
    code: str
    version: int
    budget: float
    entries: list[Entry] = field(default_factory=list)  # pinned, ranked, then unranked
    joined: int = 0
    runs: int = 0  # reported runs, hidden ones included
    closed: bool = False
    uniform: float | None = None  # reference levels of the class's text (nats/char)
    unigram: float | None = None
    all_runs: list[RunRow] = field(default_factory=list)  # hidden ones too: the teacher's run picker
    expires: float = math.inf  # when the class ends (time.time()): the board is not shown past it
    made: float = field(default_factory=time.time)

    @property
    def samples(self) -> list[Entry]:
        """The best ranked runs that wrote something (the teacher's included)."""
        return [e for e in self.entries if e.rank is not None and e.run.sample][:SHOWN_SAMPLES]

    @property
    def curves(self) -> list[RunRow]:
        return [e.run for e in self.entries if e.run.curve][:MAX_CURVES]

    def rows(self) -> list[dict]:
        """The leaderboard as data (the /class_board endpoint), in board order."""
        return [{"rank": e.rank, "run": e.run.id, "nickname": e.run.nickname, "teacher": e.run.teacher,
                 "model": e.run.model, "label": e.run.label, "best_val": e.run.best_val,
                 "final_val": e.run.final_val, "params": e.run.n_params, "steps": e.run.steps,
                 "seconds": round(e.run.seconds, 1), "chars_per_sec": round(e.run.chars_per_sec),
                 "diverged": e.run.diverged, "pinned": e.run.pinned, "note": e.note} for e in self.entries]


def rank(cls: ClassRow, members: list[MemberRow], runs: list[RunRow], version: int) -> Board:
    """The class's board (see the module docstring); hidden runs are left out."""
    shown = [r for r in runs if not r.hidden]
    pinned = sorted((r for r in shown if r.pinned), key=lambda r: (_loss(r), r.reported))
    best: dict[int, RunRow] = {}  # each student's best run: within the budget if any, else any
    for r in shown:
        if r.pinned:
            continue
        mine = best.get(r.member_id)
        key = (not within_budget(r, cls.budget), _loss(r), r.reported)
        if mine is None or key < (not within_budget(mine, cls.budget), _loss(mine), mine.reported):
            best[r.member_id] = r
    ranked = sorted((r for r in best.values() if within_budget(r, cls.budget) and _loss(r) < math.inf),
                    key=lambda r: (_loss(r), r.reported))
    ranked_ids = {r.id for r in ranked}
    rest = sorted((r for r in best.values() if r.id not in ranked_ids), key=lambda r: (_loss(r), r.reported))
    entries = [Entry(r, None, "pinned by the teacher") for r in pinned]
    entries += [Entry(r, i + 1, "diverged" if r.diverged else "") for i, r in enumerate(ranked)]
    entries += [Entry(r, None, _why_unranked(r, cls.budget)) for r in rest]
    return Board(cls.code, version, cls.budget, entries, len(members), len(runs), cls.closed is not None,
                 cls.uniform, cls.unigram, list(runs), cls.expires)


def _why_unranked(run: RunRow, budget: float) -> str:
    if not within_budget(run, budget):
        return f"over the {budget:g} s budget: not ranked"
    return "no validation loss: not ranked"


CSV_KEYS = ("run", "nickname", "teacher", "kind", "model", "label", "params", "steps", "seconds", "chars/s",
            "time budget", "final val", "best val", "within budget", "diverged", "stopped", "pinned", "hidden",
            "reported (UTC)", "settings", "sample")


def csv_rows(runs: list[RunRow], budget: float) -> list[dict]:
    """Every run of the class, oldest first, as the teacher's CSV has them (text cells made safe for a
    spreadsheet: one starting with = + - @ would be read as a formula)."""
    rows = []
    for r in sorted(runs, key=lambda r: r.reported):
        settings = " ".join(f"{k}={v}" for k, v in sorted(r.settings.items()))
        row = [r.id, r.nickname, r.teacher, r.kind, r.model, r.label, r.n_params, r.steps, round(r.seconds, 2),
               round(r.chars_per_sec), r.time_budget, r.final_val, r.best_val, within_budget(r, budget), r.diverged,
               r.stopped, r.pinned, r.hidden, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.reported)),
               settings, r.sample]
        rows.append({k: _cell(v) for k, v in zip(CSV_KEYS, row, strict=True)})
    return rows


def _cell(value):
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
