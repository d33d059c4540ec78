"""The Class tab's page and API handlers, bound to one server's `Classroom` (plain functions inside: values in,
values out; the work is `class_actions`'s).

    ClassPage.load(…)    the page opens: a class link, a teacher link, a projector link, or the class this
                         browser joined before (its BrowserState) — the last two need no typing at all
    ClassPage.join(…)    the Join button;  ClassPage.open(…)   the "Open a class" button
    ClassPage.api_*      /class_open, /class_join, /class_board, /class_moderate, /class_csv

A page handler returns `ClassView` (the Class tab's own outputs) followed by the Train and Compare fields
(`class_actions.field_updates`), in the order `classroom_tab` lists its outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr

from . import class_actions as act
from . import user_error
from .class_actions import Watch
from .class_rules import ClassError, clean_code
from .classroom import Classroom
from .session import ensure_session

SKIP = gr.skip()
TRUE = ("1", "true", "yes", "on")


class ClassView(NamedTuple):
    you: object = SKIP  # who this tab is in its class
    code: object = SKIP  # the code box
    watch: object = SKIP
    saved: object = SKIP  # the page's BrowserState; its "class": {"code", "token"} of a student, {"code", "key"}
    #                       of the teacher
    teacher: object = SKIP  # the teacher's controls, shown or not
    projector: object = SKIP  # the projector flag (its change puts the page in the board view)
    tabs: object = SKIP
    opened: object = SKIP  # the teacher's links and key, shown once


class ClassPage:
    def __init__(self, classroom: Classroom, settings, examples: dict, tab_id: str, label: str):
        self.classroom, self.settings, self.examples = classroom, settings, examples
        self.tab_id, self.label = tab_id, label

    def _out(self, view: ClassView, row=None) -> tuple:
        return (*view, *act.field_updates(row, self.examples))

    def _shown(self, watch: Watch, binding, row, saved, *, show_tab: bool, opened=SKIP) -> tuple:
        watch.visible = watch.visible or show_tab
        return self._out(ClassView(act.you_markdown(binding, watch), row.code, watch, saved,
                                   gr.update(visible=bool(watch.key)), watch.projector,
                                   gr.Tabs(selected=self.tab_id) if show_tab else SKIP, opened), row)

    def load(self, session, watch, saved, request: gr.Request):
        """The page opened: ?class=CODE[&key=…][&board=1], else the class this browser joined before."""
        query = dict(request.query_params) if request is not None else {}
        memory = saved if isinstance(saved, dict) else {}
        mine = memory.get("class") if isinstance(memory.get("class"), dict) else {}
        code = clean_code(query.get("class")) or clean_code(mine.get("code"))
        if not code or not isinstance(watch, Watch):
            return self._out(ClassView())
        projector = str(query.get("board", "")).lower() in TRUE
        ours = clean_code(mine.get("code")) == code
        key = query.get("key") or (mine.get("key") if ours else None)
        session, remembered = ensure_session(session), SKIP
        try:
            if key:
                binding, row = act.open_as_teacher(self.classroom, session, code, key, request)
                remembered = {**memory, "class": {"code": row.code, "key": key}}
            elif ours and mine.get("token"):  # a reload: the same student, the same nickname
                binding, row = act.join(self.classroom, session, code, "", mine["token"], request)
            else:  # a projector, or a student who has yet to pick a nickname
                binding, row = None, self.classroom.find(code, act.client_of(request))
        except (gr.Error, ClassError) as e:
            message = getattr(e, "message", None) or str(e)
            return self._out(ClassView(f"⚠️ {message}", code, tabs=gr.Tabs(selected=self.tab_id)))
        watch.code, watch.key, watch.projector = row.code, key or None, projector
        ask = binding is None and not projector  # a student's first visit: the nickname is theirs to pick
        return self._shown(watch, binding, row, remembered, show_tab=projector or bool(key) or ask)

    def join(self, session, watch, saved, code, nickname, request: gr.Request):
        """Join: this tab becomes a member (the token this browser kept brings back the same nickname)."""
        memory = saved if isinstance(saved, dict) else {}
        mine = memory.get("class") if isinstance(memory.get("class"), dict) else {}
        token = mine.get("token") if clean_code(mine.get("code")) == clean_code(code) else ""
        binding, row = act.join(self.classroom, ensure_session(session), code, nickname, token, request)
        watch.code, watch.key = row.code, None
        memory = {**memory, "class": {"code": row.code, "token": binding.token}}
        return self._shown(watch, binding, row, memory, show_tab=True)

    def open(self, session, watch, saved, corpus, text, example, ascii_fold, latin1, models, lesson, budget,
             request: gr.Request):
        """Open a class on the Train tab's text: the links and key shown once, this tab its teacher."""
        fields = dict(corpus=corpus, text=text, example=example, ascii_fold=ascii_fold, latin1=latin1)
        binding, row, found = act.open_class(self.classroom, ensure_session(session), fields, models, lesson,
                                             budget, request, settings=self.settings, examples=self.examples)
        watch.code, watch.key = row.code, found["key"]
        memory = {**(saved if isinstance(saved, dict) else {}), "class": {"code": row.code, "key": found["key"]}}
        return self._shown(watch, binding, row, memory, show_tab=True, opened=act.opened_markdown(found))

    def tab_selected(self, watch, evt: gr.SelectData):
        """Which tab is shown: the board streams only while it is this one."""
        if isinstance(watch, Watch):
            watch.visible = evt.value == self.label

    # ── the API ───────────────────────────────────────────────────────────────────────────────────

    def api_open(self, session, corpus=None, text=None, example=None, ascii_fold=False, latin1=False, models=None,
                 lesson=None, budget=None, request: gr.Request = None):
        """Open a class on this text (an upload, pasted text or an example) for `models` (or a `lesson`) with
        `budget` seconds a run; this client becomes its teacher. Returns (message, {code, student_link,
        projector_link, teacher_link, key}) — the key is shown only this once."""
        fields = dict(corpus=corpus, text=text, example=example, ascii_fold=ascii_fold, latin1=latin1)
        _, _, found = act.open_class(self.classroom, ensure_session(session), fields, models, lesson, budget,
                                     request, settings=self.settings, examples=self.examples)
        return act.opened_markdown(found), found

    def api_join(self, session, code=None, nickname=None, token=None, request: gr.Request = None):
        """Join the class `code` as `nickname`, or, with the `token` an earlier join returned, as that same
        member again (a reload). Returns (message, {code, nickname, token, teacher})."""
        binding, row = act.join(self.classroom, ensure_session(session), code, nickname, token, request)
        return (act.you_markdown(binding, Watch(row.code)),
                {"code": row.code, "nickname": binding.nickname, "token": binding.token, "teacher": binding.teacher})

    def api_board(self, code=None, request: gr.Request = None) -> dict:
        """The class's board as data: {code, closed, budget, joined, runs, entries: [{rank, run, nickname, …}]}."""
        return act.board_data(self.classroom, code, request)

    def api_moderate(self, code=None, key=None, action=None, run=None, request: gr.Request = None) -> str:
        """With the teacher key: "pin", "unpin", "hide" or "show" run number `run`, or "close" the class."""
        return act.moderate(self.classroom, code, key, action, run, request)

    def api_csv(self, session, code=None, key=None, request: gr.Request = None) -> str:
        """With the teacher key: every run of the class (hidden ones too) as a CSV file."""
        return act.class_csv(self.classroom, ensure_session(session), code, key, request)

    def moderate_page(self, action: str):
        """A teacher's button (pin, unpin, hide, show, close): the page's own class and key."""

        def press(watch, run, sure=True, request: gr.Request = None):
            if action == "close" and not sure:
                raise user_error("Tick “yes, close it” first: a closed class takes no more members or runs.")
            return act.moderate(self.classroom, watch.code, watch.key, action, run, request)

        return press

    def csv_page(self, session, watch, request: gr.Request):
        return gr.update(value=act.class_csv(self.classroom, ensure_session(session), watch.code, watch.key,
                                             request), visible=True)
