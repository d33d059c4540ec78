"""Pure figure builders: values in, a Plotly figure out. Nothing here knows about Gradio or sessions.

    loss_figure(history, uniform, unigram, units)   the "watch it learn" chart
    probs_figure(probs, temperature)                the next-character bar chart (empty, or a note)
    next_char_figure(chart)                         the same from `charrnn.inspect.next_char_chart`: readable
                                                    labels, no empty bars, T = 1 faintly behind
    (the Compare tab's chart of a tab's runs: `runs_chart.runs_figure`)
"""

from __future__ import annotations

import math

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
