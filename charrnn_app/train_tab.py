"""The Train tab: the text, the model and its settings, Train and Stop, and the chart beside them.

    build(page, tab) -> TrainTab
    endpoints: /train (streaming), /stop, /describe_corpus

The handlers are `corpus_view` (the text), `training` (the settings, the plan line, the run) and `runner`
(the click that marks a run as waiting, Stop); the run itself goes through `page.runner`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr

from . import corpus_view, links, options, plots, texts, train_chart, training, typed, waiting
from .page import Page, note_budget, show_on_phone
from .runner import mark_pending, not_started
from .settings import PAGE_TIME_BUDGET, example_notes

LABEL, TAB_ID = "Train", "train-tab"


@dataclass
class TrainTab:
    """The Train tab's components and events that other tabs read or drive."""

    corpus_file: gr.File
    corpus_text: gr.Textbox
    example: gr.Dropdown
    ascii_fold: gr.Checkbox
    latin1: gr.Checkbox
    model: gr.Dropdown
    time_budget: gr.Slider
    max_steps: gr.Number
    reset: gr.Checkbox
    yours: gr.CheckboxGroup  # the settings typed, which the next run keeps: untick one to reset it
    train: gr.Button
    stop: gr.Button
    plan_line: gr.Markdown
    card: gr.Markdown
    fields: list  # one input per setting: options.option_specs() then options.TRAIN_SPECS
    status: gr.Markdown
    loss_plot: gr.Plot
    live_sample: gr.Textbox
    units: gr.Radio
    corpus_stats: gr.Markdown
    preview: gr.Textbox
    download: gr.DownloadButton  # the trained model's file: made here (a run fills it), rendered by the Keep tab
    trained: object = None  # the /train event, for what follows a run (`.then`)
    budget_note: object = None  # gr.Markdown: a budget typed out of range, and the number used

    @property
    def corpus_inputs(self) -> list:
        """What `corpus_view.load_corpus` reads: [upload, pasted text, example, ascii_fold, latin1]."""
        return [self.corpus_file, self.corpus_text, self.example, self.ascii_fold, self.latin1]

    @property
    def named_fields(self) -> dict:
        return {s.name: c for s, c in zip([*options.option_specs(), *options.TRAIN_SPECS], self.fields, strict=True)}


def option_input(spec) -> gr.components.Component:
    """An input for one setting, empty at first: empty means the preset's value for this text and budget
    (shown as the placeholder). Text, not gr.Number: a cleared Number sends 0, a real value for dropout."""
    common = dict(label=spec.label, visible=False, elem_id=f"opt-{spec.name}", min_width=150)
    if options.is_choice(spec):  # on/off or named choices; the help line says what empty means
        return gr.Dropdown(options.choices(spec), value=None, info=spec.help or None, allow_custom_value=True,
                           **common)
    return gr.Textbox(value=None, placeholder="preset", info=spec.help or None, max_lines=1, **common)


def least_seconds(settings) -> float:
    """The shortest time budget the Train field takes (a link's shorter one opens at it)."""
    return min(5, settings.max_seconds)


def build(page: Page, tab: gr.Tab) -> TrainTab:
    """The Train tab's layout, then its wiring."""
    handles = layout(page)
    wire_text(page, handles)
    wire_run(page, handles)
    return handles


def layout(page: Page) -> TrainTab:
    s, examples = page.settings, page.examples
    first_example = "weather" if "weather" in examples else next(iter(examples), None)
    with gr.Row(elem_id="train-row"):
        with gr.Column(scale=2, min_width=320, elem_id="controls"):
            example = gr.Dropdown(list(examples), value=first_example, label="Your text: an example…",
                                  elem_id="example", visible=bool(examples),
                                  info="picking one clears the upload and the pasted text")
            corpus_file = gr.File(label=f"…or upload a .txt file (up to {s.max_upload_text})", file_types=[".txt"],
                                  type="filepath", elem_id="corpus-file", height=130)
            model = gr.Dropdown(options.model_choices(), value=options.default_model(), label="Model", elem_id="model")
            time_budget = gr.Slider(least_seconds(s), s.max_seconds, step=5,
                                    value=min(PAGE_TIME_BUDGET, s.max_seconds), label="time budget (seconds)",
                                    elem_id="time-budget", info=f"at most {s.max_seconds:g} s per run on this server")
            with gr.Row(equal_height=True):
                train = gr.Button("Train", variant="primary", elem_id="train", scale=2)
                stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
            # Under Train, not between the budget and Train: the note appears when the budget box loses the focus,
            # which a press on Train does, and above the button it pushed Train 39 px down under the pointer
            # between the press and the release, so the click landed on nothing (a tester, once in three tries).
            budget_note = gr.Markdown(visible=False, elem_id="budget-note")
            reset = gr.Checkbox(label="Start a new model (forget the trained one)", elem_id="reset")
            yours = gr.CheckboxGroup([], label="Your settings — the next run keeps them, also a new model: untick "
                                     "one to go back to the preset", visible=False, elem_id="yours")
            plan_line = gr.Markdown(elem_id="plan")
            with gr.Accordion("Settings of the model and the training", open=False, elem_id="settings"):
                with gr.Row(elem_id="model-options"):
                    fields = [option_input(spec) for spec in options.option_specs()]
                with gr.Row():
                    fields += [option_input(spec) for spec in options.TRAIN_SPECS]
                max_steps = gr.Number(0, minimum=0, label="step limit (0 = none)", elem_id="max-steps",
                                      info="stop earlier after this many steps")
            with gr.Accordion("About this model", open=False, elem_id="about-model"):
                card = gr.Markdown(elem_id="model-card")
        with gr.Column(scale=3, min_width=340, elem_id="watch"):
            status = gr.Markdown("Press **Train** to start.", label="status", show_label=False, elem_id="status")
            loss_plot = gr.Plot(plots.loss_figure(None), label="loss", show_label=False, elem_id="loss-plot")
            live_sample = gr.Textbox(label="What the model writes now", lines=5, max_lines=8, interactive=False,
                                     elem_id="live-sample")
            with gr.Row():
                units = gr.Radio(["nats", "bits"], value="nats", label="loss in", elem_id="units",
                                 info="1 nat = 1.44 bits")
            with gr.Accordion("What the chart shows", open=False, elem_id="chart-help"):
                gr.Markdown(texts.CHART + "\n\n" + texts.LIVE_SAMPLE)
    with gr.Accordion("Your text: paste it, its statistics and a preview", open=True, elem_id="text-details"):
        gr.Markdown(texts.CORPUS)
        with gr.Row():
            with gr.Column():
                corpus_text = gr.Textbox(label="…or paste text", lines=4, max_lines=8, elem_id="corpus-text")
                ascii_fold = gr.Checkbox(label="Fold to ASCII (é → e, “ → \")", elem_id="ascii-fold",
                                         info="fewer distinct characters: an easier task")
                latin1 = gr.Checkbox(label="Windows-1252 / Latin-1 fallback", elem_id="latin1",
                                     info="read an upload that is not UTF-8 (Western European)")
            with gr.Column():
                corpus_stats = gr.Markdown("The statistics of your text appear here.", elem_id="corpus-stats")
                preview = gr.Textbox(label="Preview: the start of the text", lines=6, max_lines=6, interactive=False,
                                     elem_id="corpus-preview")
    download = gr.DownloadButton("Download the model (.safetensors)", elem_id="download", render=False)
    return TrainTab(corpus_file, corpus_text, example, ascii_fold, latin1, model, time_budget, max_steps, reset,
                    yours, train, stop, plan_line, card, fields, status, loss_plot, live_sample, units, corpus_stats,
                    preview, download, budget_note=budget_note)


def wire_text(page: Page, t: TrainTab) -> None:
    """The text's statistics and preview (also /describe_corpus), an upload checked as it lands, an example
    replacing the upload, and a link's state (?example=…&model=…&budget=…&present=1&text=…)."""
    s, demo, session = page.settings, page.demo, page.session
    describe = functools.partial(corpus_view.describe_corpus, examples=page.examples, max_bytes=s.max_upload_bytes,
                                 notes=example_notes(s.examples_dir))
    gr.on([demo.load, *(c.change for c in t.corpus_inputs)], describe, t.corpus_inputs,
          [t.corpus_stats, t.preview, page.corpus_info], trigger_mode="always_last", show_progress="hidden",
          api_name="describe_corpus")
    checked = t.corpus_file.upload(functools.partial(corpus_view.check_upload, max_bytes=s.max_upload_bytes),
                                   [t.corpus_file, t.ascii_fold, t.latin1, session, t.corpus_text, t.example], None,
                                   api_visibility="private")
    # A refused file leaves the box (the toast said so): later Train presses and lessons use what the page shows.
    checked.failure(corpus_view.refused_upload, None, t.corpus_file, queue=False, api_visibility="private")
    t.example.input(corpus_view.example_chosen, t.example, [t.corpus_file, t.corpus_text], api_visibility="private")
    demo.load(links.link_loader(tuple(page.examples), s.max_seconds, least_seconds(s)), None,
              [t.example, t.model, t.time_budget, page.present, t.corpus_text], show_progress="hidden",
              api_visibility="private")


def wire_run(page: Page, t: TrainTab) -> None:
    """What Train will use (the fields' placeholders, the card, the plan line), then Train, Stop, the place
    in line while waiting, and the chart's units."""
    s, demo, session = page.settings, page.demo, page.session

    # What an empty field means depends on the model, the text, the budget and the tab's trained model:
    # refresh the placeholders whenever one changes, and the card and "Train will use" line on any edit.
    plan_inputs = [t.model, page.corpus_info, t.time_budget, t.max_steps, t.reset, session]
    quiet = dict(show_progress="hidden", api_visibility="private")
    plan_changed = [demo.load, t.model.change, page.corpus_info.change, t.time_budget.change, t.max_steps.change,
                    t.reset.change]
    gr.on(plan_changed, training.model_selected, plan_inputs, t.fields, trigger_mode="always_last", **quiet)
    gr.on(plan_changed + [c.change for c in t.fields], training.plan_summary, plan_inputs, [t.card, t.plan_line],
          inputs_kwargs=t.named_fields, trigger_mode="always_last", **quiet)
    # Every typed value the next run keeps, listed under Train; unticking one empties its field.
    gr.on([demo.load, t.model.change, t.max_steps.change, *(c.change for c in t.fields)], typed.listed,
          [t.model, t.max_steps, *t.fields], t.yours, trigger_mode="always_last", **quiet)
    t.yours.input(typed.reset, [t.yours, t.model, t.max_steps, *t.fields], [*t.fields, t.max_steps], **quiet)

    # A budget typed out of range is taken to the nearest end when the box loses the focus (a click on Train too):
    # the line under Train says which number was used, and the run's status repeats it.
    t.time_budget.release(note_budget(t.time_budget), session, t.budget_note, queue=False, **quiet)

    # Train streams into the chart; Stop (no queue: it answers at once) asks the loop to end.
    queue_timer = gr.Timer(waiting.POLL_SECONDS, active=False)  # while this tab's Train waits in line
    t.train.click(mark_pending, [session, t.time_budget], [t.status, queue_timer], queue=False, **quiet)
    t.train.click(None, None, None, js=show_on_phone("status"), queue=False, **quiet)  # a phone: status, chart
    queue_timer.tick(waiting.queue_status(page.server, demo.sessions, s.concurrency, PAGE_TIME_BUDGET), session,
                     [t.status, queue_timer], queue=False, **quiet)
    t.trained = t.train.click(
        training.train_handler(s, page.examples, page.runner), session,
        [t.status, t.loss_plot, t.live_sample, t.download, t.reset, session],
        inputs_kwargs={"corpus": t.corpus_file, "text": t.corpus_text, "example": t.example,
                       "ascii_fold": t.ascii_fold, "latin1": t.latin1, "model": t.model, "time_budget": t.time_budget,
                       "max_steps": t.max_steps, "reset": t.reset, **t.named_fields},
        api_name="train", concurrency_limit=s.concurrency, concurrency_id="train",
        show_progress="full", show_progress_on=t.status)  # Gradio's queue position and estimated start
    t.trained.failure(not_started, session, [t.status, queue_timer], queue=False, **quiet)  # refused, not waiting
    t.stop.click(page.runner.stop_handler(), session, t.status, queue=False, api_name="stop")
    t.units.change(train_chart.change_units, [t.units, session, page.corpus_info], t.loss_plot, queue=False, **quiet)
    page.corpus_info.change(train_chart.corpus_chart, [page.corpus_info, session], t.loss_plot, **quiet)
    t.trained.then(training.model_selected, plan_inputs, t.fields, **quiet)
    t.trained.then(training.plan_summary, plan_inputs, [t.card, t.plan_line], inputs_kwargs=t.named_fields,
                   **quiet)  # now: continuing the trained model
