"""Pure figure builders: values in, a Plotly figure out. Nothing here knows about Gradio or sessions.

    loss_figure(history, uniform, unigram, units)   the "watch it learn" chart
    probs_figure(probs, temperature)                the next-character bar chart (empty, or a note)
    next_char_figure(chart)                         the same from `charrnn.inspect.next_char_chart`: readable
                                                    labels, no empty bars, T = 1 faintly behind
    runs_figure(records, x, units, ...)             the runs of a tab overlaid (the Compare tab)
"""

from __future__ import annotations

import math
import re
import textwrap

import plotly.graph_objects as go

from charrnn import History

BITS_PER_NAT = 1 / math.log(2)
MAX_POINTS = 600  # per line: the chart stays light (~25 KB) however long the run

# One colour-blind-safe palette for every chart (Okabe & Ito 2008, "Color Universal Design"): runs take
# colours in this order; train / validation / reference lines use fixed members of it.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
TRAIN_COLOR, VAL_COLOR, UNIFORM_COLOR, UNIGRAM_COLOR = "#56B4E9", "#D55E00", "#7F7F7F", "#009E73"


PRESENT_FONT = 20  # px: a chart's ticks and legend in presentation mode, readable from a classroom's back row


def styled(fig: go.Figure, present: bool = False, **kw) -> go.Figure:
    """`fig` in the app's style (fonts, margins, legend and tool bar placed for a phone and a projector),
    with `kw` laid over it; every chart of the app goes through here. `present`: presentation mode, every
    text of the chart at least PRESENT_FONT px (its box's height is the page's CSS)."""
    # No fixed height: the page's CSS gives the chart's box its height (taller in presentation mode).
    # The legend goes under the x axis: on a phone it wraps to several rows, and above the plot it would
    # cover the title. Placed against the chart's box (yref "container", at its bottom edge), Plotly makes
    # the bottom margin as tall as the legend's rows, so the plot, the x axis and its title stand above it
    # however many rows it wraps to (placed against the plot, y < 0, a wrapped legend was drawn over the
    # axis title on a phone).
    # The tool bar stands on the right edge (across the top it covered a phone's title).
    layout = dict(margin=dict(l=60, r=30, t=40, b=40), autosize=True, template="plotly_white",
                  legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0),
                  modebar=dict(orientation="v"))
    fig.update_layout(**{**layout, **kw})
    if present:
        title = fig.layout.title.font.size or PRESENT_FONT
        # The legend stands right of the plot, one entry a line, with no gap between a run's group and the next
        # (Plotly's 10 px a group made seven runs and two levels taller than a projector's plot: it scrolled):
        # under the plot, 20 px rows would leave the plot a strip.
        fig.update_layout(font=dict(size=PRESENT_FONT), title_font_size=max(title + 6, PRESENT_FONT + 2),
                          margin=dict(l=80, r=10, t=50, b=60), hoverlabel=dict(font=dict(size=PRESENT_FONT)),
                          legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yref="paper", yanchor="top",
                                      tracegroupgap=0, font=dict(size=PRESENT_FONT)))
        fig.update_xaxes(tickfont=dict(size=PRESENT_FONT), title_font=dict(size=PRESENT_FONT))
        fig.update_yaxes(tickfont=dict(size=PRESENT_FONT), title_font=dict(size=PRESENT_FONT))
    return fig


def reference_lines(fig: go.Figure, uniform: float | None, unigram: float | None, units: str, right: float,
                    early: float | None, short: bool = False) -> float:
    """Draw the two levels every learner compares against — ln(V), a uniform guess, and the unigram
    entropy (nats/char in, drawn in `units`) — from x = 0 to `right`. Returns the y-axis top: just above
    where training starts (`early`, the first batches' highest loss; a first batch may score a bit above
    ln V). `short`: shorter legend names (presentation mode's legend stands beside the plot)."""
    k = BITS_PER_NAT if units == "bits" else 1.0
    uniform_name = "uniform guess log₂(V)" if units == "bits" else "uniform guess ln(V)"
    names = ("uniform guess", "unigram") if short else (uniform_name, "letter frequencies (unigram)")
    for level, name, color in ((uniform, names[0], UNIFORM_COLOR), (unigram, names[1], UNIGRAM_COLOR)):
        if level is not None:
            fig.add_scatter(x=[0, right], y=[level * k] * 2, name=f"{name} = {level * k:.2f}", mode="lines",
                            line=dict(color=color, dash="dash", width=1.5), hoverinfo="skip")
    refs = [v * k for v in (uniform, unigram) if v is not None]
    first = early * k if early is not None else None
    return max(refs + ([min(first, max(refs) * 1.5)] if first else [])) if refs else (first or 1.0)


def downsample(xs: list, ys: list, max_points: int = MAX_POINTS) -> tuple[list, list]:
    """At most `max_points` points: consecutive buckets averaged (the curve's shape stays, the noise
    of single batches is smoothed a little)."""
    n = len(xs)
    if n <= max_points:
        return list(xs), list(ys)
    size = math.ceil(n / max_points)
    out_x, out_y = [], []
    for i in range(0, n, size):
        chunk = ys[i:i + size]
        out_x.append(xs[min(i + size, n) - 1])
        out_y.append(sum(chunk) / len(chunk))
    return out_x, out_y


def loss_figure(history: History | None, uniform: float | None = None, unigram: float | None = None,
                units: str = "nats", present: bool = False, diverged: bool = False) -> go.Figure:
    """Training and validation loss per step, with the two reference levels every learner should
    compare against: ln(V) (a uniform guess) and the unigram entropy (knowing only letter frequencies).
    `present`: presentation mode's larger type; `diverged`: the run ended because its loss exploded (said in
    the title and the legend).
    """
    k = BITS_PER_NAT if units == "bits" else 1.0
    unit = "bits/char" if units == "bits" else "nats/char"
    fig = go.Figure()
    h = history or History()
    if h.step:
        x, y = downsample(h.step, h.train_loss)
        fig.add_scatter(x=x, y=[v * k for v in y], name="train" if present else "train (batch)", mode="lines",
                        line=dict(color=TRAIN_COLOR, width=1.5),
                        hovertemplate="step %{x}<br>train %{y:.3f} " + unit + "<extra></extra>")
    if h.val_step:
        x, y = downsample(h.val_step, h.val_loss)
        fig.add_scatter(x=x, y=[v * k for v in y], name="validation" if present else "validation (held-out text)",
                        mode="lines+markers",
                        line=dict(color=VAL_COLOR, width=2.5), marker=dict(size=6),
                        hovertemplate="step %{x}<br>validation %{y:.3f} " + unit + "<extra></extra>")
    last = max(h.step[-1] if h.step else 0, 10)
    top = reference_lines(fig, uniform, unigram, units, last, max(h.train_loss[:50]) if h.train_loss else None,
                          present)
    title = "Loss while training (lower is better)" if h.step else "Loss — press Train and the curve appears here"
    if diverged:
        title = "Loss — this run DIVERGED: the loss exploded and training stopped"
        for trace in fig.data:
            if trace.name.startswith(("train", "validation")):
                trace.name += " · diverged"
    return styled(fig, present, title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=15)),
                   xaxis=dict(title="training step", rangemode="tozero"),
                   yaxis=dict(title=f"cross-entropy ({unit})", range=[0, top * 1.08]))


def shown(c: str) -> str:
    """A character as a readable bar label: space, newline and tab made visible."""
    return {" ": "␣ (space)", "\n": "⏎ (newline)", "\t": "⇥ (tab)"}.get(c, c)


def probs_figure(probs: list[tuple[str, float]] | None, temperature: float = 1.0, top: int = 20,
                 note: str | None = None) -> go.Figure:
    """Bars of P(next character), likeliest first, the `top` likeliest shown."""
    fig = go.Figure()
    if probs:
        head = probs[:top]
        fig.add_bar(x=[f"{shown(c)}" for c, _ in head], y=[p for _, p in head], marker_color=VAL_COLOR,
                    text=[f"{p:.0%}" if p >= 0.01 else "" for _, p in head], textposition="outside",
                    hovertemplate="%{x}: %{y:.3f}<extra></extra>")
        rest = sum(p for _, p in probs[top:])
        title = f"Next character at temperature {temperature:g}"
        if rest > 0.005:
            title += f" (the other {len(probs) - len(head)} share {rest:.0%})"
    else:
        title = note or "Next-character probabilities appear here once there is a model"
    fig.update_xaxes(type="category", tickangle=0)
    return styled(fig, title=dict(text=title, x=0.01, font=dict(size=14)),
                   margin=dict(l=60, r=20, t=50, b=50),
                   yaxis=dict(title="probability", range=[0, 1.1], tickformat=".0%"), showlegend=False)


AXES = {"step": ("training step", "step", "val_step"),
        "chars": ("characters seen", "chars", "val_chars"),
        "seconds": ("seconds of its own training", "seconds", "val_seconds")}


def run_color(run_id: int) -> str:
    """A run's colour: the palette in order, the same colour for a run in every chart and table."""
    return PALETTE[(run_id - 1) % len(PALETTE)]


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
    right, early = 10.0, []
    text, on_text, others = chart_text(records, text)
    shown_runs = [r for r in on_text if r.run_id not in set(hidden)]
    for r in shown_runs:
        c, color = r.curve, run_color(r.run_id)
        label = f"{short_label(r.label)} · run {r.run_id}" if present else r.name
        name = f"{label} · diverged" if r.diverged else label
        xs = getattr(c, key)
        if xs:
            px, py = downsample(xs, c.train_loss)
            fig.add_scatter(x=px, y=[v * k for v in py], name=f"{name} · train", mode="lines",
                            legendgroup=str(r.run_id), showlegend=not c.val_loss, opacity=0.6,  # legend: one per run
                            line=dict(color=color, width=1, dash="dot"),
                            hovertemplate=f"{r.name}<br>train %{{y:.3f}} {unit}<extra></extra>")
            right = max(right, xs[-1])
            early.append(max(c.train_loss[:50]))
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
    own = [r for r in on_text if r.uniform is not None]
    if own:  # the drawn text's own levels; never another text's
        uniform, unigram = own[-1].uniform, own[-1].unigram
    elif others:  # runs that do not know their levels, beside runs on other texts: which text they are is unknown
        uniform = unigram = None
    top = reference_lines(fig, uniform, unigram, units, right, max(early) if early else None, present)
    title = ("Validation (solid), training (dotted)" if shown_runs
             else "Runs — start a lesson or a race and every model's curve appears here")
    y_range, y_title = [0, top * 1.08], f"cross-entropy ({unit})"
    zoom = finish_range(shown_runs, top * 1.08, k)
    if zoom is not None:  # finals too close to tell apart on the whole run's axis: the finish, labelled as such
        # double-clicking for the whole run is in the tab's help
        y_range, y_title = zoom, f"cross-entropy ({unit}) · zoomed: not from 0"
        title = "Loss, zoomed to the final losses"
    final_labels(fig, shown_runs, key, val_key, k, PRESENT_FONT if present else 13, y_range,
                 top=y_range[1] if zoom else None)
    lines = [wrap(title, TITLE_CHARS * (2 if present else 1))]
    if others:
        source = on_text[-1].corpus.replace("`", "").removeprefix("the ")
        many = len(others) > 1
        note = (f"on {source} · {len(others)} run{'s' if many else ''} on {'other texts' if many else 'another text'} "
                "not drawn (losses on different texts do not compare): to draw one, pick it under “run” and "
                "press “Show / hide”")
        size = PRESENT_FONT if present else 12
        lines.append(f"<span style='font-size:{size}px'>{wrap(note, NOTE_CHARS * (2 if present else 1))}</span>")
    title_text = "<br>".join(lines)
    rows = title_text.count("<br>") + 1
    margin = dict(t=(50 if present else 40) + (rows - 1) * (24 if present else 17))
    title = dict(text=title_text, x=0.01, y=0.98, yanchor="top", pad=dict(t=6), font=dict(size=15))  # in margin.t
    return styled(fig, present, title=title,
                  xaxis=dict(title=title_x, rangemode="tozero"), yaxis=dict(title=y_title, range=y_range)
                  ).update_layout(margin=margin)


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
LABEL_COLUMN = 0.15  # labels whose curves end within this share of the x axis stand in one column


def final_labels(fig: go.Figure, records: list, key: str, val_key: str, k: float, size: int = 13,
                 y_range: list[float] | None = None, top: float | None = None) -> None:
    """Each finished run's final validation loss written just above the end of its curve, in its colour; one
    above a zoomed axis's `top` just under that edge, with an arrow up ("↑ 1.234"). Labels whose curves end close
    together (in one column, LABEL_COLUMN of the x axis, and closer than a line of text on the `y_range` axis)
    are moved apart, each a line above the one below it, and the column moved down as a whole where its top
    label would leave the axis: Plotly does not draw a label placed outside its axis's range (a race's third
    label near the uniform guess was pushed over the top and vanished)."""
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
    right = max(x for _, x, _, _ in labels) or 1.0
    columns: list[list] = []  # labels whose curves end close together, left to right
    for label in sorted(labels, key=lambda v: v[1]):
        if columns and label[1] - columns[-1][0][1] < LABEL_COLUMN * right:
            columns[-1].append(label)
        else:
            columns.append([label])
    for column in columns:
        column.sort(key=lambda v: (v[2], v[0]))  # those above a zoomed axis's top last: the top of the column
        ys = []
        for value, _, above, _ in column:  # upwards from the lowest, a line apart
            want = ceiling if above else max(min(value, ceiling), low)
            ys.append(max([want, *([ys[-1] + line] if ys else [])]))
        for i in range(len(ys) - 1, -1, -1):  # then down from the axis's top, as far as the column needs
            ys[i] = min(ys[i], ceiling - (len(ys) - 1 - i) * line)
        for y, (value, x, above, color) in zip(ys, column, strict=True):
            fig.add_annotation(x=x, y=max(y, low), text=f"↑ {value:.3f}" if above else f"{value:.3f}",
                               showarrow=False, xanchor="right", yanchor="bottom", yshift=3,
                               font=dict(color=color, size=size))


def next_char_figure(chart, present: bool = False) -> go.Figure:
    """Bars of P(next character) at the chart's temperature (first trace), with the model's own
    distribution (T = 1) as wider faint bars behind them; one-symbol labels (␣ ⏎ ⇥) that never overlap,
    the character's name on hover. `chart`: a `charrnn.inspect.NextCharChart`; `present`: presentation
    mode's larger type."""
    fig = go.Figure()
    text = [f"{p:.0%}" if p >= 0.01 else "" for p in chart.probs]
    fig.add_bar(x=chart.labels, y=chart.probs, name=f"temperature {chart.temperature:g}", marker_color=VAL_COLOR,
                width=0.55, text=text, textposition="outside", customdata=chart.names,
                hovertemplate="%{customdata}: %{y:.3f}<extra></extra>")
    if chart.temperature != 1:
        fig.add_bar(x=chart.labels, y=chart.probs_t1, name="as learned (temperature 1)", zorder=-1,
                    marker_color=TRAIN_COLOR, opacity=0.35, width=0.9, customdata=chart.names,
                    hovertemplate="%{customdata} at temperature 1: %{y:.3f}<extra></extra>")
    rest = 1 - sum(chart.probs_t1)
    title = f"Next character at temperature {chart.temperature:g}"
    if rest > 0.005:
        title += f" (characters not shown share {rest:.0%})"
    fig.update_xaxes(type="category", tickangle=0, tickfont=dict(size=15))
    return styled(fig, present, title=dict(text=title, x=0.01, font=dict(size=14)), barmode="overlay",
                   margin=dict(l=60, r=20, t=50, b=50), showlegend=chart.temperature != 1,
                   yaxis=dict(title="probability", range=[0, 1.1], tickformat=".0%"))
