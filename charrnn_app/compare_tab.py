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
from . import links, options, plots, racing, training
from .page import Page
from .runner import mark_pending, stop_training

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
    lesson_text = gr.Markdown(elem_id="lesson-text")
    with gr.Accordion("Race your own choice of models", open=True, elem_id="race-settings") as race_settings:
        models = gr.CheckboxGroup(options.model_choices(), value=racing.DEFAULT_MODELS, label="models",
                                  elem_id="race-models")
        with gr.Row():
            budget = gr.Slider(1, settings.max_seconds, step=1, value=min(racing.DEFAULT_BUDGET, settings.max_seconds),
                               label="budget per model (seconds of its own training)", elem_id="race-budget",
                               info=f"all models together at most {settings.max_race_seconds:g} s on this server")
            seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="race-seed",
                             info="the same seed: the same initial weights, batches and samples")
    with gr.Row(equal_height=True):
        race = gr.Button("Race", variant="primary", elem_id="race", scale=2)
        stop = gr.Button("Stop", variant="stop", elem_id="race-stop", scale=1)
    status = gr.Markdown("Pick a lesson, or choose models and press **Race**.", elem_id="race-status")
    x_axis = gr.Radio([("training step", "step"), ("characters seen", "chars"), ("seconds", "seconds")],
                      value="step", label="x axis", elem_id="x-axis",
                      info="characters seen is fair across batch sizes; seconds (each model's own) shows speed")
    chart = gr.Plot(plots.runs_figure([]), show_label=False, elem_id="compare-plot")
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
    return CompareTab(lesson_key, lesson_buttons, lesson_text, race_settings, models, budget, seed, race, stop, status,
                      x_axis, chart, table, run, toggle, use, remove, download, csv, files, film, link_button, link)


def wire_races(page: Page, c: CompareTab) -> None:
    """Race and the lesson buttons: each a race through the page's runner, in the training slots' queue."""
    settings, session, train = page.settings, page.session, page.train
    race_fn = racing.race_handler(settings, page.examples, page.runner)
    race_inputs = dict(corpus=train.corpus_file, text=train.corpus_text, example=train.example,
                       ascii_fold=train.ascii_fold, latin1=train.latin1, models=c.models, time_budget=c.budget,
                       seed=c.seed, lesson=c.lesson_key, x_axis=c.x_axis)
    race_outputs = [c.status, c.chart, c.table, c.film, c.run, session]
    race_kwargs = dict(concurrency_limit=settings.concurrency, concurrency_id="train", show_progress="minimal",
                       show_progress_on=c.status)
    # The click marks the run as waiting (Stop now cancels it); only its status is shown here: the place in
    # line is polled for Train alone (the timer `mark_pending` starts is the Train tab's)
    pending = dict(fn=lambda s: mark_pending(s)[0], inputs=session, outputs=c.status, queue=False,
                   show_progress="hidden", api_visibility="private")
    c.race.click(**pending)
    c.raced = [c.race.click(race_fn, session, race_outputs, inputs_kwargs=race_inputs, api_name="race", **race_kwargs)]
    for key, button in c.lesson_buttons.items():
        # Three listeners on one click, not a chain: the race starts without waiting for two round trips.
        # A lesson button races the lesson as designed (its own budget); Race uses the fields (a link's budget).
        button.click(functools.partial(racing.choose_lesson, key, settings=settings), None,
                     [c.lesson_key, c.models, c.budget, c.lesson_text], queue=False, show_progress="hidden",
                     api_visibility="private")
        button.click(**pending)
        lesson_inputs = {**race_inputs, "lesson": gr.State(key)}
        del lesson_inputs["models"], lesson_inputs["time_budget"]
        c.raced.append(button.click(race_fn, session, race_outputs, inputs_kwargs=lesson_inputs,
                                    api_visibility="private", **race_kwargs))
    for edited in (c.models.input, c.budget.input):  # the user's own race: no longer the lesson
        edited(lambda: ("", ""), None, [c.lesson_key, c.lesson_text], queue=False, show_progress="hidden",
               api_visibility="private")
    c.stop.click(stop_training, session, c.status, queue=False, api_visibility="private")
    for event in c.raced:  # the Train tab's chart shows the tab's model, now the race's best
        event.then(training.model_figure, session, train.loss_plot, show_progress="hidden", api_visibility="private")


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
    """Copy a link to this lesson; a link opens the page in its state: ?lesson=… selects the lesson (the
    Compare tab, the race settings hidden); models, budget and seed fill the race's fields."""
    c.link_button.click(view.share_link, [c.lesson_key, c.models, c.budget, c.seed, page.train.example], c.link,
                        queue=False, api_visibility="private").then(None, c.link, c.link, js=COPY_JS, queue=False,
                                                                    api_visibility="private")
    outputs = [c.lesson_key, c.models, c.budget, c.seed, c.lesson_text, c.race_settings, page.tabs]
    page.demo.load(link_loader(page.examples, page.settings, tab.id), None, outputs, show_progress="hidden",
                   api_visibility="private")


def link_loader(examples, settings, tab_id):
    """The page's load handler for a race's link: updates for (lesson key, models, budget, seed, lesson text,
    race settings, the tabs); a key the link does not set leaves its component as it is."""

    def apply_link(request: gr.Request):
        state = links.parse(dict(request.query_params) if request is not None else {}, tuple(examples),
                            settings.max_seconds)
        lesson, text = state.get("lesson"), None
        if lesson:  # the lesson's models and budget, unless the link sets its own
            _, models, budget, text = racing.choose_lesson(lesson, settings)
            state = {"models": models, "budget": budget, **state}

        def update(key):
            return gr.update(value=state[key]) if key in state else gr.skip()

        return (update("lesson"), update("models"), update("budget"), update("seed"),
                gr.update(value=text) if lesson else gr.skip(), gr.update(visible=False) if lesson else gr.skip(),
                gr.update(selected=tab_id) if "models" in state else gr.skip())

    return apply_link
