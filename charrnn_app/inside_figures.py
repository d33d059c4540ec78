"""Pictures for the Inside tab: plain data from `charrnn.inspect` in, HTML or a Plotly figure out.

    strip(chars, values, …)        text as spans coloured by a value (surprise, a neuron, saliency)
    graph_figure(graph)            the recorded forward pass, laid out in layers (no Graphviz needed)
    embedding_figure · bigram_figure · attention_figure · grad_figure

Every string from the user's text is escaped before it becomes HTML. Colours come from
`plots.PALETTE` (colour-blind safe); every chart has a text alternative beside it (the handlers'
summaries), so nothing is said by colour alone.
"""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charrnn.inspect.diagnose import param_groups

from .plots import PALETTE, styled

BLUE, ORANGE, GREEN = PALETTE[0], PALETTE[1], PALETTE[2]


def escape(text: str) -> str:
    """User text made inert in HTML: markup escaped, and { } $ too, since gr.HTML fills its value into
    a template (JS template string and Handlebars) in the browser."""
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;").replace("$", "&#36;")


def rgba(hex_color: str, alpha: float) -> str:
    """`hex_color` ("#RRGGBB") as a CSS rgba() with opacity `alpha` (clipped to 0..1)."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{max(0.0, min(1.0, alpha)):.2f})"


def strip(text: str, alphas: list[float | None], titles: list[str], colors: list[str] | None = None,
          marked: int | None = None, first: int = 0) -> str:
    """`text` as one span per character, background `colors[i]` at opacity `alphas[i]` (None: no
    colour), hover text `titles[i]`; `data-pos` is the character's index + `first` (what a click
    reports). Newlines show as ⏎ and break the line; `marked` gets an outline."""
    spans = []
    for i, c in enumerate(text):
        a = alphas[i]
        style = f"background:{rgba((colors or [ORANGE] * len(text))[i], a)};" if a is not None else ""
        if i == marked:
            style += "outline:2px solid #000;"
        shown = "⏎\n" if c == "\n" else c
        spans.append(f'<span class="ch" data-pos="{i + first}" title="{escape(titles[i])}" '
                     f'style="{style}">{escape(shown)}</span>')
    return f'<div class="strip">{"".join(spans)}</div>'


def legend(items: list[tuple[str, str]]) -> str:
    """A line of colour swatches with words: [(colour, what it means)]."""
    swatches = (f'<span style="background:{c};border:1px solid #999">&nbsp;&nbsp;&nbsp;</span> {escape(w)}'
                for c, w in items)
    return '<div class="strip-legend">' + " ".join(swatches) + "</div>"


def _layered(graph) -> tuple[dict[int, tuple[float, int]], int]:
    """({node id: (x, y)}, number of rows): each node in the row of its depth (the longest path to it from
    the input or a weight), the row centred on x = 0."""
    into: dict[int, list[int]] = {}
    for e in graph.edges:
        into.setdefault(e.dst, []).append(e.src)
    depth: dict[int, int] = {}
    for n in graph.nodes:  # recorded in execution order: every source comes before its users
        depth[n.id] = 1 + max((depth[s] for s in into.get(n.id, []) if s in depth), default=-1)
    rows: dict[int, list[int]] = {}
    for n in graph.nodes:
        rows.setdefault(depth[n.id], []).append(n.id)
    pos = {i: (k - (len(ids) - 1) / 2, -d) for d, ids in rows.items() for k, i in enumerate(ids)}
    return pos, len(rows)


def graph_figure(graph) -> go.Figure:
    """Nodes in rows by depth (longest path from x or a weight), edges as lines, shapes on hover.

    Operations are circles, weights small grey squares, the input and outputs diamonds; an edge's
    tensor (its named dimensions) shows when hovering over its middle."""
    pos, n_rows = _layered(graph)
    ex, ey, mx, my, mt = [], [], [], [], []
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        ex += [x0, x1, None]
        ey += [y0, y1, None]
        mx.append((x0 + x1) / 2)
        my.append((y0 + y1) / 2)
        mt.append(e.dims)
    fig = go.Figure()
    fig.add_scatter(x=ex, y=ey, mode="lines", line=dict(color="#BBBBBB", width=1), hoverinfo="skip",
                    name="tensors")
    fig.add_scatter(x=mx, y=my, mode="markers", marker=dict(size=6, color="rgba(0,0,0,0)"), text=mt,
                    hovertemplate="tensor %{text}<extra></extra>", name="shapes (hover)")
    style = {"op": (BLUE, "circle", 12), "param": ("#999999", "square", 7), "input": (ORANGE, "diamond", 14),
             "output": (GREEN, "diamond", 14)}
    for kind, name in (("param", "weights"), ("op", "operations"), ("input", "input x"), ("output", "outputs")):
        nodes = [n for n in graph.nodes if n.kind == kind]
        if not nodes:
            continue
        color, symbol, size = style[kind]
        fig.add_scatter(
            x=[pos[n.id][0] for n in nodes], y=[pos[n.id][1] for n in nodes], name=name,
            mode="markers+text" if kind != "param" else "markers", marker=dict(color=color, symbol=symbol, size=size),
            text=[n.label for n in nodes], textposition="middle right", textfont=dict(size=10),
            customdata=[[n.dims, n.module or "(top)"] for n in nodes],
            hovertemplate="%{text} → %{customdata[0]}<br>in %{customdata[1]}<extra></extra>")
    height = max(300, 28 * (n_rows + 1))
    return styled(fig, title=dict(text=f"{graph.model}: the operations of one forward pass "
                                   f"(T={graph.dims.get('T')} steps)", x=0.01, font=dict(size=14)),
                   height=height, xaxis=dict(visible=False), yaxis=dict(visible=False), hovermode="closest")


def variance_shares(emb) -> tuple[float, float, float]:
    """The percentages of the vectors' variance on the map's two directions and together, as the page writes
    them (8.4, 7.4, 15.8): one decimal, the total the sum of the two as written, so that the axes and the words
    never read "8% and 7%" beside "16%"."""
    a, b = (round(100 * v, 1) for v in emb.explained[:2])
    return a, b, round(a + b, 1)


MAP_LABEL_APART = (0.035, 0.07)  # a written label's room, as shares of the map's width and height (~12 px of a
# phone's 330 px plot, a line of 12 px text on a 250 px one)


def map_labels(emb) -> list[str]:
    """The text written beside each character's marker: its label, or "" where a label already written (those
    farthest from the middle first: the characters that stand out) would overlap it."""
    span_x = (max(emb.x) - min(emb.x)) or 1.0 if emb.x else 1.0
    span_y = (max(emb.y) - min(emb.y)) or 1.0 if emb.y else 1.0
    cx, cy = sum(emb.x) / max(len(emb.x), 1), sum(emb.y) / max(len(emb.y), 1)
    order = sorted(range(len(emb.labels)),
                   key=lambda i: -(((emb.x[i] - cx) / span_x) ** 2 + ((emb.y[i] - cy) / span_y) ** 2))
    written: list[int] = []
    for i in order:
        if all(abs(emb.x[i] - emb.x[j]) / span_x >= MAP_LABEL_APART[0] or
               abs(emb.y[i] - emb.y[j]) / span_y >= MAP_LABEL_APART[1] for j in written):
            written.append(i)
    keep = set(written)
    return [label if i in keep else "" for i, label in enumerate(emb.labels)]


def embedding_figure(emb, readable: bool = True) -> go.Figure:
    """The characters on their two principal directions; `readable` False: the title says the map shows too
    little of the vectors' variance to read (see `inside_model.map_readable`)."""
    fig = go.Figure()
    # every character a marker with its name on hover; the text written only where it stands clear of the labels
    # already written (a tester's map of 80 characters piled its labels up in the middle, unreadable)
    fig.add_scatter(x=emb.x, y=emb.y, mode="markers+text", text=map_labels(emb), textposition="top center",
                    textfont=dict(size=12), marker=dict(color=BLUE if readable else "#999999", size=5),
                    customdata=emb.labels, name="characters",
                    hovertemplate="%{customdata}: (%{x:.2f}, %{y:.2f})<extra></extra>")
    first, second, both = (f"{v:.1f}%" for v in variance_shares(emb))
    title = ("Character embeddings, projected on their 2 main directions (PCA)" if readable else
             f"Character embeddings (PCA) — too little to read: these 2 directions show {both} of the variance")
    return styled(fig, title=dict(text=title, x=0.01, font=dict(size=14)),
                   xaxis=dict(title=f"direction 1 ({first} of the variance)"),
                   yaxis=dict(title=f"direction 2 ({second})"), showlegend=False)


def bigram_figure(table) -> go.Figure:
    """Counts of character b after character a, every row and column labelled (one tick per character, the
    chart as tall as its rows need)."""
    fig = go.Figure(go.Heatmap(z=table.counts, x=table.labels, y=table.labels, colorscale=[[0, "#FFFFFF"], [1, BLUE]],
                               hovertemplate="%{y} then %{x}: %{z} times<extra></extra>"))
    size = 11 if len(table.labels) <= 60 else 8
    fig.update_xaxes(type="category", title="next character", side="top", dtick=1, tickfont=dict(size=size),
                     tickangle=0)
    fig.update_yaxes(type="category", title="character", autorange="reversed", dtick=1, tickfont=dict(size=size))
    return styled(fig, title=dict(text="How often each character followed each other one (the n-gram's counts)",
                                   x=0.01, y=0.99, font=dict(size=14)), margin=dict(l=60, r=20, t=80, b=20),
                   height=max(420, (size + 3) * len(table.labels) + 120))


def attention_figure(maps) -> go.Figure:
    """One heat map per layer and head: row = the position writing, column = the earlier position it took from,
    both axes labelled with the characters (hover adds their positions)."""
    L, H = len(maps.weights), len(maps.weights[0])
    fig = make_subplots(rows=L, cols=H, subplot_titles=[f"layer {l + 1} · head {h + 1}" for l in range(L)
                                                        for h in range(H)], horizontal_spacing=0.04,
                        vertical_spacing=0.1)
    ticks = list(range(len(maps.labels)))  # positions: a character may occur twice
    names = [f"{i}:{c}" for i, c in enumerate(maps.labels)]
    for l in range(L):
        for h in range(H):
            fig.add_trace(go.Heatmap(z=maps.weights[l][h], x=ticks, y=ticks, zmin=0, zmax=1, showscale=False,
                                     colorscale=[[0, "#FFFFFF"], [1, ORANGE]], customdata=[
                                         [[names[t], names[s]] for s in ticks] for t in ticks],
                                     hovertemplate="%{customdata[0]} looked at %{customdata[1]}: %{z:.2f}"
                                                   "<extra></extra>"),
                          row=l + 1, col=h + 1)
    size = 10 if len(ticks) <= 32 else 8
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=maps.labels, tickangle=0, tickfont=dict(size=size))
    fig.update_yaxes(tickmode="array", tickvals=ticks, ticktext=maps.labels, tickfont=dict(size=size),
                     autorange="reversed")
    return styled(fig, title=dict(text="Attention: row = the position writing, column = the earlier position "
                                   "it took from", x=0.01, font=dict(size=14)), height=(12 * len(ticks) + 80) * L + 60)


def grad_figure(grad_stats: list[dict], key: str) -> go.Figure:
    """Per layer over training: gradient norm ("grad_norm", grouped by `param_groups`) or the
    update-to-weight ratio ("update_ratio", per weight matrix) with the customary 1e-3 line."""
    series: dict[str, tuple[list, list]] = {}
    for s in grad_stats:
        values = s.get(key, {})
        groups = param_groups(list(values), s.get("layer"))  # the model's own grouping
        if key == "grad_norm":
            sums: dict[str, float] = {}
            for name, v in values.items():
                sums[groups[name]] = sums.get(groups[name], 0.0) + v * v
            points = {g: math.sqrt(v) for g, v in sums.items()}
        else:  # biases and norms move differently; the weight matrices are what the 1e-3 rule is about
            points = {n: v for n, v in values.items() if "bias" not in n and ".ln" not in "." + n}
        for name, v in points.items():
            if v > 0 and math.isfinite(v):
                series.setdefault(name, ([], []))
                series[name][0].append(s["step"])
                series[name][1].append(v)
    fig = go.Figure()
    for k, (name, (x, y)) in enumerate(series.items()):
        fig.add_scatter(x=x, y=y, name=name, mode="lines", line=dict(color=PALETTE[k % len(PALETTE)], width=1.5))
    if key == "update_ratio" and series:
        last = max(x[-1] for x, _ in series.values())
        fig.add_scatter(x=[0, last], y=[1e-3, 1e-3], name="≈1e-3, customary", mode="lines",
                        line=dict(color="#7F7F7F", dash="dash"), hoverinfo="skip")
    title = ("Gradient norm per layer" if key == "grad_norm" else "Update size ÷ weight size, per weight matrix")
    if not series:
        title += " — no gradient statistics sampled in this model's runs"
    return styled(fig, title=dict(text=title, x=0.01, font=dict(size=14)), xaxis=dict(title="training step"),
                   yaxis=dict(type="log", exponentformat="power",
                                                   title="‖grad‖" if key == "grad_norm" else "‖Δw‖ / ‖w‖"))
