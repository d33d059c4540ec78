"""The class board's pictures: pure functions from a `class_board.Board` to HTML and a Plotly figure. Every
nickname, label, setting and sample is escaped (`html.escape`) before it reaches an HTML string: a student's
nickname `<img onerror=…>` is shown as those characters.

    leaderboard_html(board, projector)   the ranked table (projector: the best PROJECTOR_ROWS, big type)
    overlay_figure(board, projector)     every shown run's validation curve, coloured by model family
    samples_html(board)                  what the best runs write
    counts_markdown(board, counts)       joined · training · queued · runs
    run_choices(runs)                    the teacher's run picker: (label, run number)
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from .class_board import Board
from .classroom_db import RunRow
from .plots import UNIFORM_COLOR, styled

PROJECTOR_ROWS = 12  # rows of the leaderboard on a projector: with the chart beside it, 1280 × 720 at ≥ 20 px type
# Coloured by family: a hand-written cell and PyTorch's share a colour (Okabe & Ito's palette; black: the teacher)
FAMILY_COLORS = {"ngram": "#CC79A7", "mlp": "#E69F00", "rnn": "#56B4E9", "gru": "#D55E00", "lstm": "#0072B2",
                 "transformer": "#009E73"}
FAMILY_TITLES = {"ngram": "n-gram", "mlp": "MLP", "rnn": "RNN", "gru": "GRU", "lstm": "LSTM",
                 "transformer": "Transformer"}
TEACHER_COLOR = "#000000"
SETTING_NAMES = {"n_hidden": "hidden", "n_layer": "layers", "n_embd": "embd", "order": "order", "context": "context",
                 "n_head": "heads", "lr": "lr", "batch_size": "batch", "seq_len": "seq", "dropout": "dropout"}

CSS = """<style>
.class-board { overflow-x: auto; }
.class-board table { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 17px; }
.class-board table th, .class-board table td { padding: 3px 6px !important; text-align: left; border: none !important;
  border-bottom: 1px solid #ddd !important; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  line-height: 1.35; }
.class-board table .num { text-align: right; font-variant-numeric: tabular-nums; }
.class-board col.place { width: 2.4em; } .class-board col.who { width: 22%; } .class-board col.loss { width: 4.2em; }
.class-board col.time { width: 4em; } .class-board col.params { width: 6.5em; }
.class-board tr.teacher td { font-weight: bold; }
.class-board tr.pinned td { background: #fff3d6; }
.class-board .settings { color: #555; font-size: 0.85em; }
.class-board .more, .class-board .empty { color: #555; margin: 0.4em 0; }
.class-board.projector table, .class-board.projector .more, .class-board.projector .empty { font-size: 22px; }
.class-board.projector .settings { font-size: 20px; }
.class-board.projector col.who { width: 24%; }
.class-samples pre { white-space: pre-wrap; font-family: ui-monospace, monospace; margin: 0.2em 0 0.8em;
  font-size: 16px; border-left: 4px solid #ccc; padding-left: 8px; max-height: 7.5em; overflow-y: auto; }
.class-samples .who { font-weight: bold; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.35em; border-radius: 2px; }
</style>"""


def family(model: str) -> str:
    """The family a registry name belongs to: "lstm-scratch" and "lstm" are both LSTMs."""
    return model.removesuffix("-scratch")


def run_color(run: RunRow) -> str:
    return TEACHER_COLOR if run.teacher else FAMILY_COLORS.get(family(run.model), "#777777")


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def settings_text(run: RunRow) -> str:
    """The settings a student chose that tell runs apart: "hidden 128 · layers 2 · lr 0.003 · batch 32"."""
    parts = [f"{short} {run.settings[k]:g}" if isinstance(run.settings[k], float) else f"{short} {run.settings[k]}"
             for k, short in SETTING_NAMES.items() if run.settings.get(k) is not None]
    return " · ".join(parts)


def _loss(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def leaderboard_html(board: Board | None, projector: bool = False) -> str:
    """The leaderboard as an HTML table (escaped), pinned runs first; in `projector` mode the first
    PROJECTOR_ROWS rows in big type, and how many more there are."""
    klass = "class-board projector" if projector else "class-board"
    if board is None:
        return f'{CSS}<div class="{klass}"><p class="empty">No class on this board.</p></div>'
    if not board.entries:
        return (f'{CSS}<div class="{klass}"><p class="empty">No runs yet: every run a member finishes on the '
                f"class's text appears here (ranked within {board.budget:g} s).</p></div>")
    entries = board.entries[:PROJECTOR_ROWS] if projector else board.entries
    rows = [_row(e, projector) for e in entries]
    more = len(board.entries) - len(entries)
    tail = f'<p class="more">… and {more} more (the whole board is in the Class tab)</p>' if more > 0 else ""
    cols = ["place", "who", "model", "loss", "time"] + ([] if projector else ["params"])
    names = ["#", "who", "model and settings", "best", "time", "params"]
    head = "".join(f'<th class="{"num" if c in ("place", "loss", "time", "params") else ""}">{n}</th>'
                   for c, n in zip(cols, names, strict=False))
    colgroup = "".join(f'<col class="{c}">' for c in cols)
    return (f'{CSS}<div class="{klass}" id="class-leaderboard-table"><table><colgroup>{colgroup}</colgroup>'
            f'<tr>{head}</tr>{"".join(rows)}</table>{tail}</div>')


def _row(e, projector: bool) -> str:
    """One leaderboard row; every piece of text escaped."""
    r = e.run
    place = "📌" if r.pinned else (str(e.rank) if e.rank is not None else "–")
    model = f'<span class="swatch" style="background:{run_color(r)}"></span>{esc(r.label)}'
    detail = " · ".join(x for x in (settings_text(r), e.note) if x)
    style = " ".join(c for c in ("teacher" if r.teacher else "", "pinned" if r.pinned else "") if c)
    cells = [f'<td class="num">{place}</td>', f"<td>{esc(r.nickname)}</td>",
             f'<td>{model}{" " if projector else "<br>"}<span class="settings">{esc(detail)}</span></td>',
             f'<td class="num">{_loss(r.best_val)}</td>', f'<td class="num">{r.seconds:.0f} s</td>']
    if not projector:
        cells.append(f'<td class="num">{r.n_params:,}</td>' if r.n_params else '<td class="num">counts</td>')
    return f'<tr class="{style}">{"".join(cells)}</tr>'


def overlay_figure(board: Board | None, projector: bool = False) -> go.Figure:
    """Every shown run's validation loss (nats/char) against its own seconds of training, coloured by model
    family (one legend entry each), the teacher's runs thick and black, pinned runs dashed; the class text's
    reference levels grey (the uniform guess dotted, letter frequencies dashed)."""
    fig = go.Figure()
    runs = board.curves if board is not None else []
    seen: set[str] = set()
    right = max([p[0] for r in runs for p in r.curve] + [board.budget if board else 1.0])
    for r in sorted(runs, key=lambda r: r.teacher):  # the teacher's drawn last: on top
        group = "teacher" if r.teacher else family(r.model)
        name = "the teacher" if r.teacher else FAMILY_TITLES.get(group, group)
        color = run_color(r)
        fig.add_scatter(x=[p[0] for p in r.curve], y=[p[1] for p in r.curve], mode="lines+markers",
                        name=name, legendgroup=group, showlegend=group not in seen,
                        line=dict(color=color, width=5 if r.teacher else 2.5, dash="dash" if r.pinned else "solid"),
                        marker=dict(size=4), hovertemplate=esc(f"{r.nickname} · {r.label}") + "<br>%{x:.1f} s: "
                        "%{y:.3f}<extra></extra>")
        seen.add(group)
    for level, label, dash in ((board.uniform if board else None, "uniform guess", "dot"),
                               (board.unigram if board else None, "letter frequencies", "dash")):
        if level is not None:
            fig.add_scatter(x=[0, right], y=[level, level], mode="lines", name=f"{label} {level:.2f}",
                            line=dict(color=UNIFORM_COLOR, dash=dash, width=1.5), hoverinfo="skip")
    size = 20 if projector else 14
    return styled(fig, xaxis_title="seconds of its own training", yaxis_title="validation loss (nats/char)",
                  font=dict(size=size), margin=dict(l=70, r=20, t=20, b=50),
                  legend=dict(orientation="h", yanchor="top", y=-0.18 if projector else -0.22, x=0,
                              font=dict(size=size)))


def samples_html(board: Board | None) -> str:
    """What the best ranked runs write (their last sample, escaped)."""
    if board is None or not board.samples:
        return ""
    items = [f'<div><span class="who">{esc(e.run.nickname)}</span> · {esc(e.run.label)} · best '
             f"{_loss(e.run.best_val)}<pre>{esc(e.run.sample)}</pre></div>" for e in board.samples]
    return f'{CSS}<div class="class-samples"><p><b>What the best runs write</b></p>{"".join(items)}</div>'


def counts_markdown(board: Board | None, counts) -> str:
    """The class's line: its code, joined, training, queued and runs (`counts`: a classroom.Counts)."""
    if board is None:
        return "No class: open one, or join one with its code."
    state = " · **closed** by the teacher" if board.closed else ""
    return (f"**Class {board.code}**{state} · **{counts.joined}** joined · **{counts.training}** training · "
            f"**{counts.queued}** queued · **{counts.runs}** runs · ranked within **{board.budget:g} s**")


def run_choices(runs: list[RunRow]) -> list[tuple[str, int]]:
    """The teacher's run picker: every run of the class, hidden ones too (so they can be shown again)."""
    out = []
    for r in sorted(runs, key=lambda r: -r.reported):
        flags = "".join((" · pinned" if r.pinned else "", " · hidden" if r.hidden else ""))
        out.append((f"#{r.id} {r.nickname} · {r.label} · {_loss(r.best_val)}{flags}", r.id))
    return out
