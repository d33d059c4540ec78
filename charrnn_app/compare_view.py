"""The Compare tab's handlers and pictures (its layout and wiring: `compare_tab.py`; races: `racing.py`):
every run of the tab on one chart, a runs table, film strips and the share link.

    /runs          ─► runs_table(session): the table as data
    run actions    ─► toggle_run / remove_run / use_run / run_checkpoint / export_csv

Handlers are plain functions (values in, values out); the figure is `runs_chart.runs_figure`; the runs are the
tab's `Session.runs` (`charrnn.record.RunRecord`), which the Train tab adds to as well.
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import pandas as pd

from charrnn import MODELS, save
from charrnn.lessons import LESSONS, NGRAM_TRAIN_LOSS
from charrnn.record import ROW_KEYS

from . import links, plots, runs_chart, train_chart, user_error
from .corpus_view import load_corpus
from .runner import adopt
from .session import KEEP_WEIGHTS, Session, ensure_session

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
*seconds* (each run's own training time, not the time others took their turn) shows which is fastest. Once
every run has finished, each run's final validation loss is written at the end of its curve, and where the finals
lie too close together to tell apart on an axis from 0, the y axis **zooms** to them (its title says so; runs far
above are marked ↑ at its top edge): double-click the chart for the whole run. **One text at a time:** the chart
draws the runs on the latest run's text, with that text's own levels; losses on different texts do not compare (a
uniform guess over 7 bracket characters scores 1.95, over a text's 66 characters 4.19). Its title says how many
runs on other texts it leaves out; the table marks them *other text*: pick one under **run** and press **Show /
hide** to draw its text instead (until the next run starts).

**Table:** *final val* is measured on the held-out text at the end, *best val* the lowest estimate during the
run; *chars/s* the training speed; *copied (%)* the share of the last sample inside spans of 12 or more characters
found verbatim in the training text, and *held-out copied (%)* the same share for held-out text of the same corpus,
which the model never trained on: on templated text (recipes, code, logs) new text copies a lot too, so only a
sample that copies clearly more than that (25 points) is called recall; *ended* done, stopped or diverged (a
diverged run's numbers are a failure's, not a result); *score* the example's own checker (0 to 1), where the
text is an example that has one (blank for any other text); *weights* whether the run's model is still kept
(the last few runs').

""" + NGRAM_TRAIN_LOSS


def loss_unit(session: Session) -> tuple[float, str]:
    return (plots.BITS_PER_NAT, "bits/char") if session.units == "bits" else (1.0, "nats/char")


SHARES = ("copied", "held-out copied")  # the runs table's columns that are shares of a sample


def runs_table(session) -> pd.DataFrame:
    """The tab's runs as a table (losses in the chart's units; samples shortened; the film strip has them all)."""
    session = ensure_session(session)
    k, unit = loss_unit(session)
    rows = []
    others = {r.run_id for r in runs_chart.chart_text(session.runs, chart_text(session))[2]}
    for r in session.runs:
        row = r.row(k)
        row["sample"] = row["sample"][:SAMPLE_CHARS].replace("\n", "⏎")
        row["shown"] = "other text" if r.run_id in others else "hidden" if r.run_id in session.hidden else "shown"
        rows.append(row)
    columns = [*ROW_KEYS[:-1], "shown", "sample"]
    table = pd.DataFrame(rows, columns=columns)
    for share in SHARES:  # percents, as the film strip says them (the CSV keeps the 0..1 fractions)
        table[share] = [None if v is None or v != v else round(100 * v) for v in table[share]]
    return table.rename(columns={"final val": f"final val ({unit})", "best val": f"best val ({unit})",
                                 **{share: f"{share} (%)" for share in SHARES}})


def chart_text(session: Session):
    """The text the chart draws (a `RunRecord.text_key`): the one chosen through a run of it, until a newer run
    starts; None: the latest run's."""
    if any(r.run_id >= session.chart_since for r in session.runs):
        return None
    return session.chart_text


def compare_figure(session, x: str = "step"):
    session = ensure_session(session)
    return runs_chart.runs_figure(session.runs, x, session.units, session.uniform, session.unigram, session.hidden,
                             session.present, chart_text(session))


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
        failed = (' · <span class="diverged">diverged: the loss exploded and training stopped</span>'
                  if r.diverged else "")
        parts.append(f'<div class="film-run"><div class="film-title"><span class="swatch" style="background:'
                     f'{color}"></span><b>{html.escape(r.name)}</b>{score}{failed}</div><div class="film-row">')
        for f in r.film:
            parts.append(f'<div class="film-frame"><div class="film-label">{html.escape(f.label)} · step '
                         f'{f.step:,} · {copied_words(r, f)}</div><pre>{highlight(f.text, f.spans)}</pre></div>')
        parts.append("</div></div>")
    return "".join(parts)


def copied_words(r, frame) -> str:
    """A frame's copied share beside what held-out text of the same corpus copies, and whether that is recall
    (`RunRecord.recall`): on templated text new text copies a lot too."""
    words = f"copied {frame.copied_share:.0%}"
    if r.copy_baseline is None:
        return words
    verdict = r.recall(frame)
    words += f" (held-out text: {r.copy_baseline:.0%})"
    return words + (' · <b class="recall">recalls the training text</b>' if verdict == "recall" else "")


def run_choices(session) -> list[tuple[str, int]]:
    return [(r.name, r.run_id) for r in ensure_session(session).runs]


def views(session, x: str = "step") -> tuple:
    """(chart, table, film strips, the run picker) for the tab's runs."""
    choices = run_choices(session)
    return (compare_figure(session, x), runs_table(session), film_html(session),
            gr.update(choices=choices, value=choices[-1][1] if choices else None))


def toggle_run(session, run_id, x_axis="step"):
    """Show or hide a run on the chart; a run on another text than the chart's: the chart draws its text (and it)
    instead, until a newer run starts."""
    session = ensure_session(session)
    r = session.run(run_id)
    if r is not None and any(o is r for o in runs_chart.chart_text(session.runs, chart_text(session))[2]):
        session.chart_text, session.chart_since = r.text_key, session.next_run
        session.hidden.discard(r.run_id)
    elif r is not None:
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


def dropped_notice(r, session=None) -> str:
    """What a run whose weights were dropped can still do (a notice: the tab keeps the last few runs' weights,
    and the server sets an idle tab's models aside when it needs room: then that reason is given)."""
    if session is not None and session.set_aside_because:
        session.take_notice()  # said now
        return f"ℹ️ {session.set_aside_because}"
    return (f"ℹ️ The weights of **{r.name}** were dropped to save memory (a tab keeps the last {KEEP_WEIGHTS} "
            "runs' weights); its curves, numbers and film strip stay. Train it again to sample from it.")


def use_run(session, run_id) -> tuple[str, object]:
    """Make a run's model the tab's model: the Write tab samples it, Train continues it. A run whose weights
    were dropped answers with a notice (the status) and leaves the tab's model as it is."""
    session = ensure_session(session)
    if session.running:
        raise user_error("This tab is training: press Stop first.")
    r = session.run(run_id)
    if r is None:
        raise user_error("Choose a run first.")
    if r.bundle is None:  # an expected state, not an error: said as a notice, the tab's model unchanged
        return dropped_notice(r, session), gr.skip()
    adopt(session, r.bundle, text=r.text, train_text=r.train_text, val_text=r.val_text, stop_reason=r.stop_reason)
    return (f"**{r.name}** is now the tab's model: the Write tab samples from it, and Train with "
            f"{MODELS[r.model_name].title} continues it.", train_chart.model_figure(session))


def run_checkpoint(session, run_id) -> str:
    """A run's model as a .safetensors file to download."""
    session = ensure_session(session)
    r = session.run(run_id)
    if r is None:
        raise user_error("Choose a run first.")
    if r.bundle is None:  # an expected state: a notice, and no file
        gr.Info(dropped_notice(r, session).removeprefix("ℹ️ ").replace("**", ""))
        return gr.skip()
    folder = _folder(session)
    for old in folder.glob("*.safetensors"):
        old.unlink(missing_ok=True)
    return str(save(folder / f"charrnn-run{r.run_id}-{r.model_name}.safetensors", r.bundle, weights_only=True))


def export_csv(session) -> str:
    """The runs table as a CSV file (full samples)."""
    session = ensure_session(session)
    k, unit = loss_unit(session)
    table = pd.DataFrame([r.row(k) for r in session.runs], columns=list(ROW_KEYS))
    table = table.rename(columns={"final val": f"final val ({unit})", "best val": f"best val ({unit})"})
    path = _folder(session) / "charrnn-runs.csv"
    table.to_csv(path, index=False)
    return str(path)


def _folder(session: Session) -> Path:
    folder = session.files() / "runs"  # beside the Keep tab's file, which write_checkpoint replaces
    folder.mkdir(exist_ok=True)
    return folder


def share_link(lesson, models, time_budget, seed, example, text=None) -> str:
    """The query that opens the page in this state (the browser adds its address and copies it); `text`,
    the user's own text, where the lesson races on the user's text and the link can carry it."""
    lesson_obj = LESSONS.get(lesson) if lesson else None
    own_text = lesson_obj is None or lesson_obj.example is None
    return links.make_link(example=example if own_text and not text else None, budget=time_budget,
                           lesson=lesson or None, models=None if lesson else models, seed=seed,
                           text=text if own_text else None)


def share(lesson, models, time_budget, seed, example, corpus=None, pasted=None, latin1=False, *, examples,
          max_bytes) -> tuple[str, str]:
    """"Copy a link": (the query, what it carries). A text of the user's own (uploaded or pasted) travels in the
    link while it is short enough; a longer one cannot, and the note says so — the link then opens the
    example, which is not what this tab trained on."""
    lesson_obj = LESSONS.get(lesson) if lesson else None
    if (lesson_obj is not None and lesson_obj.example is not None) or not (corpus or (pasted or "").strip()):
        return share_link(lesson, models, time_budget, seed, example), ""
    try:
        text, source = load_corpus(corpus, pasted, None, False, examples=examples, max_bytes=max_bytes, latin1=latin1)
    except ValueError as e:
        return share_link(lesson, models, time_budget, seed, example), f"The link carries the example `{example}` " \
            f"only: your text could not be read ({str(e).rstrip('.')})."
    if links.fits(text):
        return share_link(lesson, models, time_budget, seed, example, text), \
            f"The link carries your text ({source.removeprefix('the ')}, {len(text):,} characters)."
    return share_link(lesson, models, time_budget, seed, example), (
        f"⚠️ The link carries the example `{example}` only, not your text: {source.removeprefix('the ')} has "
        f"{len(text):,} characters, and a link carries at most {links.MAX_TEXT:,}. Share the file with it.")


CSS = """<style>
.film-run { margin: 0.6em 0; } .film-title { margin-bottom: 0.2em; }
.film-row { display: flex; gap: 6px; overflow-x: auto; }
.film-frame { flex: 1 0 220px; border: 1px solid #ccc; border-radius: 4px; padding: 4px; }
.film-label { font-size: 0.8em; color: #555; }
.film-frame pre { white-space: pre-wrap; font-size: 0.75em; margin: 0; max-height: 14em; overflow-y: auto; }
.film-frame mark { background: #E69F00; color: black; }
.film-title .diverged, .film-label .recall { color: #D55E00; font-weight: bold; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; border-radius: 2px; }
</style>"""
