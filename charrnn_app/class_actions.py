"""The Class tab's handlers: plain functions around the server's `Classroom` (values in, values out), each a
`gr.Error` with what to do when the user must fix something. The layout and wiring are `classroom_tab`'s,
the live board `class_stream`'s.

    open_class(…)      the teacher's text (the Train tab's, or a lesson's), models, lesson, budget → a class,
                       its links and the teacher key (shown once); the teacher's tab joins it as the teacher
    join(…)            a code and a nickname (or the token a reload brings back) → the tab is a member
    apply_link(…)      the page loads: ?class=CODE (join), &key=… (the teacher), &board=1 (the projector),
                       or the class this browser joined before (kept in its localStorage)
    moderate(…)        the teacher key: pin, unpin, hide, show, close; class_csv(…) every run as CSV
    board_data(…)      the board as data, for scripts and tests (/class_board)

The page's answer to each is `Joined`: what the tab now is in its class, turned into the updates of the
Class tab and of the Train and Compare tabs' fields (the class's text and settings, still editable).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from charrnn import MODELS, corpus_stats
from charrnn.lessons import LESSONS

from . import user_error
from .class_board import CSV_KEYS, csv_rows
from .class_rules import ClassError
from .classroom import Binding, Classroom
from .classroom_db import ClassRow
from .corpus_view import load_corpus


@dataclass
class Watch:
    """What this page shows of the classroom: one per tab, in gr.State (the live board reads it)."""

    code: str | None = None  # the class on the board
    key: str | None = None  # the teacher key (the teacher's pages only)
    projector: bool = False  # ?board=1: the projector view
    visible: bool = False  # the Class tab is the one shown (the board streams only then)
    gen: int = 0  # the newest board stream of this page: an older one ends


def client_of(request) -> str:
    """The client's address, which rate limits count by (students behind one school router share it)."""
    return getattr(getattr(request, "client", None), "host", None) or "local"


def links(request, code: str, key: str | None = None) -> dict:
    base = str(request.base_url) if request is not None and getattr(request, "base_url", None) else ""
    out = {"code": code, "student_link": f"{base}?class={code}", "projector_link": f"{base}?class={code}&board=1"}
    if key:
        out.update(teacher_link=f"{base}?class={code}&key={key}", key=key)
    return out


def class_text(fields: dict, lesson, *, examples: dict, max_bytes: int) -> tuple[str, str | None]:
    """(the class's text, the example it is, if it is one of the server's exactly): the lesson's own example
    when it has one, else what the Train tab would train on; cut to the lesson's length, as its race is."""
    f = fields
    corpus, text, example, fold = f.get("corpus"), f.get("text"), f.get("example"), bool(f.get("ascii_fold"))
    if lesson is not None and lesson.example is not None:
        corpus, text, example, fold = None, None, lesson.example, False
    try:
        out, _ = load_corpus(corpus, text, example, fold, examples=examples, max_bytes=max_bytes,
                             latin1=bool(f.get("latin1")))
    except ValueError as e:
        raise user_error(f"The class needs a text: {e}") from None
    kept_as = example if not corpus and not (text and text.strip()) and not fold else None
    if lesson is not None and lesson.max_chars and len(out) > lesson.max_chars:
        out, kept_as = out[: lesson.max_chars], None
    return out, kept_as


def class_choices(models, lesson_key, budget, max_seconds: float) -> tuple[list[str], str | None, float]:
    """The class's (models, lesson, budget), checked: a lesson's models when a lesson is chosen."""
    lesson = LESSONS.get(lesson_key) if lesson_key else None
    if lesson_key and lesson is None:
        raise user_error(f"unknown lesson {lesson_key!r}; choose from: {', '.join(LESSONS)}")
    models = list(dict.fromkeys(e.model for e in lesson.entrants)) if lesson else list(models or [])
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise user_error(f"choose the class's models from: {', '.join(MODELS)}" + (f" (not {unknown[0]!r})"
                                                                                 if unknown else ""))
    try:
        budget = float(budget if budget not in (None, "") else lesson.time_budget if lesson else 20)
    except (TypeError, ValueError):
        raise user_error("the budget must be a number of seconds") from None
    if not 1 <= budget <= max_seconds:
        raise user_error(f"the class's budget must be between 1 and {max_seconds:g} seconds (this server's limit)")
    return models, lesson_key or None, budget


def open_class(classroom: Classroom, session, fields: dict, models, lesson_key, budget, request, *,
               settings, examples) -> tuple[Binding, ClassRow, dict]:
    """A new class; the tab (`session`) becomes its teacher. Returns (binding, class, links with the key)."""
    models, lesson_key, budget = class_choices(models, lesson_key, budget, settings.max_seconds)
    text, example = class_text(fields, LESSONS.get(lesson_key), examples=examples, max_bytes=settings.max_upload_bytes)
    stats = corpus_stats(text)
    try:
        code, key, _ = classroom.open_class(text, example=example, models=models, lesson=lesson_key, budget=budget,
                                            client=client_of(request), uniform=stats.uniform_loss,
                                            unigram=stats.unigram_entropy)
        binding, row = classroom.join_as_teacher(session, code, key, client=client_of(request),
                                                 tab=getattr(request, "session_hash", None))
    except ClassError as e:
        raise user_error(str(e)) from None
    return binding, row, links(request, code, key)


def join(classroom: Classroom, session, code, nickname, token, request) -> tuple[Binding, ClassRow]:
    """The tab joins the class (`token`: the member's, from an earlier join; else a new member)."""
    try:
        return classroom.join(session, code, nickname, token, client=client_of(request),
                              tab=getattr(request, "session_hash", None))
    except ClassError as e:
        raise user_error(str(e)) from None


def open_as_teacher(classroom: Classroom, session, code, key, request) -> tuple[Binding, ClassRow]:
    """The teacher's link: the tab becomes the class's teacher if `key` is its key."""
    try:
        return classroom.join_as_teacher(session, code, key, client=client_of(request),
                                         tab=getattr(request, "session_hash", None))
    except ClassError as e:
        raise user_error(str(e)) from None


def opened_markdown(found: dict) -> str:
    """The teacher's links, once: the student link to share, the projector's, and the teacher's own."""
    return (f"### Class **{found['code']}** is open\n"
            f"- **Students:** {found['student_link']} (or the code **{found['code']}** in this tab)\n"
            f"- **Projector:** {found['projector_link']} (the board, big)\n"
            f"- **Your teacher link — keep it to yourself, it is shown only this once:** {found['teacher_link']}  \n"
            "  It lets you pin, hide and export runs and close the class; this browser remembers it.")


def you_markdown(binding: Binding | None, watch: Watch) -> str:
    """Who this tab is in its class (the nickname escaped: it is the student's own text)."""
    if binding is None:
        if watch.code and (watch.key or watch.projector):
            return f"Watching class **{watch.code}**" + (" as its teacher." if watch.key else ".")
        if watch.code:  # a student's first visit: the nickname is theirs to pick
            return (f"Class **{watch.code}**: pick a nickname and press **Join** (no sign-up; the board shows your "
                    "runs under it).")
        return "Not in a class. Enter a code and a nickname to join one, or open one below."
    who = "the teacher" if binding.teacher else f"**{md_escape(binding.nickname)}**"
    note = f"  \n⚠️ {md_escape(binding.note)}" if binding.note else ""
    return (f"You are {who} in class **{binding.code}**. Every run you finish on the class's text (Train or a "
            f"race) goes to its board.{note}")


def md_escape(text: str) -> str:
    """Text shown as itself in Markdown: no emphasis, links or HTML from a nickname."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|~" else c for c in out)


def field_updates(row: ClassRow | None, examples: dict) -> tuple:
    """The Train and Compare tabs' fields for a class: (example, pasted text, upload, fold, Latin-1, model,
    time budget, race models, race budget, lesson key, lesson text); all skipped without a class."""
    if row is None:
        return (gr.skip(),) * 11
    if row.example and row.example in examples:
        example, text = gr.update(value=row.example), ""
    else:  # the class's own text, pasted (an example by name would clear it)
        example, text = gr.skip(), row.text or ""
    models = [m for m in row.models if m in MODELS]
    lesson = LESSONS.get(row.lesson) if row.lesson else None
    return (example, gr.update(value=text), gr.update(value=None), False, False,
            gr.update(value=models[0]) if models else gr.skip(),
            gr.update(value=row.budget, minimum=min(row.budget, 5.0)),
            gr.update(value=models) if models else gr.skip(), gr.update(value=row.budget),
            row.lesson or "", f"### {lesson.title}\n{lesson.look_for}" if lesson else "")


def moderate(classroom: Classroom, code, key, action, run, request) -> str:
    """/class_moderate: "pin", "unpin", "hide", "show" a run (its number), or "close" the class; the
    teacher key only."""
    try:
        classroom.moderate(code, key, str(action or ""), run, client=client_of(request))
    except ClassError as e:
        raise user_error(str(e)) from None
    return {"close": "**Closed.** The board stays readable for an hour; no one can join or add runs.",
            "pin": f"Run #{run} pinned to the top.", "unpin": f"Run #{run} unpinned.",
            "hide": f"Run #{run} hidden from the board.", "show": f"Run #{run} shown again."}[action]


def class_csv(classroom: Classroom, session, code, key, request) -> str:
    """/class_csv: every run of the class (hidden ones too) as a CSV file in this tab's folder."""
    try:
        row = classroom.check_key(code, key, client_of(request))
    except ClassError as e:
        raise user_error(str(e)) from None
    path = Path(session.files()) / f"class-{row.code}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_KEYS)
        writer.writeheader()
        writer.writerows(csv_rows(classroom.store.runs(row.code), row.budget))
    return str(path)


def board_data(classroom: Classroom, code, request) -> dict:
    """/class_board: the class's board as data (anyone with the code: it is what the projector shows)."""
    try:
        row = classroom.find(code, client_of(request))
    except ClassError as e:
        raise user_error(str(e)) from None
    board = classroom.board(row.code)
    return {"code": row.code, "closed": board.closed, "budget": board.budget, "joined": board.joined,
            "runs": board.runs, "entries": board.rows()}
