"""The Compare tab's layout and wiring: lesson buttons, the race's fields, the chart, the runs table with its
actions, the film strips and the share link. The handlers and pictures are in `compare_view`, races in
`racing` (through `page.runner`, the lifecycle Train uses too).

    build(page, tab) -> CompareTab

Named endpoints: /race (streaming), /runs (the table as data), /use_run, /run_checkpoint, /runs_csv.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr

from charrnn.lessons import LESSONS
from charrnn.record import COPY_MIN_LEN, FILM_SEED, FILM_TEMPERATURE

from . import compare_view as view
from . import links, options, racing, runs_chart, train_chart, waiting
from .page import Page, show_on_phone
from .runner import mark_pending, not_started, stop_training
from .settings import PAGE_TIME_BUDGET

LABEL, TAB_ID = "Compare", "compare-tab"

COPY_JS = """(query) => { const url = location.origin + location.pathname + query;
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url; }"""


@dataclass
class CompareTab:
    """The Compare tab's components (the race's fields, its outputs, the run picker and its buttons)."""

    lesson_key: gr.Textbox  # the lesson a race runs ("" = the choice of models)
    lesson_buttons: dict
    lesson_text: gr.Markdown
    race_settings: gr.Accordion
    models: gr.CheckboxGroup
    budget: gr.Slider
    seed: gr.Number
    race: gr.Button
    stop: gr.Button
    status: gr.Markdown
    x_axis: gr.Radio
    chart: gr.Plot
    table: gr.Dataframe
    run: gr.Dropdown
    toggle: gr.Button
    use: gr.Button
    remove: gr.Button
    download: gr.Button
    csv: gr.Button
    files: gr.File
    film: gr.HTML
    link_button: gr.Button
    link: gr.Textbox
    link_note: gr.Markdown  # what the link carries (an uploaded text too long for a link is not in it)
    typed_budget: gr.State  # the budget per model typed on the page or set by a link (None: each lesson's own)
    own_budget: gr.Button  # back to each lesson's own budget
    queue_timer: gr.Timer  # polls the place in line while this tab's race waits
    raced: list | None = None  # the race events (Race, and each lesson's button)


def build(page: Page, tab: gr.Tab) -> CompareTab:
    """The Compare tab's layout, then its wiring: races, the runs and their actions, the share link."""
    c = layout(page)
    wire_races(page, c)
    wire_runs(page, tab, c)
    wire_link(page, tab, c)
    return c


def layout(page: Page) -> CompareTab:
    settings = page.settings
    gr.Markdown(view.INTRO.format(seed=FILM_SEED, temp=FILM_TEMPERATURE, min_len=COPY_MIN_LEN),
                elem_id="compare-intro")
    lesson_key = gr.Textbox(visible=False, elem_id="lesson-key")  # the lesson a race runs ("" = the choice below)
    with gr.Row(elem_id="lessons"):
        lesson_buttons = {key: gr.Button(lesson.title, elem_id=f"lesson-{key}", size="sm")
                          for key, lesson in LESSONS.items()}
    with gr.Row(elem_id="compare-row"):  # the chart first (on a projector's first screen), the lesson beside it
        with gr.Column(scale=3, min_width=340, elem_id="compare-watch"):
            # The status under the chart: what a finished lesson's race showed runs to many lines, and above
            # the chart it pushed the chart off the first screen
            chart = gr.Plot(runs_chart.runs_figure([]), show_label=False, elem_id="compare-plot")
            status = gr.Markdown("Pick a lesson, or choose models and press **Race**.", elem_id="race-status")
            x_axis = gr.Radio([("training step", "step"), ("characters seen", "chars"), ("seconds", "seconds")],
                              value="step", label="x axis", elem_id="x-axis",
                              info="characters seen is fair across batch sizes; seconds (each model's own) shows speed")
        with gr.Column(scale=2, min_width=300, elem_id="compare-side"):
            lesson_text = gr.Markdown(elem_id="lesson-text")
            own_budget = gr.Button("Use each lesson's own budget", size="sm", visible=False, elem_id="own-budget")
            with gr.Row(equal_height=True):
                race = gr.Button("Race", variant="primary", elem_id="race", scale=2)
                stop = gr.Button("Stop", variant="stop", elem_id="race-stop", scale=1)
            with gr.Accordion("Race your own choice of models", open=True, elem_id="race-settings") as race_settings:
                models = gr.CheckboxGroup(options.model_choices(), value=racing.DEFAULT_MODELS, label="models",
                                          elem_id="race-models")
                budget = gr.Slider(1, settings.max_seconds, step=1,
                                   value=min(racing.DEFAULT_BUDGET, settings.max_seconds),
                                   label="budget per model (seconds of its own training)", elem_id="race-budget",
                                   info=f"lessons use it once you set it · all models together at most "
                                        f"{settings.max_race_seconds:g} s on this server")
                seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="race-seed",
                                 info="the same seed: the same initial weights, batches and samples")
    table = gr.Dataframe(view.runs_table(None), label="Runs (click a column's name to sort)", interactive=False,
                         elem_id="runs-table", wrap=False)
    with gr.Row(equal_height=True):
        run = gr.Dropdown([], label="run", elem_id="run-pick", scale=2)
        toggle = gr.Button("Show / hide on the chart", size="sm", elem_id="run-toggle")
        use = gr.Button("Sample from it / continue it", size="sm", elem_id="run-use")
        remove = gr.Button("Remove", size="sm", elem_id="run-remove")
        download = gr.Button("Its checkpoint", size="sm", elem_id="run-download")
        csv = gr.Button("Table as CSV", size="sm", elem_id="runs-csv")
    files = gr.File(label="download", elem_id="runs-file", height=80, interactive=False, visible=False)
    with gr.Accordion("Film strips: what each run writes as it learns", open=True, elem_id="film"):
        film = gr.HTML(view.CSS + view.film_html(None), elem_id="film-strip")
    with gr.Accordion("How to read the chart and the table", open=False, elem_id="compare-help"):
        gr.Markdown(view.HELP)
    with gr.Row(equal_height=True):
        link_button = gr.Button("Copy a link to this lesson", size="sm", elem_id="copy-link", scale=1)
        link = gr.Textbox(label="link (also copied to the clipboard)", elem_id="share-link", scale=3,
                          buttons=["copy"])
    link_note = gr.Markdown(elem_id="share-note")
    return CompareTab(lesson_key, lesson_buttons, lesson_text, race_settings, models, budget, seed, race, stop, status,
                      x_axis, chart, table, run, toggle, use, remove, download, csv, files, film, link_button, link,
                      link_note, gr.State(None), own_budget, gr.Timer(waiting.POLL_SECONDS, active=False))


def wire_races(page: Page, c: CompareTab) -> None:
    """Race and the lesson buttons: each a race through the page's runner, in the training slots' queue;
    while it waits, its place in line (the Train tab's timer handler, `waiting.queue_status`)."""
    settings, session, train = page.settings, page.session, page.train
    race_fn = racing.race_handler(settings, page.examples, page.runner)
    race_inputs = dict(corpus=train.corpus_file, text=train.corpus_text, example=train.example,
                       ascii_fold=train.ascii_fold, latin1=train.latin1, models=c.models, time_budget=c.budget,
                       seed=c.seed, lesson=c.lesson_key, x_axis=c.x_axis)
    race_outputs = [c.status, c.chart, c.table, c.film, c.run, session]
    race_kwargs = dict(concurrency_limit=settings.concurrency, concurrency_id="train", show_progress="hidden")
    quiet = dict(queue=False, show_progress="hidden", api_visibility="private")
    # The click marks the run as waiting (Stop now cancels it) and starts polling its place in line.
    c.race.click(lambda s, m, b, k: mark_pending(s, racing.queued_budget(m, b, k, settings)),
                 [session, c.models, c.budget, c.lesson_key], [c.status, c.queue_timer], **quiet)
    c.queue_timer.tick(waiting.queue_status(page.server, page.demo.sessions, settings.concurrency, PAGE_TIME_BUDGET),
                       session, [c.status, c.queue_timer], **quiet)
    c.raced = [c.race.click(race_fn, session, race_outputs, inputs_kwargs=race_inputs, api_name="race", **race_kwargs)]
    for key, button in c.lesson_buttons.items():
        # Listeners on one click, not a chain: the race starts without waiting for round trips. A lesson
        # races with the budget typed on the page (or a link's) if there is one, else its own: the text says which.
        button.click(lambda typed, k=key: racing.choose_lesson(k, settings, typed), c.typed_budget,
                     [c.lesson_key, c.models, c.budget, c.lesson_text], **quiet)
        button.click(lambda s, b, k=key: mark_pending(s, racing.queued_budget(None, b, k, settings)),
                     [session, c.typed_budget], [c.status, c.queue_timer], **quiet)
        lesson_inputs = {**race_inputs, "lesson": gr.State(key), "time_budget": c.typed_budget}
        del lesson_inputs["models"]
        c.raced.append(button.click(race_fn, session, race_outputs, inputs_kwargs=lesson_inputs,
                                    api_visibility="private", **race_kwargs))
    wire_budget(page, c)
    c.stop.click(stop_training, session, c.status, **quiet)
    for button in (c.race, *c.lesson_buttons.values()):  # a phone: the chart and the status come into view
        button.click(None, None, None, js=show_on_phone("compare-watch"), **quiet)
    for event in c.raced:  # refused before it started (a field's number out of range): no longer waiting
        event.failure(not_started, session, [c.status, c.queue_timer], **quiet)
    for event in c.raced:  # the Train tab's chart shows the tab's model, now the race's best
        event.then(train_chart.model_figure, session, train.loss_plot, show_progress="hidden", api_visibility="private")


def wire_budget(page: Page, c: CompareTab) -> None:
    """A budget typed (or set by a link) is the lessons' too, with a button back to each lesson's own; editing
    the models or the budget makes the race the user's own, no longer the lesson."""
    quiet = dict(queue=False, show_progress="hidden", api_visibility="private")
    c.models.input(lambda: ("", ""), None, [c.lesson_key, c.lesson_text], **quiet)
    c.budget.input(lambda b: ("", "", b, gr.update(visible=True)), c.budget,
                   [c.lesson_key, c.lesson_text, c.typed_budget, c.own_budget], **quiet)
    c.own_budget.click(lambda key: (None, gr.update(visible=False), *lesson_update(key, page.settings, None)),
                       c.lesson_key, [c.typed_budget, c.own_budget, c.budget, c.lesson_text], **quiet)


def lesson_update(key, settings, typed) -> tuple:
    """(the race's budget field, the lesson's text) for the chosen lesson (skipped when none is chosen)."""
    if not key:
        return gr.skip(), gr.skip()
    _, _, budget, text = racing.choose_lesson(key, settings, typed)
    return budget, text


def with_css(outputs):
    """The views' outputs with the film strip's styles in its HTML."""
    *rest, strip, picker = outputs
    return (*rest, view.CSS + strip, picker)


def wire_runs(page: Page, tab: gr.Tab, c: CompareTab) -> None:
    """The chart's axis and units, the run picker's actions, the downloads, and /runs."""
    session = page.session
    private = dict(show_progress="hidden", api_visibility="private")
    c.x_axis.change(view.compare_figure, [session, c.x_axis], c.chart, queue=False, **private)
    page.train.units.change(lambda s, x: (view.compare_figure(s, x), view.runs_table(s)), [session, c.x_axis],
                            [c.chart, c.table], **private)
    c.toggle.click(view.toggle_run, [session, c.run, c.x_axis], [c.chart, c.table], **private)
    c.remove.click(lambda s, r, x: with_css(view.remove_run(s, r, x)), [session, c.run, c.x_axis],
                   [c.chart, c.table, c.film, c.run], **private)
    c.use.click(view.use_run, [session, c.run], [c.status, page.train.loss_plot], api_name="use_run",
                show_progress="hidden")
    for button, fn, inputs, name in ((c.download, view.run_checkpoint, [session, c.run], "run_checkpoint"),
                                     (c.csv, view.export_csv, [session], "runs_csv")):
        button.click(fn, inputs, c.files, api_name=name, show_progress="hidden").then(
            lambda: gr.update(visible=True), None, c.files, queue=False, api_visibility="private")
    # The tab's views refresh when it opens (a Train press adds runs too)
    tab.select(lambda s, x: with_css(view.views(s, x)), [session, c.x_axis], [c.chart, c.table, c.film, c.run],
               **private)
    # /runs, the table as data. An API-only endpoint needs a trigger: an invisible button (the tab's session
    # is an input, so gr.api cannot)
    gr.Button(visible=False, elem_id="runs-api").click(view.runs_table, session, c.table, api_name="runs")


def wire_link(page: Page, tab: gr.Tab, c: CompareTab) -> None:
    """Copy a link to this lesson (with the text, while it is short enough for a link; else it says what the
    link leaves out); a link opens the page in its state: ?lesson=… selects the lesson (the Compare tab, the
    race settings hidden); models, budget and seed fill the race's fields; its budget counts as typed."""
    train = page.train
    share = functools.partial(view.share, examples=page.examples, max_bytes=page.settings.max_upload_bytes)
    c.link_button.click(share, [c.lesson_key, c.models, c.budget, c.seed, train.example, train.corpus_file,
                                train.corpus_text, train.latin1], [c.link, c.link_note], queue=False,
                        api_visibility="private").then(None, c.link, c.link, js=COPY_JS, queue=False,
                                                       api_visibility="private")
    outputs = [c.lesson_key, c.models, c.budget, c.seed, c.lesson_text, c.race_settings, page.tabs, c.typed_budget,
               c.own_budget]
    page.demo.load(link_loader(page.examples, page.settings, tab.id), None, outputs, show_progress="hidden",
                   api_visibility="private")


def link_loader(examples, settings, tab_id):
    """The page's load handler for a race's link: updates for (lesson key, models, budget, seed, lesson text,
    race settings, the tabs, the typed budget, its reset button); a key the link does not set leaves its
    component as it is."""

    def apply_link(request: gr.Request):
        state = links.parse(dict(request.query_params) if request is not None else {}, tuple(examples),
                            settings.max_seconds)
        lesson, text, typed = state.get("lesson"), None, state.get("budget")
        if lesson:  # the lesson's models and budget, unless the link sets its own
            _, models, budget, text = racing.choose_lesson(lesson, settings, typed)
            state = {"models": models, **state, "budget": budget}

        def update(key):
            return gr.update(value=state[key]) if key in state else gr.skip()

        race_link = lesson or "models" in state
        return (update("lesson"), update("models"), update("budget"), update("seed"),
                gr.update(value=text) if lesson else gr.skip(), gr.update(visible=False) if lesson else gr.skip(),
                gr.update(selected=tab_id) if "models" in state else gr.skip(),
                typed if race_link and typed else gr.skip(),
                gr.update(visible=True) if race_link and typed else gr.skip())

    return apply_link
