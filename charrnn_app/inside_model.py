"""The Inside tab's views of the model as a whole: shapes of a real batch and the recorded graph, the
maps (embeddings, bigram counts, attention), and why the loss is flat or wild (the diagnosis).

Each handler: values in, (picture(s), summary in words and numbers, data) out; a view that does not
apply answers with one plain sentence. `findings_markdown` is also what the Train tab's status shows
when a run ends.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, replace

import plotly.graph_objects as go
import torch

from charrnn import inspect
from charrnn.inspect import InspectError
from charrnn.inspect.diagnose import group_norms

from . import inside_figures as figs
from .inside_budget import MAP_CHARS, check_budget, frequent_ids, within_budget
from .inside_text import md_char, model_to_read, note, sampled, view_text
from .plots import styled
from .runner import snapshot, tab_model
from .session import Session

SHAPE_HEADERS = ["module", "tensor", "shape (named)", "sizes", "dtype", "what it holds"]
GRAPH_STEPS = 3  # time steps the recorded graph unrolls (fewer when a deep model's graph is too big)


def _blank(what: str) -> go.Figure:
    """A small empty chart whose title says that there is no `what` to draw ("attention map"); the reason is
    said once, in the view's note beside it (written in the title as well, it read twice, and a long reason was
    cut off at a phone's width)."""
    title = f"No {what} to draw for this model: the note says why"
    return styled(go.Figure(), title=dict(text=title, x=0.01, font=dict(size=14)), height=120,
                   xaxis=dict(visible=False), yaxis=dict(visible=False))


# ---- 4. shapes of a real batch, and the graph of a real forward pass -------------------------------

def shapes_view(session, text=None):
    """(table rows, summary, graph figure, Graphviz text, data) for one (B, T) batch of the text."""
    model, vocab = model_to_read(session)
    text = view_text(session, text)
    check_budget(session, "shapes")
    try:
        shapes = inspect.batch_shapes(model, vocab, text)
    except InspectError as e:
        return [], note(str(e)), _blank("graph"), "", {"note": str(e)}
    rows = [["  " * r.depth + (r.module_path or r.module) + (f" ×{r.calls}" if r.calls > 1 else ""), r.name, r.dims,
             " × ".join(map(str, r.sizes)) or "scalar", r.dtype, r.what] for r in shapes.tensors]
    dims = ", ".join(f"{k} = {v}" for k, v in shapes.dims.items())
    summary = (f"One batch of your text through {shapes.model}: **{dims}**. Read it top to bottom: the batch x "
               "(B, T) goes in, each module's output follows, and logits (B, T, V) meet the targets (B, T) in "
               "the cross-entropy. ×N: a module called N times (once per time step).")
    graph, dot = None, ""
    for steps in (GRAPH_STEPS, 2, 1):
        try:
            graph = inspect.record_graph(model, vocab, text, steps=steps)
            break
        except InspectError:
            continue
    if graph is None:
        fig = _blank("graph")
        summary += " The graph of one forward pass is too large to draw for this model."
    else:
        fig, dot = figs.graph_figure(graph), inspect.to_dot(graph)
        ops = sum(n.kind == "op" for n in graph.nodes)
        summary += (f" The graph below is one forward pass over T = {graph.dims.get('T')} steps: {ops} operations "
                    f"on {sum(n.kind == 'param' for n in graph.nodes)} weight tensors; hover for each tensor's "
                    "shape. Its full text (Graphviz) is under the chart.")
    return rows, summary, fig, dot, asdict(shapes)


# ---- 6. maps ----------------------------------------------------------------------------------------

def map_view(session):
    """(figure, summary, data): the embedding map (PCA), or the bigram table of an n-gram; each draws at most
    MAP_CHARS characters, the most frequent, and says so."""
    model, vocab = model_to_read(session)
    try:
        check_budget(session, "embedding_map")
        emb = inspect.embedding_map(model, vocab)
    except InspectError as e:
        return bigram_view(session, model, vocab, e)
    ids, share = frequent_ids(session, vocab)
    if len(ids) < len(vocab):  # PCA over every character; the most frequent drawn
        emb = replace(emb, chars=[emb.chars[i] for i in ids], labels=[emb.labels[i] for i in ids],
                      x=[emb.x[i] for i in ids], y=[emb.y[i] for i in ids])
    drawn = (f"The {len(ids):,} most frequent of its {len(vocab):,} characters are drawn ({share:.0%} of the text). "
             if len(ids) < len(vocab) else "")
    readable = map_readable(emb)
    return (figs.embedding_figure(emb, readable), embedding_words(emb, drawn),
            {**asdict(emb), "vocab_size": len(vocab), "readable": readable})


READABLE_SHARE = 0.20  # of the vectors' variance the map's two axes must show before distances on it mean much


def map_readable(emb) -> bool:
    """Whether the two principal directions show enough of how the vectors differ (READABLE_SHARE together).
    Below it, most of the differences lie in the directions left out: two characters drawn close may be far
    apart, so listing "closest pairs" would teach noise (e.g. a 20 s LSTM's 9 % + 8 %)."""
    return figs.variance_shares(emb)[2] >= 100 * READABLE_SHARE  # the total as written: never "only 20.0%"


def embedding_words(emb, drawn: str = "") -> str:
    """The map in words: what it shows (`drawn`: which characters, when not all), and the closest pairs only
    where the map is readable."""
    first, second, both = (f"{v:.1f}%" for v in figs.variance_shares(emb))
    shares = f"{first} and {second} of their variance"
    head = (f"Each character's learned vector ({emb.source}), projected on the two directions where the "
            f"vectors differ most ({shares}). " + drawn)
    if not map_readable(emb):
        return head + (f"⚠️ **Too little to read:** together these two directions show only "
                       f"{both} of how the vectors differ (a readable map shows at least "
                       f"{READABLE_SHARE:.0%}); most of the differences lie in the directions left out, so "
                       "characters drawn close may not be alike. Train longer and look again.")
    return head + ("Characters the model treats alike sit close; closest pairs here: "
                   + ", ".join(f"{md_char(a)} {md_char(b)}" for a, b in closest_pairs(emb, 6)) + ".")


def closest_pairs(emb, n: int) -> list[tuple[str, str]]:
    """The `n` pairs of drawn characters closest on the map (all pairwise distances at once, in torch)."""
    points = torch.tensor([emb.x, emb.y], dtype=torch.float64).T  # (K, 2)
    d = torch.cdist(points, points).triu(1)  # (K, K): each pair once
    d[d == 0] = math.inf  # the diagonal, the lower half (and exact ties at 0, rare)
    flat = torch.topk(d.flatten(), min(n, max(0, len(points) * (len(points) - 1) // 2)), largest=False).indices
    return [(emb.chars[i // len(points)], emb.chars[i % len(points)]) for i in flat.tolist()]


def bigram_view(session, model, vocab, why: InspectError):
    """The n-gram's bigram table of its most frequent characters (at most MAP_CHARS), or a note why not."""
    try:
        check_budget(session, "bigram_table")
        table = inspect.bigram_table(model, vocab, max_chars=MAP_CHARS)
    except InspectError:
        return _blank("map"), note(str(why)), {"note": str(why)}
    pairs = sorted(((n, a, b) for a, row in zip(table.chars, table.counts, strict=True)
                    for b, n in zip(table.chars, row, strict=True)), reverse=True)[:8]
    drawn = (f" The {len(table.chars):,} characters that begin the most pairs, of its {table.vocab_size:,}, are "
             f"drawn ({table.shown / max(1, table.total):.0%} of the pairs)." if len(table.chars) < table.vocab_size
             else "")
    summary = (f"The n-gram's counts of one character following another ({table.total:,} pairs).{drawn} Most "
               "common: " + ", ".join(f"{md_char(a)}→{md_char(b)} {n:,}" for n, a, b in pairs) + ".")
    return figs.bigram_figure(table), summary, asdict(table)


def attention_view(session, text=None):
    """(figure, summary, data): every head's attention weights over (the start of) the text."""
    model, vocab = model_to_read(session)
    text, cut = within_budget(session, "attention", view_text(session, text)[:48])
    try:
        maps = inspect.attention_maps(model, vocab, text, max_chars=48)
    except InspectError as e:
        return _blank("attention map"), note(str(e)), {"note": str(e)}
    lines = []
    for li, layer in enumerate(maps.weights):
        for hi, head in enumerate(layer):
            back = statistics.mean(sum(w * (t - s) for s, w in enumerate(row)) for t, row in enumerate(head))
            own = statistics.mean(row[t] for t, row in enumerate(head))
            lines.append(f"layer {li + 1} head {hi + 1}: looks {back:.1f} characters back on average, "
                         f"{own:.0%} on its own position")
    summary = (sampled(cut) + f"The first {len(maps.labels)} characters (the model reads at most its window at once). "
               + "; ".join(lines) + ".")
    return figs.attention_figure(maps), summary, asdict(maps)


# ---- 5. why is my loss flat (or wild)? -----------------------------------------------------------------

SEVERITY = {"problem": "⚠️ **Problem**", "warning": "**Warning**", "info": "**Note**"}


def findings_markdown(findings) -> str:
    """Findings as Markdown, most serious first, each with what to try."""
    if not findings:
        return ("**Nothing looks wrong:** the loss left the uniform-guess and unigram lines behind, validation "
                "follows training, and the sampled gradients look healthy.")
    return "\n\n".join(f"{SEVERITY.get(f.severity, '')}: {f.message}"
                       + (f" *Try:* {f.advice}" if f.advice else "") for f in findings)


def run_findings(session: Session, max_chars: int = 500):
    """The diagnosis of the tab's model (`charrnn.inspect.diagnose_run`) with the run's text; tanh
    saturation is measured over its first `max_chars` characters (one forward pass; fewer where that is
    over the server's view budget)."""
    text = (session.train_text or "") + (session.val_text or "")
    max_chars = len(within_budget(session, "saturation", text[:max_chars])[0]) if text else max_chars
    bundle = snapshot(session, session.bundle)  # measuring saturation switches the model to eval mode
    return inspect.diagnose_run(bundle, text or None, stop_reason=getattr(session, "stop_reason", None),
                                max_chars=max_chars)


def diagnosis_view(session):
    """(findings, gradient-norm figure, update-ratio figure, summary of the charts, data)."""
    tab_model(session)  # gr.Error if the tab has none
    findings = run_findings(session)
    stats = list(session.bundle.grad_stats)
    if stats:
        last = group_norms(stats[-1])
        size = inspect.update_size(stats)  # the one figure the diagnosis quotes too
        every = f"every {stats[1]['step'] - stats[0]['step']} steps" if len(stats) > 1 else "once"
        summary = (f"{len(stats)} samples of the gradients ({every}). At step {stats[-1]['step']}: gradient norm "
                   + ", ".join(f"{k} {v:.2e}" for k, v in last.items())
                   + (f"; update ÷ weight {size.describe()} (about 1e-3 is usual)." if size else "."))
    else:
        summary = "No gradient statistics were sampled for this model (a loaded checkpoint, or an n-gram)."
    return (findings_markdown(findings), figs.grad_figure(stats, "grad_norm"),
            figs.grad_figure(stats, "update_ratio"), summary,
            {"findings": [asdict(f) for f in findings], "grad_stats": stats})


def after_run(session, status: str) -> str:
    """The Train tab's final status with the diagnosis appended (only what is worth saying)."""
    try:
        # 200 characters: ~0.2 s on a 1024-unit LSTM, so a run still lets go of its slot on time
        findings = [f for f in run_findings(session, max_chars=200) if f.severity != "info"]
    except (InspectError, ValueError, RuntimeError):  # a diagnosis must never spoil the end of a run
        return status
    return status + ("\n\n" + findings_markdown(findings) if findings else "")

