"""The Compare tab's handlers and pictures (its layout and wiring: `compare_tab.py`): every run of the tab on
one chart, a runs table, races, film strips and the lessons.

    Race / a lesson ─► race_models(...): plan every model (charrnn.race, through plan_run), let them take
                       turns, stream (status, chart, table, film strips) about three times a second
    /runs          ─► runs_table(session): the table as data
    run actions    ─► toggle_run / remove_run / use_run / run_checkpoint / export_csv

Handlers are plain functions (values in, values out); the figure is `plots.runs_figure`; the runs are the
tab's `Session.runs` (`charrnn.record.RunRecord`), which the Train tab adds to as well.
"""

from __future__ import annotations

import html
import inspect
import logging
import math
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from charrnn import MODELS, corpus_stats, save
from charrnn.checkers import CHECKERS
from charrnn.lessons import LESSONS, NGRAM_TRAIN_LOSS, Lesson
from charrnn.race import Entrant, plan_race, race
from charrnn.record import ROW_KEYS

from . import links, plots, training, user_error
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


HELP = """**Solid lines** are each run's validation loss (text it never trains on), **dotted** its training loss
on the batch it just learned from; a triangle marks where a run was continued. The dashed lines are the levels
to beat: a uniform guess over the characters, ln(V), and knowing only how common each character is (the
unigram entropy). **x axis:** *training step* compares updates; *characters seen* is fair across batch sizes;
*seconds* (each run's own training time, not the time others took their turn) shows which is fastest.

**Table:** *final val* is measured on the held-out text at the end, *best val* the lowest estimate during the
run; *chars/s* the training speed; *copied* the share of the last sample inside spans of 12 or more characters
found verbatim in the training text (recall rather than writing); *score* the example's own checker (0 to 1),
where the text is one of the examples; *weights* whether the run's model is still kept (the last few runs').

""" + NGRAM_TRAIN_LOSS


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


def views(session, x: str = "step") -> tuple:
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
    session.claim(corpus)  # first: a race cancelled in the queue still leaves its upload to this tab
    if session.running:
        raise user_error("This tab is already training: press Stop first.")
    if session.take_queued_stop():
        yield ("**Cancelled** while waiting for a free training slot.", *views(session, x_axis), session)
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
        session.check_room(sum(12 * p.n_params for p in plans) + len(corpus_text), settings.max_tab_mb)
    except ValueError as e:
        raise user_error(f"{str(e).rstrip('.')}.") from None
    checker_name = lesson.checker if lesson is not None else training.corpus_checker(corpus, text, example)
    checker = CHECKERS.get(checker_name) if checker_name else None
    session.running, session.stop = True, False
    session.uniform = math.log(len(plans[0].vocab))
    session.unigram = corpus_stats(corpus_text).unigram_entropy
    names = ", ".join(MODELS[p.model_name].title for p in plans)
    starting = (f"**Starting a race** of {len(plans)} models ({names}) on {source} ({len(corpus_text):,} "
                f"characters), {budget:g} s each, seed {seed}…")
    corpus_name = source.removeprefix("the ").replace("`", "")
    last, update, error = 0.0, None, None
    events = race(corpus_text, entrants, time_budget=budget, seed=seed, shared=shared, limits=settings.limits,
                  max_seconds=settings.max_race_seconds, corpus=corpus_name, first_run_id=session.next_run,
                  checker=checker, stop=lambda: session.stop, plans=plans)
    all_started = False  # the moment every model has its first point is shown at once, not throttled
    try:  # from here on, whatever happens (a closed tab too), the tab is free again at the end
        yield starting, gr.skip(), gr.skip(), gr.skip(), gr.skip(), session
        for update in events:
            session.add_runs(update.records, trim=False)
            started = not all_started and all(r.curve.step for r in update.records)
            all_started = all_started or started
            if update.done or started or time.perf_counter() - last >= UPDATE_EVERY:
                yield (_race_status(update, session), *views(session, x_axis), session)
                last = time.perf_counter()
    except Exception as e:  # a model that fails mid-race: keep what was trained, say why (and log it)
        logging.getLogger(__name__).exception("race failed")
        error = f"The race stopped with an error: {str(e).splitlines()[0]}."
    finally:
        events.close()
        session.running = False
        records = update.records if update is not None else []
        trained = [r for r in records if r.bundle is not None and r.final_val is not None]
        if trained and not session.closed:  # the Write tab samples the race's best model; Train continues it
            best = min(trained, key=lambda r: r.final_val)
            session.bundle, session.train_text, session.val_text = best.bundle, best.train_text, best.val_text
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
    return views(session, x_axis)


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
    folder = session.files() / "runs"  # beside the Keep tab's file, which write_checkpoint replaces
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


CSS = """<style>
.film-run { margin: 0.6em 0; } .film-title { margin-bottom: 0.2em; }
.film-row { display: flex; gap: 6px; overflow-x: auto; }
.film-frame { flex: 1 0 220px; border: 1px solid #ccc; border-radius: 4px; padding: 4px; }
.film-label { font-size: 0.8em; color: #555; }
.film-frame pre { white-space: pre-wrap; font-size: 0.75em; margin: 0; max-height: 14em; overflow-y: auto; }
.film-frame mark { background: #E69F00; color: black; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; border-radius: 2px; }
</style>"""
