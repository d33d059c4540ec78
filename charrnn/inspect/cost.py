"""What an inspection view will cost before it runs: memory (bytes) and time (seconds), from the estimate
that guards training (`charrnn.estimate`), so that a server can bound each view as it bounds each run.

    view_cost(view, model, model_name, n_chars) ─► ViewCost(bytes, seconds)
    cheapest_chars(view)                         ─► the fewest characters the view can run on

A view runs the model over its text, or reads its weights; its cost grows with the vocabulary V, the text's
length T and the model's size (issue 18: on a text of 8,002 distinct characters the embedding map took 56 s
and 3.6 GB, the bigram table 141 s and a 128 MB figure). By what it computes:

    forward      predictions, worked loss, neurons, find units, attention, saturation: one forward pass over
                 T characters (a windowed model: T windows of W characters, `common.WINDOW_LOGITS` scores a
                 batch) without autograd — what training's forward keeps (half its activations), and the
                 logits (T, V) with their softmax and top-k
    backward     saliency: a forward and backward pass over at most T (or a window of W) characters, as one
                 training step of one sequence, without the optimizer
    batch        shapes: one small (4, 16) batch, whatever the text
    vectors      embedding map: the (V, D) table's principal components (V·D numbers, a few times)
    pairs        bigram table: the counts of the K × K most frequent character pairs drawn (`maps.MAP_CHARS`)

Times are this project's one-thread figures (`estimate.FLOPS`) checked against measured views
(`benchmarks/view_cost.py`: the constants below); like the training estimate, a bound for refusing or
sampling, not an accounting.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..estimate import EVAL_PIECE_LOGITS, estimate
from ..models.base import CharModel
from .common import window_len, windows_per_batch

VIEWS = {"predictions": "forward", "worked_loss": "forward", "neurons": "forward", "find_units": "forward",
         "attention": "forward", "saturation": "forward", "saliency": "backward", "shapes": "batch",
         "embedding_map": "vectors", "bigram_table": "pairs"}
SHAPES_BATCH = (4, 16)  # `shapes.batch_shapes`'s (B, T)
MAP_CHARS = 400  # characters an embedding map or a bigram table draws at most (the most frequent ones)
# Measured by benchmarks/view_cost.py (2,000 characters, one thread, preset sizes for a 100k text; AMD EPYC
# 2-core, 2026-12-05): the arithmetic's estimate undershot nn.GRU's Predictions 5x and find units over
# nn.LSTM / nn.GRU / nn.RNN 19-28x (those read each layer's state one character at a time: 100-240 µs a
# character); the worst forward view otherwise took 50 µs a character (nn.GRU; 112 µs on the process's
# first call) and 1.8x the arithmetic (the transformer). A bound must not undershoot: these are the
# measured worst cases, rounded up.
STATE_VIEWS = {"neurons", "find_units", "saturation"}  # views that read hidden states (`neurons.activations`)
STEP_SECONDS = 300e-6  # a character read one at a time through `step`, its states kept
READ_SECONDS = 120e-6  # a character of a forward pass at batch 1, at least (nn.GRU's first call: 112 µs)
MARGIN = 2.0  # measured ÷ arithmetic estimate, at most (1.8 for the transformer, 1.9 for nn.LSTM)


@dataclass(frozen=True)
class ViewCost:
    bytes: int  # memory the view takes while it computes, besides the model itself
    seconds: float  # on one thread of this project's machine

    @property
    def mb(self) -> float:
        return self.bytes / 1024**2


def view_cost(view: str, model: CharModel, model_name: str, n_chars: int) -> ViewCost:
    """The cost of `view` (a key of VIEWS) over `n_chars` characters of text with `model`, a `model_name`.
    Raises KeyError for an unknown view."""
    kind, V = VIEWS[view], model.vocab_size
    T = max(1, n_chars)
    if kind == "vectors":  # PCA of (V, D): a centred copy and its D × D covariance
        D = max((p.shape[-1] for p in model.parameters() if p.dim() == 2), default=1)
        return ViewCost(3 * 8 * V * D, 6 * V * D * D / 80e9 + 1e-6 * V)
    if kind == "pairs":  # the counts read once, and a K × K table
        return ViewCost(24 * sum(b.numel() for b in model.buffers()) + 8 * MAP_CHARS**2, 1e-8 * V * MAP_CHARS)
    W = window_len(model)
    if kind == "batch":
        B, T = SHAPES_BATCH
        e = estimate(model_name, model.config, V, B, T if W is None else min(T, W))
        return ViewCost(e.activation_bytes + e.logits_bytes + e.attention_bytes, e.step_seconds)
    if kind == "backward":
        e = estimate(model_name, model.config, V, 1, T if W is None else min(T, W))
        return ViewCost(e.param_bytes // 4 + e.activation_bytes + e.logits_bytes + e.attention_bytes,
                        e.step_seconds)
    if W is None or T <= W:  # one pass over the text, its state carried
        e = estimate(model_name, model.config, V, 1, T)
        return ViewCost(e.activation_bytes // 2 + _logit_bytes(model, e, T * V) + e.attention_bytes // 3,
                        _read_seconds(view, model, T, T / e.eval_chars_per_second))
    batch = min(T, windows_per_batch(W, V))  # T windows of W characters, `batch` of them at a time
    whole, part = estimate(model_name, model.config, V, T, W), estimate(model_name, model.config, V, batch, W)
    window_logits = 4 * batch * W * V  # each window's logits, of which only the last row is kept
    return ViewCost(part.activation_bytes // 2 + window_logits + part.attention_bytes // 3
                    + _logit_bytes(model, part, T * V),
                    _read_seconds(view, model, T, T * W / whole.eval_chars_per_second))


def _read_seconds(view: str, model: CharModel, T: int, arithmetic: float) -> float:
    """Seconds a forward view takes over T characters: the arithmetic's estimate (`charrnn.estimate`) with
    MARGIN, and at least the per-character cost measured where a view reads one character at a time (a layer
    whose state is read between characters: `neurons._stepwise`) or the per-call work dominates at batch 1."""
    stepwise = view in STATE_VIEWS and any(p.module is None for p in model.probes())
    return max(MARGIN * arithmetic, T * (STEP_SECONDS if stepwise else READ_SECONDS))


def cheapest_chars(view: str) -> int:
    """The fewest characters a view over text can be computed on (a prediction needs two)."""
    return 1 if VIEWS[view] in ("vectors", "pairs", "batch") else 2


def _logit_bytes(model: CharModel, e, n_logits: int) -> int:
    """The (T, V) scores, their softmax and what sorting them for the top guesses keeps: 12 bytes a score
    (what training's estimate counts), more for a model fitted by counting (its working tables)."""
    per = e.logits_bytes / EVAL_PIECE_LOGITS if model.fitted_by_counting else 12
    return int(per * n_logits)
