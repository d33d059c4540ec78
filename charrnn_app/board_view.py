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

from charrnn import MODELS

from .class_board import Board
from .classroom_db import RunRow
from .plots import PALETTE, UNIFORM_COLOR, UNIGRAM_COLOR, styled

PROJECTOR_ROWS = 12  # rows of the leaderboard on a projector: 720 px tall at ≥ 20 px type
FAMILY_COLORS = {name: PALETTE[i % (len(PALETTE) - 1)] for i, name in enumerate(MODELS)}  # black: the teacher
TEACHER_COLOR = "#000000"
SETTING_NAMES = {"n_hidden": "hidden", "n_layer": "layers", "n_embd": "embd", "order": "order", "context": "context",
                 "n_head": "heads", "lr": "lr", "batch_size": "batch", "seq_len": "seq", "dropout": "dropout"}

CSS = """<style>
.class-board table { border-collapse: collapse; width: 100%; font-size: 17px; }
.class-board th, .class-board td { padding: 3px 8px; text-align: left; border-bottom: 1px solid #ddd;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 22em; }
.class-board td.num, .class-board th.num { text-align: right; font-variant-numeric: tabular-nums; }
.class-board tr.teacher td { font-weight: bold; }
.class-board tr.pinned td { background: #fff3d6; }
.class-board .settings { color: #555; font-size: 0.85em; }
.class-board .more, .class-board .empty { color: #555; margin: 0.4em 0; }
.class-board.projector table, .class-board.projector .more { font-size: 22px; }
.class-board.projector .settings { font-size: 20px; }
.class-samples pre { white-space: pre-wrap; font-family: ui-monospace, monospace; margin: 0.2em 0 0.8em;
  font-size: 16px; border-left: 4px solid #ccc; padding-left: 8px; }
.class-samples .who { font-weight: bold; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.35em; border-radius: 2px; }
</style>"""


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
    rows = []
    for e in entries:
        r = e.run
        place = "📌" if r.pinned else (str(e.rank) if e.rank is not None else "–")
        who = esc(r.nickname) + (" (teacher)" if r.teacher and r.nickname != "teacher" else "")
        color = TEACHER_COLOR if r.teacher else FAMILY_COLORS.get(r.model, "#777")
        model = f'<span class="swatch" style="background:{color}"></span>{esc(r.label)}'
        note = f' <span class="settings">{esc(e.note)}</span>' if e.note else ""
        style = " ".join(c for c in ("teacher" if r.teacher else "", "pinned" if r.pinned else "") if c)
        rows.append(f'<tr class="{style}"><td class="num">{place}</td><td>{who}</td><td>{model}{note}<br>'
                    f'<span class="settings">{esc(settings_text(r))}</span></td>'
                    f'<td class="num">{_loss(r.best_val)}</td><td class="num">{r.seconds:.0f} s</td>'
                    f'<td class="num">{r.n_params:,}</td></tr>')
    more = len(board.entries) - len(entries)
    tail = f'<p class="more">… and {more} more (the full board is in the Class tab)</p>' if more > 0 else ""
    head = ('<tr><th class="num">#</th><th>who</th><th>model and settings</th><th class="num">best val loss</th>'
            '<th class="num">time</th><th class="num">params</th></tr>')
    return f'{CSS}<div class="{klass}" id="class-leaderboard-table"><table>{head}{"".join(rows)}</table>{tail}</div>'


def overlay_figure(board: Board | None, projector: bool = False) -> go.Figure:
    """Every shown run's validation loss (nats/char) against its own seconds of training, coloured by model
    family (one legend entry each), the teacher's runs thick and black, pinned runs dashed; the class text's
    reference levels dashed grey and green."""
    fig = go.Figure()
    runs = board.curves if board is not None else []
    seen: set[str] = set()
    right = max([p[0] for r in runs for p in r.curve] + [board.budget if board else 1.0])
    for r in sorted(runs, key=lambda r: r.teacher):  # the teacher's drawn last: on top
        group = "teacher" if r.teacher else r.model
        name = "teacher" if r.teacher else MODELS[r.model].title if r.model in MODELS else r.model
        color = TEACHER_COLOR if r.teacher else FAMILY_COLORS.get(r.model, "#777")
        fig.add_scatter(x=[p[0] for p in r.curve], y=[p[1] for p in r.curve], mode="lines+markers",
                        name=name, legendgroup=group, showlegend=group not in seen,
                        line=dict(color=color, width=5 if r.teacher else 2.5, dash="dash" if r.pinned else "solid"),
                        marker=dict(size=4), hovertemplate=esc(f"{r.nickname} · {r.label}") + "<br>%{x:.1f} s: "
                        "%{y:.3f}<extra></extra>")
        seen.add(group)
    for level, label, color in ((board.uniform if board else None, "uniform guess", UNIFORM_COLOR),
                                (board.unigram if board else None, "letter frequencies", UNIGRAM_COLOR)):
        if level is not None:
            fig.add_scatter(x=[0, right], y=[level, level], mode="lines", name=f"{label} {level:.2f}",
                            line=dict(color=color, dash="dot", width=1.5), hoverinfo="skip")
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
