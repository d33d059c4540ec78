"""The Class tab: join a class with its code and a nickname, open one as a teacher, and the class's live
board (leaderboard, every curve overlaid, the best samples, who is training); the projector view is this
tab alone, in big type (`?class=CODE&board=1`).

    build(page, tab) -> ClassroomTab
    endpoints: /class_open, /class_join, /class_board, /class_watch (streaming), /class_moderate, /class_csv

The server's classes are a `Classroom` (SQLite at CHARRNN_DB), made here and told of every run by the run
lifecycle's hooks (`page.runner.on_start` / `on_finish`); the handlers are `class_page`'s, the stream
`class_stream`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from charrnn.lessons import LESSONS

from . import board_view, options
from .class_actions import Watch
from .class_page import ClassPage
from .class_stream import BoardStream
from .classroom import Classroom
from .classroom_db import ClassStore
from .page import Page

LABEL, TAB_ID = "Class", "class-tab"
QUIET = dict(show_progress="hidden", api_visibility="private")
# The projector view (body.class-board-view, set by ?board=1): only the board, in type a back row can read.
CSS = """<style>
#class-overlay .js-plotly-plot { height: 440px; }
#class-leaderboard { flex-grow: 3 !important; min-width: min(100%, 480px) !important; }
#class-overlay { flex-grow: 2 !important; min-width: min(100%, 360px) !important; }
body.class-board-view #header, body.class-board-view #class-setup, body.class-board-view #class-teacher,
body.class-board-view footer, body.class-board-view .tab-wrapper { display: none !important; }
body.class-board-view #class-counts, body.class-board-view #class-counts * { font-size: 24px !important; }
body.class-board-view #class-board-row { flex-wrap: nowrap !important; }
body.class-board-view #class-leaderboard { flex-grow: 6 !important; min-width: 0 !important; }
body.class-board-view #class-overlay { flex-grow: 5 !important; min-width: 0 !important; }
body.class-board-view #class-overlay .js-plotly-plot { height: 570px !important; }
body.class-board-view .class-samples pre, body.class-board-view .class-samples { font-size: 20px; }
</style>"""
INTRO = """**A class that learns together.** Join your class with the code your teacher gives you (or open the
link): pick a nickname, and every run you finish on the class's text — in the Train tab or a race in the
Compare tab — lands on the board below, ranked by its best validation loss within the class's time budget,
with its model and settings, so you can learn from each other's choices. The board updates by itself."""
OPEN_HELP = """The class's text is the one chosen in the **Train** tab now (an example, an upload or pasted text;
a lesson with its own text uses that). Students get it, with the models and budget below, in their Train and
Compare tabs — still editable, but only runs on the class's text, within its budget, are ranked. You get a
student link, a projector link and your teacher link with its secret key (shown once: keep it)."""
BOARD_JS = """(on) => { document.body.classList.toggle('class-board-view', !!on);
  window.dispatchEvent(new Event('resize')); }"""


@dataclass
class ClassroomTab:
    classroom: Classroom  # this server's classes
    code: gr.Textbox
    nickname: gr.Textbox
    join: gr.Button
    you: gr.Markdown
    models: gr.CheckboxGroup
    lesson: gr.Dropdown
    budget: gr.Slider
    open: gr.Button
    opened: gr.Markdown
    counts: gr.Markdown
    leaderboard: gr.HTML
    overlay: gr.Plot
    samples: gr.HTML
    teacher: gr.Group
    run: gr.Dropdown
    buttons: dict  # pin, unpin, hide, show, csv, close
    sure: gr.Checkbox
    teacher_status: gr.Markdown
    csv: gr.File
    watch: gr.State  # class_actions.Watch: what this page shows
    saved: gr.BrowserState  # the page's: {"class": the class this browser joined, with its token or key}
    projector: gr.Checkbox


def build(page: Page, tab: gr.Tab) -> ClassroomTab:
    """The tab's classroom (its hooks on the page's runner), layout and wiring."""
    s = page.settings
    classroom = Classroom(ClassStore(s.class_db), s.class_limits, s.class_ttl)
    page.runner.on_start.append(classroom.on_start)
    page.runner.on_finish.append(classroom.on_finish)
    page.demo.classroom = classroom  # for scripts and tests, as demo.runner
    c = layout(page, classroom)
    handlers, stream = ClassPage(classroom, s, page.examples, TAB_ID, LABEL), BoardStream(classroom, page.server)
    wire_classes(page, tab, c, handlers, stream)
    wire_teacher(page, c, handlers)
    wire_api(page, c, handlers, stream)
    return c


def layout(page: Page, classroom: Classroom) -> ClassroomTab:
    s = page.settings
    gr.HTML(CSS, elem_id="class-css", padding=False)
    with gr.Column(elem_id="class-setup"):
        gr.Markdown(INTRO, elem_id="class-intro")
        with gr.Row(equal_height=True):
            code = gr.Textbox(label="class code", placeholder="e.g. K7QM3XPA", max_lines=1, elem_id="class-code")
            nickname = gr.Textbox(label="your nickname", max_lines=1, elem_id="class-nickname",
                                  max_length=s.class_limits.nickname_chars, info="letters and digits; no sign-up")
            join = gr.Button("Join", variant="primary", elem_id="class-join", scale=0, min_width=120)
        you = gr.Markdown(elem_id="class-you")
        with gr.Accordion("Teaching? Open a class", open=False, elem_id="class-open-box"):
            gr.Markdown(OPEN_HELP)
            with gr.Row():
                models = gr.CheckboxGroup(options.model_choices(), value=["gru", "lstm"], label="models",
                                          elem_id="class-models")
                lesson = gr.Dropdown([("none: the models chosen", "")] + [(x.title, k) for k, x in LESSONS.items()],
                                     value="", label="or a lesson", elem_id="class-lesson")
                budget = gr.Slider(1, s.max_seconds, step=1, value=min(20, s.max_seconds), elem_id="class-budget",
                                   label="budget per run (seconds): runs within it are ranked")
            open_ = gr.Button("Open a class", elem_id="class-open")
            opened = gr.Markdown(elem_id="class-opened")
    counts = gr.Markdown(board_view.counts_markdown(None, None), elem_id="class-counts")
    with gr.Row(elem_id="class-board-row"):
        leaderboard = gr.HTML(board_view.leaderboard_html(None), elem_id="class-leaderboard", min_height=0)
        overlay = gr.Plot(board_view.overlay_figure(None), show_label=False, elem_id="class-overlay")
    samples = gr.HTML(elem_id="class-samples", min_height=0)
    with gr.Group(visible=False, elem_id="class-teacher") as teacher:
        gr.Markdown("**Teacher** — pin a run to the top, hide one, export every run, or close the class.")
        with gr.Row(equal_height=True):
            run = gr.Dropdown([], label="run", elem_id="class-run", scale=3)
            buttons = {name: gr.Button(label, size="sm", elem_id=f"class-{name}") for name, label in (
                ("pin", "Pin"), ("unpin", "Unpin"), ("hide", "Hide"), ("show", "Show"), ("csv", "Export CSV"))}
        with gr.Row(equal_height=True):
            sure = gr.Checkbox(label="yes, close it", elem_id="class-sure", scale=0, min_width=160)
            buttons["close"] = gr.Button("Close the class", variant="stop", size="sm", elem_id="class-close")
        teacher_status = gr.Markdown(elem_id="class-teacher-status")
        csv = gr.File(label="the class as CSV", visible=False, interactive=False, elem_id="class-csv-file", height=80)
    watch = gr.State(Watch())
    projector = gr.Checkbox(False, visible=False, elem_id="class-projector")
    return ClassroomTab(classroom, code, nickname, join, you, models, lesson, budget, open_, opened, counts,
                        leaderboard, overlay, samples, teacher, run, buttons, sure, teacher_status, csv, watch,
                        page.browser, projector)


def class_outputs(page: Page, c: ClassroomTab) -> list:
    """What a page handler answers: `class_page.ClassView`, then the Train and Compare fields."""
    t, k = page.train, page.compare
    return [c.you, c.code, c.watch, c.saved, c.teacher, c.projector, page.tabs, c.opened, t.example, t.corpus_text,
            t.corpus_file, t.ascii_fold, t.latin1, t.model, t.time_budget, k.models, k.budget, k.lesson_key,
            k.lesson_text]


def wire_classes(page: Page, tab: gr.Tab, c: ClassroomTab, h: ClassPage, stream: BoardStream) -> None:
    """A link or the browser's memory on load, Join, Open; each then streams the board while the page
    shows the class (one stream a page); the projector view; which tab is shown."""
    board = [c.counts, c.leaderboard, c.overlay, c.samples, c.you, c.run]
    streaming = dict(fn=stream.page, inputs=[c.watch, page.session], outputs=board, concurrency_limit=None,
                     **QUIET)
    outputs, train = class_outputs(page, c), page.train
    page.demo.load(h.load, [page.session, c.watch, c.saved], outputs, **QUIET).then(**streaming)
    c.join.click(h.join, [page.session, c.watch, c.saved, c.code, c.nickname], outputs, **QUIET).then(**streaming)
    c.nickname.submit(h.join, [page.session, c.watch, c.saved, c.code, c.nickname], outputs, **QUIET).then(
        **streaming)
    c.open.click(h.open, [page.session, c.watch, c.saved, *train.corpus_inputs, c.models, c.lesson, c.budget], outputs,
                 **QUIET).then(**streaming)
    c.projector.change(None, c.projector, None, js=BOARD_JS, queue=False, **QUIET)
    page.tabs.select(h.tab_selected, c.watch, None, queue=False, **QUIET)


def wire_teacher(page: Page, c: ClassroomTab, h: ClassPage) -> None:
    """The teacher's buttons: the page's own class and key (the key never leaves the teacher's page)."""
    for action in ("pin", "unpin", "hide", "show"):
        c.buttons[action].click(h.moderate_page(action), [c.watch, c.run], c.teacher_status, **QUIET)
    c.buttons["close"].click(h.moderate_page("close"), [c.watch, c.run, c.sure], c.teacher_status, **QUIET)
    c.buttons["csv"].click(h.csv_page, [page.session, c.watch], c.csv, **QUIET)


def wire_api(page: Page, c: ClassroomTab, h: ClassPage, stream: BoardStream) -> None:
    """The API (gradio_client): endpoints on invisible buttons, their values in invisible fields."""
    f = {name: gr.Textbox(visible=False) for name in ("code", "nickname", "token", "key", "action", "lesson")}
    number, models = gr.Number(visible=False), gr.CheckboxGroup(options.model_choices(), visible=False)
    message, data, file = gr.Markdown(visible=False), gr.JSON(visible=False), gr.File(visible=False)
    train, session = page.train, page.session

    def endpoint(fn, inputs, outputs, name, **kw):
        gr.Button(visible=False).click(fn, inputs, outputs, inputs_kwargs=kw, api_name=name, show_progress="hidden")

    endpoint(h.api_open, session, [message, data], "class_open", corpus=train.corpus_file, text=train.corpus_text,
             example=train.example, ascii_fold=train.ascii_fold, latin1=train.latin1, models=models,
             lesson=f["lesson"], budget=number)
    endpoint(h.api_join, session, [message, data], "class_join", code=f["code"], nickname=f["nickname"],
             token=f["token"])
    endpoint(h.api_board, None, data, "class_board", code=f["code"])
    endpoint(h.api_moderate, None, message, "class_moderate", code=f["code"], key=f["key"], action=f["action"],
             run=number)
    endpoint(h.api_csv, session, file, "class_csv", code=f["code"], key=f["key"])
    gr.Button(visible=False).click(stream.api(h.api_board), None, data, inputs_kwargs={"code": f["code"]},
                                   api_name="class_watch", concurrency_limit=None, show_progress="hidden")
