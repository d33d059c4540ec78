"""The Compare tab: every run of the tab on one chart, a runs table, races, film strips and the lessons.

    Race / a lesson ─► race_models(...): plan every model (charrnn.race, through plan_run), let them take
                       turns, stream (status, chart, table, film strips) about three times a second
    /runs          ─► runs_table(session): the table as data
    run actions    ─► toggle_run / remove_run / use_run / run_checkpoint / export_csv

Handlers are plain functions (values in, values out); the figure is `plots.runs_figure`; the runs are the
tab's `Session.runs` (`charrnn.record.RunRecord`), which the Train tab adds to as well.
"""

from __future__ import annotations

import functools
import html
import inspect
import math
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio.context import Context

from charrnn import MODELS, corpus_stats, save
from charrnn.checkers import CHECKERS
from charrnn.lessons import LESSONS, Lesson
from charrnn.race import Entrant, plan_race, race
from charrnn.record import FILM_SEED, FILM_TEMPERATURE, ROW_KEYS

from . import links, options, plots, training, user_error
from .corpus_view import load_corpus
from .session import Session, ensure_session

UPDATE_EVERY = 0.35  # seconds between chart updates while racing (~3 per second)
DEFAULT_MODELS = ["ngram", "rnn-scratch", "rnn", "gru", "lstm"]
DEFAULT_BUDGET = 20.0  # seconds per model of a race
FILM_RUNS = 8  # film strips shown: the latest runs
SAMPLE_CHARS = 80  # of each sample in the table (the film strip has it all)

INTRO = """**Compare architectures side by side.** Every run of this tab is kept: each Train press, and each
model of a race. A **race** trains several models on the same text, with the same split and seed, taking
turns so every curve grows at once; each model's budget counts only its own compute. Pick a **lesson** for
a classic comparison, or choose models below. Every sample is written with the same prompt, seed
({seed}) and temperature ({temp}); spans of {min_len} or more characters copied verbatim from the training
text are <mark>highlighted</mark>."""


def _unit(session: Session) -> tuple[float, str]:
    return (plots.BITS_PER_NAT, "bits/char") if session.units == "bits" else (1.0, "nats/char")


def runs_table(session) -> pd.DataFrame:
    """The tab's runs as a table (losses in the chart's units; samples shortened; the film strip has them all)."""
    session = ensure_session(session)
    k, unit = _unit(session)
    rows = []
    for r in session.runs:
        row = r.row(k)
        row["sample"] = row["sample"][:SAMPLE_CHARS].replace("\n", "⏎")
        row["shown"] = "hidden" if r.run_id in session.hidden else "shown"
        rows.append(row)
    columns = [*ROW_KEYS[:-1], "shown", "sample"]
    table = pd.DataFrame(rows, columns=columns)
    return table.rename(columns={"final val": f"final val ({unit})", "best val": f"best val ({unit})"})


def compare_figure(session, x: str = "step"):
    session = ensure_session(session)
    return plots.runs_figure(session.runs, x, session.units, session.uniform, session.unigram, session.hidden)


def highlight(text: str, spans) -> str:
    """`text` as HTML with the copied spans in <mark>; every piece escaped (it is the user's text)."""
    out, at = [], 0
    for start, end in spans:
        out.append(html.escape(text[at:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def film_html(session) -> str:
    """Each run's film strip (the latest runs first): its frames side by side, copied spans highlighted."""
    session = ensure_session(session)
    if not session.runs:
        return "<p>Film strips of every run appear here: what each model writes at 1 %, 5 %, 20 %, 50 % and " \
               "100 % of its budget.</p>"
    parts = []
    for r in reversed(session.runs[-FILM_RUNS:]):
        color = plots.run_color(r.run_id)
        score = f" · score {r.score:.2f}" if r.score is not None else ""
        parts.append(f'<div class="film-run"><div class="film-title"><span class="swatch" style="background:'
                     f'{color}"></span><b>{html.escape(r.name)}</b>{score}</div><div class="film-row">')
        for f in r.film:
            parts.append(f'<div class="film-frame"><div class="film-label">{html.escape(f.label)} · step '
                         f'{f.step:,} · copied {f.copied_share:.0%}</div><pre>{highlight(f.text, f.spans)}</pre>'
                         "</div>")
        parts.append("</div></div>")
    return "".join(parts)


def run_choices(session) -> list[tuple[str, int]]:
    return [(r.name, r.run_id) for r in ensure_session(session).runs]


def _views(session, x: str) -> tuple:
    """(chart, table, film strips, the run picker) for the tab's runs."""
    choices = run_choices(session)
    return (compare_figure(session, x), runs_table(session), film_html(session),
            gr.update(choices=choices, value=choices[-1][1] if choices else None))


def race_entrants(models, lesson: Lesson | None) -> tuple[list[Entrant], dict]:
    if lesson is not None:
        return list(lesson.entrants), dict(lesson.shared)
    unknown = [m for m in models or [] if m not in MODELS]
    if unknown:
        raise user_error(f"unknown model {unknown[0]!r}; choose from: {', '.join(MODELS)}")
    return [Entrant(m) for m in models or []], {}


def race_models(session, corpus=None, text=None, example=None, ascii_fold=False, latin1=False, models=None,
                time_budget=None, seed=0, lesson=None, x_axis="step", *, settings, examples):
    """Race `models` (or the `lesson`'s) for `time_budget` seconds each on the same text, split and seed.
    Yields (status, chart, runs table, film strips, run picker, session) about three times a second."""
    session = ensure_session(session)
    if session.running:
        raise user_error("This tab is already training: press Stop first.")
    if session.take_queued_stop():
        yield ("**Cancelled** while waiting for a free training slot.", *_views(session, x_axis), session)
        return
    lesson = LESSONS.get(lesson) if lesson else None
    entrants, shared = race_entrants(models, lesson)
    budget = float(time_budget) if time_budget not in (None, "", 0) else (
        lesson_budget(lesson, settings) if lesson else min(DEFAULT_BUDGET, settings.max_seconds))
    seed = 0 if seed in (None, "") else int(seed)
    try:
        if lesson is not None and lesson.example is not None:
            if lesson.example not in examples:
                raise ValueError(f"this server has no example {lesson.example!r} for the lesson")
            corpus, text, example = None, None, lesson.example
        corpus_text, source = load_corpus(corpus, text, example, bool(ascii_fold), examples=examples,
                                          max_bytes=settings.max_upload_bytes, latin1=latin1)
        if lesson is not None and lesson.max_chars:
            corpus_text = corpus_text[:lesson.max_chars]
            source += f" (its first {lesson.max_chars:,} characters)"
        plans = plan_race(corpus_text, entrants, time_budget=budget, seed=seed, shared=shared,
                          limits=settings.limits, max_seconds=settings.max_race_seconds)
    except ValueError as e:
        raise user_error(f"{str(e).rstrip('.')}.") from None
    checker_name = lesson.checker if lesson is not None else training.corpus_checker(corpus, text, example)
    checker = CHECKERS.get(checker_name) if checker_name else None
    session.running, session.stop = True, False
    session.uniform = math.log(len(plans[0].vocab))
    session.unigram = corpus_stats(corpus_text).unigram_entropy
    names = ", ".join(MODELS[p.model_name].title for p in plans)
    yield (f"**Starting a race** of {len(plans)} models ({names}) on {source} ({len(corpus_text):,} characters), "
           f"{budget:g} s each, seed {seed}…", gr.skip(), gr.skip(), gr.skip(), gr.skip(), session)
    corpus_name = source.removeprefix("the ").replace("`", "")
    last, update, error = 0.0, None, None
    events = race(corpus_text, entrants, time_budget=budget, seed=seed, shared=shared, limits=settings.limits,
                  max_seconds=settings.max_race_seconds, corpus=corpus_name, first_run_id=session.next_run,
                  checker=checker, stop=lambda: session.stop, plans=plans)
    all_started = False  # the moment every model has its first point is shown at once, not throttled
    try:
        for update in events:
            session.add_runs(update.records, trim=False)
            started = not all_started and all(r.curve.step for r in update.records)
            all_started = all_started or started
            if update.done or started or time.perf_counter() - last >= UPDATE_EVERY:
                yield (_race_status(update, session), *_views(session, x_axis), session)
                last = time.perf_counter()
    except Exception as e:  # a model that fails mid-race: keep what was trained, say why
        error = f"The race stopped with an error: {str(e).splitlines()[0]}."
    finally:
        events.close()
        session.running = False
        records = update.records if update is not None else []
        trained = [r for r in records if r.bundle is not None and r.final_val is not None]
        if trained:  # the Write tab samples the race's best model; Train continues it
            best = min(trained, key=lambda r: r.final_val)
            session.bundle, session.train_text, session.val_text = best.bundle, plans[0].data.train_text, \
                plans[0].data.val_text
        session.trim_weights()
    if error:
        raise user_error(error)


def race_handler(settings, examples):
    """The /race handler for this server: `race_models` with the settings bound, the film strip's styles
    added, and the keyword parameters of `race_models` (so the API lists them by name)."""

    def race_fn(session, *args, **kwargs):
        for status_text, fig, tab, strip, picker, s in race_models(session, *args, settings=settings,
                                                                   examples=examples, **kwargs):
            yield status_text, fig, tab, (CSS + strip if isinstance(strip, str) else strip), picker, s

    sig = inspect.signature(race_models)
    race_fn.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values()
                                                    if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD])
    race_fn.__doc__ = race_models.__doc__
    return race_fn


def _race_status(update, session) -> str:
    k, unit = _unit(session)
    if update.done:
        best = min((r for r in update.records if r.final_val is not None), key=lambda r: r.final_val, default=None)
        head = "**Stopped.** The models are kept as they are." if update.stopped else "**Done.**"
        tail = (f" Lowest validation loss: **{best.name}** ({best.final_val * k:.3f} {unit}) — the Write tab now "
                "samples from it; pick another run below to sample from or continue it." if best else "")
        return f"{head} {len(update.records)} runs in {update.seconds:.0f} s.{tail}"
    r = update.records[update.active]
    val = f", validation {r.curve.val_loss[-1] * k:.3f} {unit}" if r.curve.val_loss else ""
    return (f"**Racing** ({update.seconds:.0f} s): {r.name} at step {r.steps:,}{val} · "
            f"{sum(rec.final_val is not None for rec in update.records)} of {len(update.records)} done")


def toggle_run(session, run_id, x_axis="step"):
    """Show or hide a run on the chart."""
    session = ensure_session(session)
    r = session.run(run_id)
    if r is not None:
        session.hidden ^= {r.run_id}
    return compare_figure(session, x_axis), runs_table(session)


def remove_run(session, run_id, x_axis="step"):
    """Remove a run from the tab (the Write tab's model stays if it was this run's)."""
    session = ensure_session(session)
    r = session.run(run_id)
    if r is not None:
        session.runs.remove(r)
        session.hidden.discard(r.run_id)
    return _views(session, x_axis)


def use_run(session, run_id) -> tuple[str, object]:
    """Make a run's model the tab's model: the Write tab samples it, Train continues it."""
    session = ensure_session(session)
    if session.running:
        raise user_error("This tab is training: press Stop first.")
    r = session.run(run_id)
    if r is None:
        raise user_error("Choose a run first.")
    if r.bundle is None:
        raise user_error(f"The weights of {r.name} were dropped to save memory (a tab keeps the last few runs' "
                         "weights); its curves and numbers stay. Train it again to sample from it.")
    session.bundle, session.train_text, session.val_text = r.bundle, r.train_text, r.val_text
    session.uniform = math.log(len(r.bundle.vocab))
    session.unigram = corpus_stats(r.text).unigram_entropy if r.text else session.unigram
    return (f"**{r.name}** is now the tab's model: the Write tab samples from it, and Train with "
            f"{MODELS[r.model_name].title} continues it.", training.model_figure(session))


def run_checkpoint(session, run_id) -> str:
    """A run's model as a .safetensors file to download."""
    session = ensure_session(session)
    r = session.run(run_id)
    if r is None or r.bundle is None:
        raise user_error("Choose a run whose weights are kept (the table's *weights* column).")
    folder = _folder(session)
    for old in folder.glob("*.safetensors"):
        old.unlink(missing_ok=True)
    return str(save(folder / f"charrnn-run{r.run_id}-{r.model_name}.safetensors", r.bundle, weights_only=True))


def export_csv(session) -> str:
    """The runs table as a CSV file (full samples)."""
    session = ensure_session(session)
    k, unit = _unit(session)
    table = pd.DataFrame([r.row(k) for r in session.runs], columns=list(ROW_KEYS))
    table = table.rename(columns={"final val": f"final val ({unit})", "best val": f"best val ({unit})"})
    path = _folder(session) / "charrnn-runs.csv"
    table.to_csv(path, index=False)
    return str(path)


def _folder(session: Session) -> Path:
    if session.folder is None or not Path(session.folder).is_dir():
        session.folder = tempfile.mkdtemp(prefix="charrnn-session-")
    folder = Path(session.folder) / "runs"  # beside the Keep tab's file, which write_checkpoint replaces
    folder.mkdir(exist_ok=True)
    return folder


def lesson_budget(lesson: Lesson, settings) -> float:
    """The lesson's budget per model, within this server's limits (one run, and the race's total)."""
    return max(1.0, min(lesson.time_budget, settings.max_seconds,
                        math.floor(settings.max_race_seconds / len(lesson.entrants))))


def choose_lesson(key: str, settings):
    """A lesson button: its key, its models and budget in the race's fields, what to look for."""
    lesson = LESSONS[key]
    models = list(dict.fromkeys(e.model for e in lesson.entrants))
    return key, models, lesson_budget(lesson, settings), f"### {lesson.title}\n{lesson.look_for}"


def share_link(lesson, models, time_budget, seed, example) -> str:
    """The query that opens the page in this state (the browser adds its address and copies it)."""
    lesson_obj = LESSONS.get(lesson) if lesson else None
    return links.make_link(example=example if lesson_obj is None or lesson_obj.example is None else None,
                           budget=time_budget, lesson=lesson or None, models=None if lesson else models,
                           seed=seed)


COPY_JS = """(query) => { const url = location.origin + location.pathname + query;
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url; }"""

CSS = """<style>
.film-run { margin: 0.6em 0; } .film-title { margin-bottom: 0.2em; }
.film-row { display: flex; gap: 6px; overflow-x: auto; }
.film-frame { flex: 1 0 220px; border: 1px solid #ccc; border-radius: 4px; padding: 4px; }
.film-label { font-size: 0.8em; color: #555; }
.film-frame pre { white-space: pre-wrap; font-size: 0.75em; margin: 0; max-height: 14em; overflow-y: auto; }
.film-frame mark { background: #E69F00; color: black; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; border-radius: 2px; }
</style>"""


def build_tab(page, settings, examples) -> None:
    """The Compare tab's components and events, inside the tab the page opened (see app.EXTRA_TABS)."""
    from charrnn.copying import CopyIndex

    gr.Markdown(INTRO.format(seed=FILM_SEED, temp=FILM_TEMPERATURE, min_len=CopyIndex(".").min_len),
                elem_id="compare-intro")
    lesson_key = gr.Textbox(visible=False, elem_id="lesson-key")  # the lesson a race runs ("" = the choice below)
    with gr.Row(elem_id="lessons"):
        lesson_buttons = {key: gr.Button(lesson.title, elem_id=f"lesson-{key}", size="sm")
                          for key, lesson in LESSONS.items()}
    lesson_text = gr.Markdown(elem_id="lesson-text")
    with gr.Accordion("Race your own choice of models", open=True, elem_id="race-settings") as race_settings:
        models = gr.CheckboxGroup(options.model_choices(), value=DEFAULT_MODELS, label="models", elem_id="race-models")
        with gr.Row():
            budget = gr.Slider(1, settings.max_seconds, step=1, value=min(DEFAULT_BUDGET, settings.max_seconds),
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
    table = gr.Dataframe(runs_table(None), label="Runs (click a column's name to sort)", interactive=False,
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
        film = gr.HTML(CSS + film_html(None), elem_id="film-strip")
    with gr.Row(equal_height=True):
        link_btn = gr.Button("Copy a link to this lesson", size="sm", elem_id="copy-link", scale=1)
        link = gr.Textbox(label="link (also copied to the clipboard)", elem_id="share-link", scale=3,
                          buttons=["copy"])

    session, example = page.session, page.corpus_inputs[2]
    def with_css(outputs):  # the film strip's HTML carries its own styles
        *rest, strip, picker = outputs
        return (*rest, CSS + strip, picker)

    race_fn = race_handler(settings, examples)

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
        button.click(functools.partial(choose_lesson, key, settings=settings), None,
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
    stop_btn.click(training.stop_training, session, None, queue=False, api_visibility="private")
    for event in after:  # the Train tab's chart shows the tab's model, now the race's best
        event.then(training.model_figure, session, page.loss_plot, show_progress="hidden", api_visibility="private")

    table_event = dict(show_progress="hidden")
    x_axis.change(compare_figure, [session, x_axis], chart, queue=False, api_visibility="private", **table_event)
    page.units.change(lambda s, x: (compare_figure(s, x), runs_table(s)), [session, x_axis], [chart, table],
                      api_visibility="private", **table_event)
    toggle_btn.click(toggle_run, [session, run, x_axis], [chart, table], api_visibility="private", **table_event)
    remove_btn.click(lambda s, r, x: with_css(remove_run(s, r, x)), [session, run, x_axis], [chart, table, film, run],
                     api_visibility="private", **table_event)
    use_btn.click(use_run, [session, run], [status, page.loss_plot], api_name="use_run", **table_event)
    for button, fn, inputs, name in ((download_btn, run_checkpoint, [session, run], "run_checkpoint"),
                                     (csv_btn, export_csv, [session], "runs_csv")):
        button.click(fn, inputs, files, api_name=name, **table_event).then(
            lambda: gr.update(visible=True), None, files, queue=False, api_visibility="private")
    # /runs: the table as data; the tab's views refresh when it opens (a Train press adds runs too)
    refresh = Context.block.select if Context.block is not None else None
    if refresh is not None:
        refresh(lambda s, x: with_css(_views(s, x)), [session, x_axis], [chart, table, film, run],
                api_visibility="private", **table_event)
    # An API-only endpoint needs a trigger: an invisible button (the tab's session is an input, so gr.api cannot)
    gr.Button(visible=False, elem_id="runs-api").click(runs_table, session, table, api_name="runs")

    link_btn.click(share_link, [lesson_key, models, budget, seed, example], link, queue=False,
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
                   gr.update(value=choose_lesson(lesson, settings)[1]) if lesson else gr.skip()),
               gr.update(value=state["budget"]) if "budget" in state else (
                   gr.update(value=lesson_budget(LESSONS[lesson], settings)) if lesson else gr.skip()),
               gr.update(value=state["seed"]) if "seed" in state else gr.skip(),
               gr.update(value=choose_lesson(lesson, settings)[3]) if lesson else gr.skip(),
               gr.update(visible=False) if lesson else gr.skip()]
        if tabs is not None:
            out.append(gr.update(selected=tab_id) if lesson or "models" in state else gr.skip())
        return tuple(out)

    root = Context.root_block
    if root is not None:
        outputs = [lesson_key, models, budget, seed, lesson_text, race_settings] + ([tabs] if tabs is not None else [])
        root.load(apply_link, None, outputs, show_progress="hidden", api_visibility="private")
