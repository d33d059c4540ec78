"""The Compare tab's layout and wiring: lesson buttons, the race's fields, the chart, the runs table with its
actions, the film strips and the share link. The handlers and pictures are in `compare_view`.

    app.EXTRA_TABS: ("Compare", "compare-tab", compare_tab.build_tab)

Named endpoints: /race (streaming), /runs (the table as data), /use_run, /run_checkpoint, /runs_csv.
"""

from __future__ import annotations

import functools

import gradio as gr
from gradio.context import Context

from charrnn.lessons import LESSONS
from charrnn.record import COPY_MIN_LEN, FILM_SEED, FILM_TEMPERATURE

from . import compare_view as view
from . import links, options, plots, training

COPY_JS = """(query) => { const url = location.origin + location.pathname + query;
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url; }"""


def build_tab(page, settings, examples) -> None:
    """The Compare tab's components and events, inside the tab the page opened (see app.EXTRA_TABS)."""

    gr.Markdown(view.INTRO.format(seed=FILM_SEED, temp=FILM_TEMPERATURE, min_len=COPY_MIN_LEN),
                elem_id="compare-intro")
    lesson_key = gr.Textbox(visible=False, elem_id="lesson-key")  # the lesson a race runs ("" = the choice below)
    with gr.Row(elem_id="lessons"):
        lesson_buttons = {key: gr.Button(lesson.title, elem_id=f"lesson-{key}", size="sm")
                          for key, lesson in LESSONS.items()}
    lesson_text = gr.Markdown(elem_id="lesson-text")
    with gr.Accordion("Race your own choice of models", open=True, elem_id="race-settings") as race_settings:
        models = gr.CheckboxGroup(options.model_choices(), value=view.DEFAULT_MODELS, label="models",
                                  elem_id="race-models")
        with gr.Row():
            budget = gr.Slider(1, settings.max_seconds, step=1, value=min(view.DEFAULT_BUDGET, settings.max_seconds),
                               label="budget per model (seconds of its own training)", elem_id="race-budget",
                               info=f"all models together at most {settings.max_race_seconds:g} s on this server")
            seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="race-seed",
                             info="the same seed: the same initial weights, batches and samples")
    with gr.Row(equal_height=True):
        race_btn = gr.Button("Race", variant="primary", elem_id="race", scale=2)
        stop_btn = gr.Button("Stop", variant="stop", elem_id="race-stop", scale=1)
    status = gr.Markdown("Pick a lesson, or choose models and press **Race**.", elem_id="race-status")
    x_axis = gr.Radio([("training step", "step"), ("characters seen", "chars"), ("seconds", "seconds")],
                      value="step", label="x axis", elem_id="x-axis",
                      info="characters seen is fair across batch sizes; seconds (each model's own) shows speed")
    chart = gr.Plot(plots.runs_figure([]), show_label=False, elem_id="compare-plot")
    table = gr.Dataframe(view.runs_table(None), label="Runs (click a column's name to sort)", interactive=False,
                         elem_id="runs-table", wrap=False)
    with gr.Row(equal_height=True):
        run = gr.Dropdown([], label="run", elem_id="run-pick", scale=2)
        toggle_btn = gr.Button("Show / hide on the chart", size="sm", elem_id="run-toggle")
        use_btn = gr.Button("Sample from it / continue it", size="sm", elem_id="run-use")
        remove_btn = gr.Button("Remove", size="sm", elem_id="run-remove")
        download_btn = gr.Button("Its checkpoint", size="sm", elem_id="run-download")
        csv_btn = gr.Button("Table as CSV", size="sm", elem_id="runs-csv")
    files = gr.File(label="download", elem_id="runs-file", height=80, interactive=False, visible=False)
    with gr.Accordion("Film strips: what each run writes as it learns", open=True, elem_id="film"):
        film = gr.HTML(view.CSS + view.film_html(None), elem_id="film-strip")
    with gr.Accordion("How to read the chart and the table", open=False, elem_id="compare-help"):
        gr.Markdown(view.HELP)
    with gr.Row(equal_height=True):
        link_btn = gr.Button("Copy a link to this lesson", size="sm", elem_id="copy-link", scale=1)
        link = gr.Textbox(label="link (also copied to the clipboard)", elem_id="share-link", scale=3,
                          buttons=["copy"])

    session, example = page.session, page.corpus_inputs[2]
    def with_css(outputs):  # the film strip's HTML carries its own styles
        *rest, strip, picker = outputs
        return (*rest, view.CSS + strip, picker)

    race_fn = view.race_handler(settings, examples)

    race_inputs = dict(corpus=page.corpus_inputs[0], text=page.corpus_inputs[1], example=example,
                       ascii_fold=page.corpus_inputs[3], latin1=page.corpus_inputs[4], models=models,
                       time_budget=budget, seed=seed, lesson=lesson_key, x_axis=x_axis)
    race_outputs = [status, chart, table, film, run, session]
    race_kwargs = dict(concurrency_limit=settings.concurrency, concurrency_id="train", show_progress="minimal",
                       show_progress_on=status)
    pending = dict(fn=training.mark_pending, inputs=session, outputs=status, queue=False, show_progress="hidden",
                   api_visibility="private")
    race_btn.click(**pending)
    raced = race_btn.click(race_fn, session, race_outputs, inputs_kwargs=race_inputs, api_name="race", **race_kwargs)
    after = [raced]
    for key, button in lesson_buttons.items():
        # Three listeners on one click, not a chain: the race starts without waiting for two round trips.
        # A lesson button races the lesson as designed (its own budget); Race uses the fields (a link's budget).
        button.click(functools.partial(view.choose_lesson, key, settings=settings), None,
                     [lesson_key, models, budget, lesson_text], queue=False, show_progress="hidden",
                     api_visibility="private")
        button.click(**pending)
        lesson_inputs = {**race_inputs, "lesson": gr.State(key)}
        del lesson_inputs["models"], lesson_inputs["time_budget"]
        after.append(button.click(race_fn, session, race_outputs, inputs_kwargs=lesson_inputs,
                                  api_visibility="private", **race_kwargs))
    for edited in (models.input, budget.input):  # the user's own race: no longer the lesson
        edited(lambda: ("", ""), None, [lesson_key, lesson_text], queue=False, show_progress="hidden",
               api_visibility="private")
    stop_btn.click(training.stop_training, session, status, queue=False, api_visibility="private")
    for event in after:  # the Train tab's chart shows the tab's model, now the race's best
        event.then(training.model_figure, session, page.loss_plot, show_progress="hidden", api_visibility="private")

    table_event = dict(show_progress="hidden")
    x_axis.change(view.compare_figure, [session, x_axis], chart, queue=False, api_visibility="private", **table_event)
    page.units.change(lambda s, x: (view.compare_figure(s, x), view.runs_table(s)), [session, x_axis], [chart, table],
                      api_visibility="private", **table_event)
    toggle_btn.click(view.toggle_run, [session, run, x_axis], [chart, table], api_visibility="private", **table_event)
    remove_btn.click(lambda s, r, x: with_css(view.remove_run(s, r, x)), [session, run, x_axis],
                     [chart, table, film, run], api_visibility="private", **table_event)
    use_btn.click(view.use_run, [session, run], [status, page.loss_plot], api_name="use_run", **table_event)
    for button, fn, inputs, name in ((download_btn, view.run_checkpoint, [session, run], "run_checkpoint"),
                                     (csv_btn, view.export_csv, [session], "runs_csv")):
        button.click(fn, inputs, files, api_name=name, **table_event).then(
            lambda: gr.update(visible=True), None, files, queue=False, api_visibility="private")
    # /runs: the table as data; the tab's views refresh when it opens (a Train press adds runs too)
    refresh = Context.block.select if Context.block is not None else None
    if refresh is not None:
        refresh(lambda s, x: with_css(view.views(s, x)), [session, x_axis], [chart, table, film, run],
                api_visibility="private", **table_event)
    # An API-only endpoint needs a trigger: an invisible button (the tab's session is an input, so gr.api cannot)
    gr.Button(visible=False, elem_id="runs-api").click(view.runs_table, session, table, api_name="runs")

    link_btn.click(view.share_link, [lesson_key, models, budget, seed, example], link, queue=False,
                   api_visibility="private").then(None, link, link, js=COPY_JS, queue=False,
                                                  api_visibility="private")
    # A link opens the page in its state: ?lesson=… selects the lesson (the Compare tab, the race settings
    # hidden); models, budget and seed fill the race's fields.
    tabs = Context.block.parent if Context.block is not None else None
    tab_id = getattr(Context.block, "id", None)

    def apply_link(request: gr.Request):
        state = links.parse(dict(request.query_params) if request is not None else {}, tuple(examples),
                            settings.max_seconds)
        lesson = state.get("lesson")
        out = [gr.update(value=lesson) if lesson else gr.skip(),
               gr.update(value=state["models"]) if "models" in state else (
                   gr.update(value=view.choose_lesson(lesson, settings)[1]) if lesson else gr.skip()),
               gr.update(value=state["budget"]) if "budget" in state else (
                   gr.update(value=view.lesson_budget(LESSONS[lesson], settings)) if lesson else gr.skip()),
               gr.update(value=state["seed"]) if "seed" in state else gr.skip(),
               gr.update(value=view.choose_lesson(lesson, settings)[3]) if lesson else gr.skip(),
               gr.update(visible=False) if lesson else gr.skip()]
        if tabs is not None:
            out.append(gr.update(selected=tab_id) if lesson or "models" in state else gr.skip())
        return tuple(out)

    root = Context.root_block
    if root is not None:
        outputs = [lesson_key, models, budget, seed, lesson_text, race_settings] + ([tabs] if tabs is not None else [])
        root.load(apply_link, None, outputs, show_progress="hidden", api_visibility="private")
