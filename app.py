"""charrnn's web app: train a character-level language model on your own text and watch it learn.

    python app.py      serves on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)

Layout and wiring only: the handlers, figures and texts live in `charrnn_app/`. Importing this module
builds the page but opens no port and trains nothing. Server limits come from environment variables
(see `charrnn_app/settings.py`). The page is also an API (gradio_client): /train, /stop, /sample, ...
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch

import charrnn
from charrnn_app import compare_tab, corpus_view, inside_view, links, options, plots, sampling, texts, training, waiting
from charrnn_app.session import (
    Registry,
    Session,
    Uploads,
    delete_session,
    keep_sweeping_empty_uploads,
    limit_malloc_arenas,
    sweep_empty_uploads,
)
from charrnn_app.settings import PAGE_TIME_BUDGET, Settings, example_notes, list_examples

CSS = """
#live-sample textarea, #sample-output textarea, #corpus-preview textarea { font-family: ui-monospace, monospace; }
#status { min-height: 2.5em; }
#model-options .form > * { min-width: 150px !important; }
#intro h1 { margin: 0; font-size: 1.6em; }
#loss-plot .js-plotly-plot { height: 420px; }
#next-char-plot .js-plotly-plot { height: 320px; }
#corpus-file { min-height: 130px; }
@media (max-width: 640px) {  /* a phone: the header stacks, the intro shrinks to its title */
  #header { flex-direction: column; }
  #intro p { display: none; }
}
#intro p { margin: 0.2em 0 0; }
/* Presentation mode (a projector at the back of a classroom): larger type, less chrome. */
body.present { font-size: 20px; }
body.present .prose, body.present label span, body.present textarea, body.present input,
body.present button, body.present .tab-nav button { font-size: 20px !important; }
body.present #intro p, body.present #chart-help, body.present #text-details, body.present #corpus-file,
body.present #present .info-text, body.present #controls .info-text, body.present #units { display: none; }
body.present #intro h1 { font-size: 1.1em; }
body.present #header { margin-bottom: -12px; }
body.present #loss-plot .js-plotly-plot { height: 290px !important; }
body.present #live-sample textarea { height: 3.4em !important; }
body.present #status { min-height: 0; }
"""
# Runs in the browser: the checkbox's value puts the page in presentation mode or takes it out.
PRESENT_JS = """(on) => { document.body.classList.toggle('present', !!on);
  window.dispatchEvent(new Event('resize')); }"""  # Plotly redraws its charts at their new CSS size


def option_input(spec) -> gr.components.Component:
    """An input for one setting, empty at first: empty means the preset's value for this text and budget
    (shown as the placeholder). Text, not gr.Number: a cleared Number sends 0, a real value for dropout."""
    common = dict(label=spec.label, visible=False, elem_id=f"opt-{spec.name}", min_width=150)
    if options.is_choice(spec):  # on/off or named choices; the help line says what empty means
        return gr.Dropdown(options.choices(spec), value=None, info=spec.help or None, allow_custom_value=True,
                           **common)
    return gr.Textbox(value=None, placeholder="preset", info=spec.help or None, max_lines=1, **common)


@dataclass
class Page:
    """The components other tabs read or drive: a tab's builder gets this, not the whole layout."""

    session: gr.State  # the tab's Session: its model (`bundle`), the run's text, the Stop flag
    corpus_info: gr.State  # {n_chars, vocab_size, uniform, unigram} of the chosen text, or None
    corpus_inputs: list  # [upload, pasted text, example, ascii_fold, latin1]: what `load_corpus` takes
    model: gr.Dropdown
    time_budget: gr.Slider
    status: gr.Markdown
    loss_plot: gr.Plot
    units: gr.Radio
    present: gr.Checkbox


# Tabs between Write and Keep: (label, elem_id, builder(page, settings, examples)). A view adds one line.
EXTRA_TABS: list[tuple[str, str, Callable]] = [("Compare", "compare-tab", compare_tab.build_tab),
                                                 ("Inside", "inside-tab", inside_view.build_tab)]


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    settings = settings or Settings.from_env()
    examples = list_examples(settings.examples_dir)
    first_example = "weather" if "weather" in examples else next(iter(examples), None)
    max_bytes = settings.max_upload_bytes
    specs = options.option_specs()

    # A tab's uploads go when the last tab using them closes or expires (`Uploads`); Gradio's own sweep of
    # its cache is a backstop for files no run ever read (an hour, or the TTL if longer: never a file that
    # a queued run is about to read).
    sweep = (600, max(3600, int(settings.session_ttl)))
    with gr.Blocks(title="charrnn — watch a language model learn", delete_cache=sweep) as demo:
        # One Session per tab (deep-copied from this empty one): its model, the Stop flag, chart units.
        session = gr.State(Session(session_root(demo), Uploads()), time_to_live=settings.session_ttl,
                           delete_callback=delete_session)
        demo.sessions = Registry()  # this app's open tabs, freed when a tab closes (see Registry)
        corpus_info = gr.State(None)  # {n_chars, vocab_size, ...} of the chosen text, for the plan and the card
        with gr.Row(elem_id="header", equal_height=True):
            gr.Markdown(texts.INTRO, elem_id="intro")
            present = gr.Checkbox(label="Presentation mode", elem_id="present", scale=0, min_width=180,
                                  info="larger type for a projector (link: ?present=1)")

        with gr.Tabs(elem_id="tabs"):
            # ── Train: the text, the model, Train, and the chart side by side ──
            with gr.Tab("Train", id="train-tab", elem_id="train-tab"):
                with gr.Row(elem_id="train-row"):
                    with gr.Column(scale=2, min_width=320, elem_id="controls"):
                        example = gr.Dropdown(list(examples), value=first_example, label="Your text: an example…",
                                              elem_id="example", visible=bool(examples),
                                              info="picking one clears the upload and the pasted text")
                        corpus_file = gr.File(label=f"…or upload a .txt file (up to {settings.max_upload_text})",
                                              file_types=[".txt"], type="filepath",
                                              elem_id="corpus-file", height=130)
                        model = gr.Dropdown(options.model_choices(), value=options.default_model(), label="Model",
                                            elem_id="model")
                        time_budget = gr.Slider(min(5, settings.max_seconds), settings.max_seconds, step=5,
                                                value=min(PAGE_TIME_BUDGET, settings.max_seconds),
                                                label="time budget (seconds)", elem_id="time-budget",
                                                info=f"at most {settings.max_seconds:g} s per run on this server")
                        with gr.Row(equal_height=True):
                            train_btn = gr.Button("Train", variant="primary", elem_id="train", scale=2)
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
                        reset = gr.Checkbox(label="Start a new model (forget the trained one)", elem_id="reset")
                        plan_line = gr.Markdown(elem_id="plan")
                        with gr.Accordion("Settings of the model and the training", open=False,
                                          elem_id="settings"):
                            with gr.Row(elem_id="model-options"):
                                option_inputs = [option_input(s) for s in specs]
                            with gr.Row():
                                train_inputs = [option_input(s) for s in options.TRAIN_SPECS]
                            max_steps = gr.Number(0, minimum=0, label="step limit (0 = none)",
                                                  elem_id="max-steps", info="stop earlier after this many steps")
                        with gr.Accordion("About this model", open=False, elem_id="about-model"):
                            card = gr.Markdown(elem_id="model-card")
                    with gr.Column(scale=3, min_width=340, elem_id="watch"):
                        status = gr.Markdown("Press **Train** to start.", label="status", show_label=False,
                                             elem_id="status")
                        loss_plot = gr.Plot(plots.loss_figure(None), label="loss", show_label=False,
                                            elem_id="loss-plot")
                        live_sample = gr.Textbox(label="What the model writes now", lines=5, max_lines=8,
                                                 interactive=False, elem_id="live-sample")
                        with gr.Row():
                            units = gr.Radio(["nats", "bits"], value="nats", label="loss in", elem_id="units",
                                             info="1 nat = 1.44 bits")
                        with gr.Accordion("What the chart shows", open=False, elem_id="chart-help"):
                            gr.Markdown(texts.CHART + "\n\n" + texts.LIVE_SAMPLE)
                with gr.Accordion("Your text: paste it, its statistics and a preview", open=True,
                                  elem_id="text-details"):
                    gr.Markdown(texts.CORPUS)
                    with gr.Row():
                        with gr.Column():
                            corpus_text = gr.Textbox(label="…or paste text", lines=4, max_lines=8,
                                                     elem_id="corpus-text")
                            ascii_fold = gr.Checkbox(label="Fold to ASCII (é → e, “ → \")", elem_id="ascii-fold",
                                                     info="fewer distinct characters: an easier task")
                            latin1 = gr.Checkbox(label="Windows-1252 / Latin-1 fallback", elem_id="latin1",
                                                 info="read an upload that is not UTF-8 (Western European)")
                        with gr.Column():
                            corpus_stats = gr.Markdown("The statistics of your text appear here.",
                                                       elem_id="corpus-stats")
                            preview = gr.Textbox(label="Preview: the start of the text", lines=6, max_lines=6,
                                                 interactive=False, elem_id="corpus-preview")

            # ── Write: sampling ──
            with gr.Tab("Write", id="write-tab", elem_id="write-tab"):
                with gr.Row():
                    with gr.Column(scale=2, min_width=320):
                        prompt = gr.Textbox(label="prompt (the text the model continues; may be empty)", lines=2,
                                            elem_id="prompt")
                        temperature = gr.Slider(0, 2, value=0.8, step=0.05, label="temperature",
                                                elem_id="temperature",
                                                info="0 = always the likeliest · 1 = as learned · 2 = wild")
                        with gr.Row():
                            length = gr.Slider(10, 2000, value=500, step=10, label="length (characters)",
                                               elem_id="length")
                            top_k = gr.Slider(0, 100, value=0, step=1, label="top-k (0 = all)", elem_id="top-k")
                            seed = gr.Number(-1, minimum=-1, label="seed (-1 = random)",
                                             elem_id="seed")
                        sample_btn = gr.Button("Sample", variant="primary", elem_id="sample")
                        with gr.Accordion("How the model writes", open=False):
                            gr.Markdown(texts.SAMPLE)
                    with gr.Column(scale=3, min_width=340):
                        sample_output = gr.Textbox(label="What the model wrote", lines=10, max_lines=20,
                                                   interactive=False, elem_id="sample-output")
                        probs_plot = gr.Plot(plots.probs_figure(None), label="next character", show_label=False,
                                             elem_id="next-char-plot")
                        probs_text = gr.Markdown(elem_id="next-char-numbers")  # the chart's numbers in words

            # ── More tabs: each view builds its own from the shared page (see `Page`) ──
            page = Page(session, corpus_info, [corpus_file, corpus_text, example, ascii_fold, latin1], model,
                        time_budget, status, loss_plot, units, present)
            for label, tab_id, build in EXTRA_TABS:
                with gr.Tab(label, id=tab_id, elem_id=tab_id):
                    build(page, settings, examples)

            # ── Keep: download, upload ──
            with gr.Tab("Keep", id="keep-tab", elem_id="keep-tab"):
                gr.Markdown(texts.CHECKPOINT)
                with gr.Row():
                    download = gr.DownloadButton("Download the model (.safetensors)", elem_id="download")
                    checkpoint_file = gr.File(label="Upload a checkpoint (.safetensors, up to "
                                                    f"{settings.max_checkpoint_text})",
                                              file_types=[".safetensors"], type="filepath",
                                              elem_id="checkpoint-file", height=100)
                checkpoint_status = gr.Markdown(elem_id="checkpoint-status")
                takeaway = gr.Markdown(texts.takeaway(None, None), elem_id="takeaway")

        # ── wiring ──
        demo.load(register_session(demo.sessions, demo.GRADIO_CACHE), session, None, api_visibility="private")
        demo.unload(close_session(demo, demo.sessions))
        # Gradio's TTL counts from the State's last write, and uploads, samples and views only read it: an
        # open tab would lose its model after the TTL without a Train. A timer writes it back, so the TTL
        # frees only tabs that went away without the unload event (a closed tab is freed at once).
        gr.Timer(keep_alive_seconds(settings.session_ttl)).tick(
            lambda s: s, session, session, queue=False, show_progress="hidden", api_visibility="private")
        corpus_inputs = [corpus_file, corpus_text, example, ascii_fold, latin1]
        describe = functools.partial(corpus_view.describe_corpus, examples=examples, max_bytes=max_bytes,
                                     notes=example_notes(settings.examples_dir))
        corpus_changed = [c.change for c in corpus_inputs]
        gr.on([demo.load, *corpus_changed], describe, corpus_inputs, [corpus_stats, preview, corpus_info],
              trigger_mode="always_last", show_progress="hidden", api_name="describe_corpus")
        corpus_file.upload(functools.partial(corpus_view.check_upload, max_bytes=max_bytes),
                           [corpus_file, ascii_fold, latin1, session], None, api_visibility="private")
        example.input(corpus_view.example_chosen, example, [corpus_file, corpus_text], api_visibility="private")

        # A link opens the page in a state (?example=…&model=…&budget=…&present=1); presentation mode is CSS.
        demo.load(links.link_loader(tuple(examples), settings.max_seconds), None,
                  [example, model, time_budget, present], show_progress="hidden", api_visibility="private")
        present.change(None, present, None, js=PRESENT_JS, queue=False, api_visibility="private")

        fields = option_inputs + train_inputs
        named_fields = {s.name: c for s, c in zip([*specs, *options.TRAIN_SPECS], fields, strict=True)}
        # What an empty field means depends on the model, the text, the budget and the tab's trained model:
        # refresh the placeholders whenever one changes, and the card and "Train will use" line on any edit.
        plan_inputs = [model, corpus_info, time_budget, max_steps, reset, session]
        plan_changed = [demo.load, model.change, corpus_info.change, time_budget.change, max_steps.change,
                        reset.change]
        gr.on(plan_changed, training.model_selected, plan_inputs, fields, trigger_mode="always_last",
              show_progress="hidden", api_visibility="private")
        gr.on(plan_changed + [c.change for c in fields], training.plan_summary, plan_inputs, [card, plan_line],
              inputs_kwargs=named_fields, trigger_mode="always_last", show_progress="hidden",
              api_visibility="private")

        # Train streams into the chart; Stop (no queue: it answers at once) asks the loop to end.
        queue_timer = gr.Timer(waiting.POLL_SECONDS, active=False)  # while this tab's Train waits in line
        train_btn.click(training.mark_pending, [session, time_budget], [status, queue_timer], queue=False,
                        show_progress="hidden", api_visibility="private")
        queue_timer.tick(waiting.queue_status(demo, demo.sessions, settings.concurrency, PAGE_TIME_BUDGET),
                         session, [status, queue_timer], queue=False, show_progress="hidden",
                         api_visibility="private")
        trained = train_btn.click(
            training.train_handler(settings, examples), session,
            [status, loss_plot, live_sample, download, reset, session],
            inputs_kwargs={"corpus": corpus_file, "text": corpus_text, "example": example, "ascii_fold": ascii_fold,
                           "latin1": latin1, "model": model, "time_budget": time_budget, "max_steps": max_steps,
                           "reset": reset, **named_fields},
            api_name="train", concurrency_limit=settings.concurrency, concurrency_id="train",
            show_progress="full", show_progress_on=status)  # Gradio's queue position and estimated start
        stop_btn.click(training.stop_handler(demo), session, status, queue=False, api_name="stop")
        units.change(training.change_units, [units, session, corpus_info], loss_plot, queue=False,
                     show_progress="hidden", api_visibility="private")
        corpus_info.change(training.corpus_chart, [corpus_info, session], loss_plot, show_progress="hidden",
                           api_visibility="private")

        probs_inputs = [session, prompt, temperature, top_k]
        gr.on([temperature.change, prompt.change, top_k.change], sampling.next_char_chart, probs_inputs,
              probs_plot, trigger_mode="always_last", show_progress="hidden", queue=False,
              api_name="next_char_probs")
        numbers = dict(show_progress="hidden", api_visibility="private")
        gr.on([temperature.change, prompt.change, top_k.change], sampling.next_char_text, probs_inputs, probs_text,
              trigger_mode="always_last", queue=False, **numbers)
        trained.then(sampling.suggest_prompt, [session, prompt], prompt, show_progress="hidden",
                     api_visibility="private")  # an empty prompt: one after which the next character is uncertain
        trained.then(sampling.next_char_chart, probs_inputs, probs_plot, show_progress="hidden",
                     api_visibility="private")
        trained.then(sampling.next_char_text, probs_inputs, probs_text, **numbers)
        trained.then(training.model_selected, plan_inputs, fields, show_progress="hidden", api_visibility="private")
        trained.then(training.plan_summary, plan_inputs, [card, plan_line], inputs_kwargs=named_fields,
                     show_progress="hidden", api_visibility="private")  # now: continuing the trained model
        trained.then(training.show_takeaway, download, takeaway, show_progress="hidden", api_visibility="private")
        gr.on([sample_btn.click, prompt.submit], sampling.sample_text, session, [sample_output, session],
              inputs_kwargs={"prompt": prompt, "length": length, "temperature": temperature, "top_k": top_k,
                             "seed": seed},
              api_name="sample", concurrency_limit=4, concurrency_id="sample", show_progress="minimal")

        checkpoint_file.upload(
            functools.partial(sampling.load_checkpoint, max_bytes=settings.max_checkpoint_bytes,
                              max_params=settings.max_params), [checkpoint_file, session],
            [checkpoint_status, loss_plot, model, *fields, download, session], api_name="load_checkpoint",
            show_progress_on=checkpoint_status,  # a refused file marks only this message, not the chart
        ).then(lambda text: text, checkpoint_status, status, show_progress="hidden", api_visibility="private",
               ).then(sampling.next_char_chart, probs_inputs, probs_plot, show_progress="hidden",
                      api_visibility="private").then(sampling.next_char_text, probs_inputs, probs_text, **numbers)

    demo.queue(max_size=settings.queue_size)
    return demo


def keep_alive_seconds(ttl: float) -> float:
    """How often an open tab writes its State back (a third of the TTL, at most every 10 minutes)."""
    return max(1.0, min(ttl / 3, 600.0))


def session_root(demo: gr.Blocks) -> str:
    """This server's folder for the tabs' checkpoint files, inside Gradio's cache (removed at shutdown)."""
    return str(Path(demo.GRADIO_CACHE) / f"charrnn-{os.getpid()}")


def register_session(registry: Registry, cache: str):
    def register(session, request: gr.Request) -> None:
        registry.add(session, request)
        sweep_empty_uploads(cache)
    return register


def close_session(demo: gr.Blocks, registry: Registry):
    """The unload handler: a tab (or an API client) went away. Its model and files are freed now — Gradio
    would keep a closed session's State for an hour. API clients never load the page, so besides this
    app's registry the Session is looked up in Gradio's own store of that session's state."""
    def close(request: gr.Request) -> None:
        registry.close(request)
        holder = getattr(getattr(demo, "server_app", None), "state_holder", None)
        state = getattr(holder, "session_data", {}).get(getattr(request, "session_hash", None))
        for value in list(getattr(state, "state_data", {}).values()):
            if isinstance(value, Session):
                value.close()
        if state is not None:  # Gradio's own copy of the page for this session: nobody will read it again
            holder.session_data.pop(request.session_hash, None)
        sweep_empty_uploads(demo.GRADIO_CACHE)
    return close


def launch_options(settings: Settings) -> dict:
    """launch() arguments shared by `python app.py` and the tests' in-process servers."""
    return dict(max_file_size=settings.max_file_bytes, css=CSS, run_history=False)


SETTINGS = Settings.from_env()  # server configuration, the same for every visitor
demo = build_demo(SETTINGS)


def warm_up() -> None:
    """Pay the one-time costs before the first user does: a tiny real run through the run plan (the first
    optimizer imports ~1.5 s of code; the first step of each kernel and the first chart cost more), so
    the first point on the first chart comes quickly and the server's memory at rest includes them."""
    for model in ("lstm", "gru"):  # the page's default model, and the usual second choice, at preset sizes
        plan = charrnn.plan_run("the cat sat on the mat.\n" * 200, model, {"threads": 1}, max_steps=3,
                                limits=SETTINGS.limits)
        for _ in plan.train(plan.build()):
            pass
    plots.loss_figure(None)


def main() -> None:
    limit_malloc_arenas()  # before Gradio starts its worker threads
    # Concurrent trainings each get their share of the cores instead of fighting over all of them
    # (oversubscribed, PyTorch's worker threads spin and a step can take 10x longer).
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // SETTINGS.concurrency))
    # Server name and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860.
    demo.launch(prevent_thread_lock=True, **launch_options(SETTINGS))
    sweeping = keep_sweeping_empty_uploads(demo.GRADIO_CACHE)
    signal.signal(signal.SIGTERM, _interrupt)  # a Space restart or `kill`: clean up as Ctrl-C does
    try:
        warm_up()  # serving already; this only shortens the first user's wait for the chart
    except KeyboardInterrupt:
        demo.close()
        return
    try:
        demo.block_thread()  # until Ctrl-C or SIGTERM
    finally:
        sweeping.set()
        demo.sessions.close_all()  # every tab's model and files
        shutil.rmtree(session_root(demo), ignore_errors=True)
        sweep_empty_uploads(demo.GRADIO_CACHE, age=0)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
