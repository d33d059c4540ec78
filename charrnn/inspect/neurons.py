"""Neurons over text: what each hidden unit does as the model reads, and which units track what.

    text ─► activations {layer: (T, D)} ─► one unit's trace (T,) to colour the text by
                                       └─► find_units: units ranked by |Pearson r| with a property

Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding Recurrent Networks" found LSTM cells
that track quotes, line length and bracket depth this way; Karpathy 2015, "The Unreasonable
Effectiveness of Recurrent Neural Networks" colours text by one neuron; Strobelt et al. 2018,
"LSTMVis", ranks units by how well they stay on through a span the user selects.

Which activations: the ones the model names (`CharModel.probes`), every layer at every step, not only
what forward returns. A probe reads either
    the carried state      (a fused recurrent layer's h and c of each layer, which its forward pass does
                           not return): the text is read one character at a time with the model's
                           sampling `step`, the same numbers as sampling
    a module's output      (a tanh hidden layer, an attention block, …): forward hooks while the model
                           reads the text in one call, or window by window for a model that re-reads a
                           window (`window_len`), each position with its own window as in sampling
A model with no probes (a table of counts) has no neurons: InspectError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..corpus import Vocab
from ..models import CharModel, Probe
from .common import MAX_CHARS, InspectError, encode_bounded, eval_mode, sliding_windows, window_len


@dataclass
class Layer:
    name: str  # the key used by `neuron` and `find_units`, e.g. "layer 1 h"
    size: int  # units in it (D)
    what: str  # one line: what these numbers are
    bounded: bool  # values in [-1, 1] (tanh outputs): saturation can be measured


@torch.no_grad()
def activations(model: CharModel, ids: torch.Tensor) -> dict[str, tuple[Layer, torch.Tensor]]:
    """ids (T,) → {layer name: (Layer, activations (T, D) float32)}, read from a fresh state.

    Row t is the layer's value after reading ids[t] (the state that predicts ids[t+1]).
    """
    probes = model.probes()
    if not probes:
        if model.fitted_by_counting:
            raise InspectError(f"{model.noun} has no neurons: it is a table of counts")
        raise InspectError(f"{model.noun} names no hidden layers to inspect")
    ids = ids.to(model.device)
    with eval_mode(model):
        if any(p.module is None for p in probes):
            traces = _stepwise(model, ids, probes)
        else:
            traces = _hooked(model, ids, probes)
    return {p.name: (Layer(p.name, p.size, p.what, p.bounded), traces[p.name]) for p in probes}


def layers(model: CharModel) -> list[Layer]:
    """The layers `neuron` and `find_units` can read, with their sizes (from a 1-character run)."""
    return [layer for layer, _ in activations(model, torch.zeros(1, dtype=torch.long)).values()]


def _hooked(model: CharModel, ids: torch.Tensor, probes: list[Probe]) -> dict[str, torch.Tensor]:
    """Probes on modules: hooks while the model reads the text, in one call or window by window."""
    calls: dict[str, list[torch.Tensor]] = {p.name: [] for p in probes}
    handles = [p.module.register_forward_hook(
        lambda _m, _i, out, name=p.name, pick=p.pick: calls[name].append(pick(out).detach()))
        for p in probes]
    W = window_len(model)
    try:
        if W is None:
            model(ids[None], None)  # one pass; cells are called once per step, other layers once
        else:
            head, tail = sliding_windows(ids, W)
            model(head, None)
            for i in range(0, len(tail), 256):
                model(tail[i:i + 256], None)
    finally:
        for h in handles:
            h.remove()
    traces = {}
    for p in probes:
        outs = calls[p.name]
        if W is not None:  # first call: every row of the head; later calls: each window's last row
            rows = [outs[0][0]] + [o[:, -1] for o in outs[1:]]
        else:  # (1, T, D) once, or (1, D) once per step
            rows = [o[0] if o.dim() == 3 else o for o in outs]
        traces[p.name] = torch.cat(rows).float()  # (T, D)
    return traces


def _stepwise(model: CharModel, ids: torch.Tensor, probes: list[Probe]) -> dict[str, torch.Tensor]:
    """Probes on the state (and any on modules): the text read one character at a time with `step`."""
    rows: dict[str, list[torch.Tensor]] = {p.name: [] for p in probes}
    hooked = [p for p in probes if p.module is not None]
    handles = [p.module.register_forward_hook(  # a module called once per character: its last row
        lambda _m, _i, out, name=p.name, pick=p.pick, size=p.size: rows[name].append(pick(out).reshape(-1, size)[-1:]))
        for p in hooked]
    state = None
    try:
        for t in range(len(ids)):
            _, state = model.step(ids[t:t + 1], state)
            for p in probes:
                if p.module is None:
                    rows[p.name].append(p.pick(state))  # (1, D)
    finally:
        for h in handles:
            h.remove()
    return {name: torch.cat(r).float() for name, r in rows.items()}  # (T, D)


# ---- one unit over the text --------------------------------------------------------------------

@dataclass
class NeuronTrace:
    text: str
    truncated: bool
    layer: str
    unit: int
    values: list[float]  # (T,) the unit's activation after reading each character
    low: float  # min over the text, for a colour scale
    high: float


def neuron(model: CharModel, vocab: Vocab, text: str, layer: str, unit: int, *,
           max_chars: int = MAX_CHARS) -> NeuronTrace:
    """The activation of `unit` of `layer` after each character of `text` (cut to max_chars)."""
    ids, text, truncated = encode_bounded(vocab, text, max_chars)
    acts = activations(model, ids)
    if layer not in acts:
        raise InspectError(f"no layer {layer!r}; this model has: {', '.join(acts)}")
    info, a = acts[layer]
    if not 0 <= unit < info.size:
        raise InspectError(f"{layer} has units 0 to {info.size - 1}, not {unit}")
    values = a[:, unit]
    return NeuronTrace(text, truncated, layer, unit, values.tolist(), float(values.min()), float(values.max()))


# ---- finding units that track a property -------------------------------------------------------

def text_properties(text: str) -> dict[str, list[float]]:
    """Simple properties of each character of `text`, each (T,), 1.0/0.0 or a count.

    inside quotes      after reading char t, an odd number of '"' has been read (the opening quote
                       counts as inside, the closing one not)
    inside brackets    more ( [ { than ) ] } read so far, after char t
    position in line   characters since the last newline (0 at a newline; the first char is 1)
    start of word      char t is alphanumeric and the one before it is not
    upper case         char t is an upper-case letter
    digit              char t is a digit
    """
    quotes = depth = 0
    col = 0
    props: dict[str, list[float]] = {k: [] for k in ("inside quotes", "inside brackets", "position in line",
                                                     "start of word", "upper case", "digit")}
    prev = ""
    for c in text:
        quotes ^= c == '"'
        depth = max(0, depth + (c in "([{") - (c in ")]}"))
        col = 0 if c == "\n" else col + 1
        props["inside quotes"].append(float(quotes))
        props["inside brackets"].append(float(depth > 0))
        props["position in line"].append(float(col))
        props["start of word"].append(float(c.isalnum() and not prev.isalnum()))
        props["upper case"].append(float(c.isupper()))
        props["digit"].append(float(c.isdigit()))
        prev = c
    return props


def span_mask(length: int, spans: list[tuple[int, int]]) -> list[float]:
    """1.0 inside any [start, end) span of character positions, else 0.0 (T,)."""
    mask = [0.0] * length
    for start, end in spans:
        for t in range(max(0, start), min(length, end)):
            mask[t] = 1.0
    return mask


@dataclass
class UnitMatch:
    layer: str
    unit: int
    correlation: float  # Pearson r between the unit's activation and the property over the text
    property: str


def find_units(model: CharModel, vocab: Vocab, text: str, *, properties: list[str] | None = None,
               spans: list[tuple[int, int]] | None = None, top_k: int = 5,
               max_chars: int = MAX_CHARS) -> list[UnitMatch]:
    """For each property, the `top_k` units whose activation best tracks it, by |Pearson r|.

    properties: names from `text_properties` (default: all of them, unless `spans` is given).
    spans: character ranges [start, end) the user selected; adds the property "selected span".
    A property that is constant over the text (e.g. no quotes in it) cannot be correlated and is
    left out. Returns the matches grouped by property, strongest first within each.
    """
    ids, text, _ = encode_bounded(vocab, text, max_chars, min_len=2)
    acts = activations(model, ids)
    table = text_properties(text)
    if properties is None:
        properties = [] if spans else list(table)
    unknown = [p for p in properties if p not in table]
    if unknown:
        raise InspectError(f"unknown properties {unknown}; choose from: {', '.join(table)}")
    wanted = {p: table[p] for p in properties}
    if spans:
        wanted["selected span"] = span_mask(len(text), spans)
    names = list(acts)
    A = torch.cat([acts[n][1] for n in names], dim=1).double().cpu()  # (T, ΣD): every unit side by side
    owner = [(n, u) for n in names for u in range(acts[n][0].size)]
    Az = _standardise(A)
    matches = []
    for prop, values in wanted.items():
        p = _standardise(torch.tensor(values, dtype=torch.float64)[:, None])[:, 0]  # (T,)
        if not p.any():
            continue  # constant property: no correlation defined
        r = (Az * p[:, None]).mean(0)  # (ΣD,) Pearson r of each unit with the property
        best = r.abs().argsort(descending=True)[:top_k]
        matches += [UnitMatch(*owner[i], float(r[i]), prop) for i in best.tolist()]
    return matches


def _standardise(x: torch.Tensor) -> torch.Tensor:
    """(T, N) → zero mean, unit variance per column; constant columns become 0 (r = 0)."""
    x = x - x.mean(0)
    std = x.pow(2).mean(0).sqrt()
    return torch.where(std > 1e-9, x / std.clamp_min(1e-12), torch.zeros_like(x))


# ---- saturation ----------------------------------------------------------------------------------

def saturation(model: CharModel, vocab: Vocab, text: str, *, threshold: float = 0.97,
               max_chars: int = MAX_CHARS) -> dict[str, float]:
    """Share of activations with |a| > threshold in each tanh-bounded layer, over `text`.

    A tanh unit near ±1 passes back almost no gradient (tanh' = 1 − a² ≈ 0.06 at 0.97), so a layer
    whose units sit there most of the time learns slowly (makemore part 3: "Activations & Gradients").
    Layers whose values are not bounded (a cell state c, relu, a residual stream) are left out.
    """
    ids, _, _ = encode_bounded(vocab, text, max_chars)
    shares = {name: float((a.abs() > threshold).double().mean())
              for name, (layer, a) in activations(model, ids).items() if layer.bounded}
    if not shares:
        raise InspectError("this model has no tanh-bounded units, so saturation does not apply")
    if any(math.isnan(v) for v in shares.values()):
        raise InspectError("the activations contain NaN: the weights have diverged")
    return shares
