"""The Compare tab's chart: a tab's runs on one text overlaid, their final losses labelled, the y axis zoomed to
them when they are too close to tell apart. Values in, a Plotly figure out (the app's style: `plots.styled`).

    runs_figure(records, x, units, ..., text)   the runs of one text (the latest run's, or `text`)
    chart_text(records, key)                     which runs that is, and which are on other texts
"""

from __future__ import annotations

import math
import re
import textwrap

import plotly.graph_objects as go

from .plots import AXES, BITS_PER_NAT, PRESENT_FONT, downsample, reference_lines, run_color, styled


def chart_text(records: list, key=None) -> tuple:
    """The text the Compare chart draws: `key` (a `RunRecord.text_key`) when a run of it is among `records`,
    else the latest run's. Returns (that key, its runs, the runs on other texts)."""
    keys = [r.text_key for r in records]
    if key is None or key not in keys:
        key = keys[-1] if keys else None
    drawn = [r for r in records if r.text_key == key or r.text_key is None or key is None]
    ids = {id(r) for r in drawn}
    return key, drawn, [r for r in records if id(r) not in ids]


def wrap(text: str, width: int) -> str:
    """`text` in lines of at most `width` characters (broken at spaces), joined by Plotly's <br>: a chart's
    title does not wrap by itself, and at a phone's width a long one ran under the tool bar and off the chart."""
    return "<br>".join(textwrap.wrap(text, width, break_on_hyphens=False))


def short_label(label: str) -> str:
    """A run's label without its words in brackets — "RNN (from scratch) 128×1 · stateless" → "RNN 128×1 ·
    stateless": presentation mode's legend (the hand-written RNN stays apart from nn.RNN by its "nn.")."""
    return re.sub(r" \([^)]*\)", "", label)


def legend_lines(name: str, width: int | None = None) -> str:
    """A legend name in lines of at most `width` characters (LEGEND_CHARS), broken after its " · " parts, joined by
    <br>: Plotly's legend does not wrap, and cuts what passes the chart's edge."""
    width = width or LEGEND_CHARS
    lines: list[str] = []
    for part in name.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) + 2 <= width:  # 2: the " ·" a broken line ends with
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return " ·<br>".join(lines)


LEGEND_CHARS = 40  # a legend name's line at 12 px: fits a phone's chart (~290 px beside the entry's line sample)
TITLE_CHARS = 38  # a chart title's line at 15 px: fits a phone's chart (~330 px) beside the tool bar
NOTE_CHARS = 48  # a line of the note under it, at 12 px


def runs_figure(records: list, x: str = "step", units: str = "nats", uniform: float | None = None,
                unigram: float | None = None, hidden=(), present: bool = False, text=None) -> go.Figure:
    """Runs on one text overlaid (charrnn.record.RunRecord): each run's validation loss (solid, in the legend as
    "nn.GRU 128×2 · run 3") and its training loss (thin, dotted, same colour), against `x` = "step",
    "chars" (characters seen: fair across batch sizes) or "seconds" (each run's own compute: speed).
    A continued run has a marker where it resumed; a run that diverged says so in the legend ("… · diverged").
    Only the runs of one text are drawn — `text` (a `RunRecord.text_key`), else the latest run's: losses on
    different texts are not comparable. The title says which text, and how many runs on other texts are not
    drawn. ln V and the unigram entropy of that text stay as reference lines (the drawn runs' own; `uniform` and
    `unigram` for runs that do not know theirs). `present`: presentation mode's larger type and short names."""
    k = BITS_PER_NAT if units == "bits" else 1.0
    unit = "bits/char" if units == "bits" else "nats/char"
    title_x, key, val_key = AXES.get(x, AXES["step"])
    fig = go.Figure()
    right, early = 0.0, []
    text, on_text, others = chart_text(records, text)
    shown_runs = [r for r in on_text if r.run_id not in set(hidden)]
    for r in shown_runs:
        xs = run_traces(fig, r, key, val_key, k, unit, present)
        if xs:
            right = max(right, xs[-1])
            early.append(max(r.curve.train_loss[:50]))
    own = [r for r in on_text if r.uniform is not None]
    if own:  # the drawn text's own levels; never another text's
        uniform, unigram = own[-1].uniform, own[-1].unigram
    elif others:  # runs that do not know their levels, beside runs on other texts: which text they are is unknown
        uniform = unigram = None
    # the x axis fits the drawn runs (a lesson's 10 s budget squeezed runs of 3 s into a third of a phone's chart),
    # and a little more: each run's final label stands right of its curve's end
    x_range = [0, right * (1 + LABEL_ROOM)] if right else [0, 10]
    right = right or 10.0
    top = reference_lines(fig, uniform, unigram, units, right, max(early) if early else None, present)
    title = ("Validation (solid), training (dotted)" if shown_runs
             else "Runs — start a lesson or a race and every model's curve appears here")
    y_range, y_title = [0, top * 1.08], f"cross-entropy ({unit})"
    zoom = finish_range(shown_runs, top * 1.08, k)
    if zoom is not None:  # finals too close to tell apart on the whole run's axis: the finish, labelled as such
        # double-clicking for the whole run is in the tab's help
        # the axis's title short enough for the plot's height (the whole "cross-entropy … · zoomed: not from 0"
        # ran off its top on a desktop); the chart's title says it is zoomed
        y_range, y_title = zoom, f"{unit} · not from 0"
        title = "Loss, zoomed to the final losses"
    final_labels(fig, shown_runs, key, val_key, k, PRESENT_FONT if present else 13, y_range,
                 top=y_range[1] if zoom else None, x_range=x_range)
    title, rows = chart_title(title, on_text, others, present)
    return styled(fig, present, title=title,
                  xaxis=dict(title=title_x, range=x_range), yaxis=dict(title=y_title, range=y_range)
                  ).update_layout(margin=dict(t=(50 if present else 40) + (rows - 1) * (24 if present else 17)),
                                  # a phone's legend, the ladder's names on two lines each, scrolled at Plotly's half
                                  # of the chart, hiding the levels: 2 px between runs (not 10) and room to 60 %
                                  **({} if present else {"legend": dict(tracegroupgap=2, maxheight=0.6)}))


def run_traces(fig: go.Figure, r, key: str, val_key: str, k: float, unit: str, present: bool) -> list:
    """One run's curves on `fig`: its validation loss (solid, in the legend), its training loss (dotted; in the
    legend only where it has no validation points), a marker where it was continued. Returns its x values."""
    c, color = r.curve, run_color(r.run_id)
    label = f"{short_label(r.label)} · run {r.run_id}" if present else r.name
    name = f"{label} · diverged" if r.diverged else label
    if not present:  # the legend under a phone's plot cut long names at its right edge: runs 2, 3, 7 looked alike
        name = legend_lines(name)
    xs = getattr(c, key)
    if xs:
        px, py = downsample(xs, c.train_loss)
        fig.add_scatter(x=px, y=[v * k for v in py], name=f"{name} · train", mode="lines",
                        legendgroup=str(r.run_id), showlegend=not c.val_loss, opacity=0.6,  # legend: one per run
                        line=dict(color=color, width=1, dash="dot"),
                        hovertemplate=f"{r.name}<br>train %{{y:.3f}} {unit}<extra></extra>")
    vx = getattr(c, val_key)
    if vx:
        px, py = downsample(vx, c.val_loss)
        fig.add_scatter(x=px, y=[v * k for v in py], name=name, mode="lines+markers",
                        legendgroup=str(r.run_id), line=dict(color=color, width=2.5), marker=dict(size=5),
                        hovertemplate=f"{r.name}<br>validation %{{y:.3f}} {unit}<extra></extra>")
    for i in r.resumed_at:
        if i < len(xs):
            fig.add_scatter(x=[xs[i]], y=[c.train_loss[i] * k], name=f"{r.name} · resumed", mode="markers",
                            legendgroup=str(r.run_id), showlegend=False,
                            marker=dict(color=color, size=12, symbol="triangle-right",
                                        line=dict(color="black", width=1)),
                            hovertemplate=f"{r.name}: continued here<extra></extra>")
    return xs


def chart_title(title: str, on_text: list, others: list, present: bool) -> tuple[dict, int]:
    """The chart's title (wrapped for a phone) and, where runs on other texts are left out, a note in smaller type
    under it: which text is drawn, how many runs are not, and how to draw them. Returns (Plotly's title, its
    number of lines: the top margin is made for them)."""
    lines = [wrap(title, TITLE_CHARS * (2 if present else 1))]
    if others:
        source = on_text[-1].corpus
        many = len(others) > 1
        note = (f"on {source} · {len(others)} run{'s' if many else ''} on {'other texts' if many else 'another text'} "
                "not drawn (losses on different texts do not compare): to draw one, pick it under “run” and "
                "press “Show / hide”")
        size = PRESENT_FONT if present else 12
        lines.append(f"<span style='font-size:{size}px'>{wrap(note, NOTE_CHARS * (2 if present else 1))}</span>")
    text = "<br>".join(lines)
    # 6 px under the chart's top edge: at y = 0.98 alone the first line touched it on a phone
    return dict(text=text, x=0.01, y=0.98, yanchor="top", pad=dict(t=6), font=dict(size=15)), text.count("<br>") + 1


ZOOM_MIN_WINDOW = 0.1  # nats/char: the zoomed y axis spans at least this (a 0.002 gap is noise, not shown as a gulf)
ZOOM_SHARE = 0.25  # zoom when the window the finals need is under this share of the whole run's axis


def finished_finals(records: list) -> list[float]:
    """The final validation losses (nats/char) of runs that ended with one, diverged runs left out; empty while
    any of them is still training."""
    if any(r.ended == "training" for r in records):
        return []
    return [r.final_val for r in records if r.final_val is not None and math.isfinite(r.final_val) and not r.diverged]


def finish_range(records: list, whole_top: float, k: float = 1.0) -> list[float] | None:
    """The y range ([low, high], in the chart's units: `k` per nat) that shows the finished runs' final losses
    apart: a window of 3× their spread (at least ZOOM_MIN_WINDOW nats), the finals in its lower third, the
    curves coming down into it — when that window is under ZOOM_SHARE of the whole run's axis (0 to
    `whole_top`). Where a few runs ended far above the rest (the ladder's three-character MLP), the window is
    the rest's, as long as that is at least half the runs: those above are labelled at its top edge
    (`final_labels`). None: the whole run's axis shows the finals apart already, or fewer than two finished."""
    finals = sorted(v * k for v in finished_finals(records))
    for n in range(len(finals), max(2, (len(finals) + 1) // 2) - 1, -1):  # all, then without the highest …
        low, high = finals[0], finals[n - 1]
        window = max(3 * (high - low), ZOOM_MIN_WINDOW * k)
        if window < ZOOM_SHARE * whole_top:
            bottom = max(0.0, low - 0.25 * window)
            return [bottom, bottom + window]
    return None


LABEL_PLOT_PX = 180  # the plot area's height (pixels) that spacing the final labels assumes (a desktop's
# Compare chart under a legend of seven runs: ~190)
LABEL_PLOT_WIDTH_PX = 260  # its width: a phone's (390 px screen), the narrowest a label must stand apart on
LABEL_ROOM = 0.16  # the x axis's room right of the last curve's end, for its label (~40 px of a phone's plot)


def text_color(color: str, contrast: float = 4.5) -> str:
    """`color` darkened until its text reads on white (WCAG contrast ≥ `contrast`): the palette's yellows
    (#F0E442, #E69F00) were faint as label text; the curve keeps the palette's colour."""
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))

    def luminance(f: float) -> float:
        lin = [(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4) for c in (r * f, g * f, b * f)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    f = 1.0
    while 1.05 / (luminance(f) + 0.05) < contrast and f > 0:
        f -= 0.05
    return "#" + "".join(f"{round(c * max(f, 0) * 255):02X}" for c in (r, g, b))


def final_labels(fig: go.Figure, records: list, key: str, val_key: str, k: float, size: int = 13,
                 y_range: list[float] | None = None, top: float | None = None,
                 x_range: list[float] | None = None) -> None:
    """Each finished run's final validation loss written just right of the end of its curve (left of it, the
    text lay over the curve coming down into it), in a darker shade of its colour on a white box edged in its
    colour; every final above a zoomed axis's `top` just under that edge, with an arrow up ("↑ 1.234").
    Labels never overlap: each is a box (a line of text tall on a plot LABEL_PLOT_PX high, its text wide on one
    LABEL_PLOT_WIDTH_PX wide); from the lowest final up, one that would overlap a placed box moves up past it,
    or, where that leaves the axis, down under it: Plotly does not draw a label placed outside its axis's range
    (a race's third label near the uniform guess was pushed over the top and vanished)."""
    labels = []
    for r in records:
        xs = getattr(r.curve, val_key) or getattr(r.curve, key)
        if not xs or r.diverged or r.ended == "training" or r.final_val is None or not math.isfinite(r.final_val):
            continue
        value = r.final_val * k
        labels.append((value, xs[-1], top is not None and value > top, run_color(r.run_id)))
    if not labels:
        return
    low, high = y_range or [0.0, max(v for v, *_ in labels) * 1.1 or 1.0]
    line = 1.4 * size / LABEL_PLOT_PX * (high - low)  # a line of text, in the y axis's units
    ceiling = high - line  # a label stands on its y: its text reaches a line above it
    x_low, x_high = x_range or [0.0, max(x for _, x, _, _ in labels) * (1 + LABEL_ROOM) or 1.0]
    per_char = 0.6 * size / LABEL_PLOT_WIDTH_PX * (x_high - x_low)  # a digit's width, in the x axis's units
    placed: list[tuple[float, float, float]] = []  # (y, left, right) of each label placed

    def clash(y: float, left: float, right: float) -> list[float]:
        return [py for py, pl, pr in placed if left < pr and pl < right and abs(py - y) < 0.999 * line]

    for value, x, above, color in sorted(labels, key=lambda v: (v[2], v[0])):  # those above a zoomed top last
        text = f"↑ {value:.3f}" if above else f"{value:.3f}"
        left, right = x, x + (len(text) + 1) * per_char
        want = ceiling if above else max(min(value, ceiling), low)
        y = want
        while hits := clash(y, left, right):  # up past what it meets
            y = max(hits) + line
        if y > ceiling:  # off the top: down under what it meets instead
            y = want
            while (hits := clash(y, left, right)) and y >= low:
                y = min(hits) - line
            y = max(y, low)
        placed.append((y, left, right))
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, xanchor="left", yanchor="bottom", xshift=3,
                           font=dict(color=text_color(color), size=size), bgcolor="rgba(255,255,255,0.85)",
                           bordercolor=color, borderwidth=1, borderpad=1)
