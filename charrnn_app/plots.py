"""Pure figure builders: values in, a Plotly figure out. Nothing here knows about Gradio or sessions.

    loss_figure(history, uniform, unigram, units)   the "watch it learn" chart
    probs_figure(probs, temperature)                the next-character bar chart (empty, or a note)
    next_char_figure(chart)                         the same from `charrnn.inspect.next_char_chart`: readable
                                                    labels, no empty bars, T = 1 faintly behind
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


def _layout(fig: go.Figure, **kw) -> go.Figure:
    # No fixed height: the page's CSS gives the chart's box its height (smaller in presentation mode).
    # The legend goes under the x axis: on a phone it wraps to several rows, and above the plot it would
    # cover the title.
    layout = dict(margin=dict(l=60, r=20, t=40, b=40), autosize=True, template="plotly_white",
                  legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0))
    fig.update_layout(**{**layout, **kw})
    return fig


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
                units: str = "nats") -> go.Figure:
    """Training and validation loss per step, with the two reference levels every learner should
    compare against: ln(V) (a uniform guess) and the unigram entropy (knowing only letter frequencies).
    """
    k = BITS_PER_NAT if units == "bits" else 1.0
    unit = "bits/char" if units == "bits" else "nats/char"
    fig = go.Figure()
    h = history or History()
    if h.step:
        x, y = downsample(h.step, h.train_loss)
        fig.add_scatter(x=x, y=[v * k for v in y], name="train (batch)", mode="lines",
                        line=dict(color=TRAIN_COLOR, width=1.5),
                        hovertemplate="step %{x}<br>train %{y:.3f} " + unit + "<extra></extra>")
    if h.val_step:
        x, y = downsample(h.val_step, h.val_loss)
        fig.add_scatter(x=x, y=[v * k for v in y], name="validation (held-out text)", mode="lines+markers",
                        line=dict(color=VAL_COLOR, width=2.5), marker=dict(size=6),
                        hovertemplate="step %{x}<br>validation %{y:.3f} " + unit + "<extra></extra>")
    last = max(h.step[-1] if h.step else 0, 10)
    uniform_name = "uniform guess log₂(V)" if units == "bits" else "uniform guess ln(V)"
    for level, name, color in ((uniform, uniform_name, UNIFORM_COLOR),
                               (unigram, "letter frequencies (unigram)", UNIGRAM_COLOR)):
        if level is not None:
            fig.add_scatter(x=[0, last], y=[level * k] * 2, name=f"{name} = {level * k:.2f}", mode="lines",
                            line=dict(color=color, dash="dash", width=1.5), hoverinfo="skip")
    # Show from 0 to just above where training starts (a first batch may score a bit above ln V).
    refs = [v * k for v in (uniform, unigram) if v is not None]
    early = max(h.train_loss[:50]) * k if h.train_loss else None
    top = max(refs + ([min(early, max(refs) * 1.5)] if early else [])) if refs else (early or 1.0)
    title = "Loss while training (lower is better)" if h.step else "Loss — press Train and the curve appears here"
    return _layout(fig, title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=15)),
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
    return _layout(fig, title=dict(text=title, x=0.01, font=dict(size=14)),
                   margin=dict(l=60, r=20, t=50, b=50),
                   yaxis=dict(title="probability", range=[0, 1.1], tickformat=".0%"), showlegend=False)


def next_char_figure(chart) -> go.Figure:
    """Bars of P(next character) at the chart's temperature (first trace), with the model's own
    distribution (T = 1) as wider faint bars behind them; one-symbol labels (␣ ⏎ ⇥) that never overlap,
    the character's name on hover. `chart`: a `charrnn.inspect.NextCharChart`."""
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
    return _layout(fig, title=dict(text=title, x=0.01, font=dict(size=14)), barmode="overlay",
                   margin=dict(l=60, r=20, t=50, b=50), showlegend=chart.temperature != 1,
                   yaxis=dict(title="probability", range=[0, 1.1], tickformat=".0%"))
