"""Shapes of a real batch: every tensor one (B, T) batch of your text produces, stage by stage.

    text ─► x (B, T) ─► model (forward hooks on every submodule) ─► logits (B, T, V) ┐
                                                       targets (B, T) ─────────────┴► cross-entropy ()

Nothing here is a hand-written table of what the shapes should be: a forward pre-hook and a forward
hook on every submodule record what each one really received and returned (PyTorch's
`register_forward_hook`), and a TorchFunctionMode records the attention call inside the
attention modules, whose per-head (B, heads, T, hd) tensors are no module's output.
Each size is then named by matching it against the batch and the sizes the model names
(`CharModel.named_sizes`), e.g.:

    B batch   T time steps   V vocabulary   E n_embd   H n_hidden   L n_layer (recurrent state)
    3H, 4H (gates side by side)   heads n_head   hd n_embd/n_head   3E, 4E (qkv, the blocks' MLP)
    C context (a fixed window)   C·E   n-1 (a counted context)

B and T are nudged off the model's own sizes (e.g. T=15 instead of 16 when n_embd is 16) so that
each dimension gets one name; two config sizes that are equal (n_embd = n_hidden = 32) are shown
together as "E=H".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..corpus import Vocab
from ..models.base import CharModel
from ..train import lm_loss
from .common import MAX_CHARS, InspectError, encode_bounded, eval_mode


@dataclass
class TensorInfo:
    # the module's path in the model ("cells.0", "blocks.1.attn.qkv"); "" for the batch and the loss. Not
    # "path": a Gradio client takes any {"path": str} in an endpoint's data for a file to download
    module_path: str
    module: str  # the module's class ("Linear", "LSTM"), or what the row is ("batch", "loss")
    name: str  # which tensor: "output", "h_n", "q", "logits", "state h" …
    dims: str  # named dimensions, e.g. "(B, T, E)"
    sizes: list[int]  # the actual sizes, e.g. [4, 15, 16]
    dtype: str  # "float32", "int64"
    what: str  # one line: what it holds
    input_dims: str = ""  # what the module was given (its first tensor argument), e.g. "(B, T)"
    calls: int = 1  # times the module ran in this forward pass (a hand-written cell: once per step)
    depth: int = 0  # nesting level of the module, for indenting


@dataclass
class BatchShapes:
    model: str  # the model's class
    dims: dict[str, int]  # every named dimension and its size, e.g. {"B": 4, "T": 15, "V": 30, …}
    tensors: list[TensorInfo] = field(default_factory=list)  # in the order the computation met them
    text: str = ""  # the text the batch was cut from (at most max_chars)


WHAT = {  # one line per kind of module: what its output holds
    "Embedding": "a learned vector per id (a table lookup)",
    "InputLayer": "characters as vectors: an embedding, or one-hot",
    "Linear": "a linear map, x Wᵀ + b, on the last dimension",
    "Tanh": "tanh: squashed into (-1, 1)",
    "ReLU": "relu: negatives set to 0",
    "GELU": "GELU: a smooth relu",
    "Dropout": "dropout (passes values unchanged when not training)",
    "LayerNorm": "each vector normalised to mean 0, variance 1, then scaled and shifted",
    "Sequential": "the layers listed under it, applied in order",
    "RNN": "the fused recurrent layer: all T steps of all L layers in one call",
    "GRU": "the fused recurrent layer: all T steps of all L layers in one call",
    "LSTM": "the fused recurrent layer: all T steps of all L layers in one call",
    "ElmanCell": "one step of the hand-written cell, called once per character",
    "GRUCell": "one step of the hand-written cell, called once per character",
    "LSTMCell": "one step of the hand-written cell, called once per character",
    "CausalSelfAttention": "masked self-attention: each position mixes in values from earlier positions",
    "Block": "one block: attention, then an MLP, each added to the residual stream",
}
NAMES = {"output": "the top layer's h at every step", "h_n": "every layer's last h (the carried state)",
         "c_n": "every layer's last cell state c", "h": "the new hidden state", "c": "the new cell state"}


def name_dims(sizes, dims: dict[str, int]) -> str:
    """[4, 15, 16] with {"B": 4, "T": 15, "E": 16} → "(B, T, E)"; unmatched sizes stay numbers."""
    names = []
    for s in sizes:
        match = [n for n, v in dims.items() if v == s]
        names.append("=".join(match) if match else str(s))
    return "(" + ", ".join(names) + ")"


def _pick(want: int, taken: set[int], hi: int) -> int:
    """`want`, or the nearest smaller (then larger) size ≤ hi that no other dimension has."""
    for s in [*range(want, 0, -1), *range(want + 1, hi + 1)]:
        if s not in taken:
            return s
    return want


class _RecordAttention(TorchFunctionMode):
    """Records the q, k, v and output of every scaled_dot_product_attention call."""

    def __init__(self, on_call):
        super().__init__()
        self.on_call = on_call

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is F.scaled_dot_product_attention:
            self.on_call(args[:3], out)
        return out


@torch.no_grad()
def batch_shapes(model: CharModel, vocab: Vocab, text: str, *, batch_size: int = 4, seq_len: int = 16,
                 max_chars: int = MAX_CHARS) -> BatchShapes:
    """Run one batch of B windows of T characters from `text` through `model`; list every tensor.

    The windows start at evenly spaced places in the text (cut to max_chars); y is x shifted left by
    one. Returns the input batch, each module's output (with what it was given), the attention's
    q, k, v, the logits, targets and loss, and the state the model carries to the next batch.
    """
    ids, text, _ = encode_bounded(vocab, text, max_chars, min_len=2)
    dims = model.named_sizes()  # V, E, H …: the model names its sizes
    taken = set(dims.values())
    hi_T = min(len(ids) - 1, model.max_seq_len or len(ids))
    T = _pick(min(seq_len, hi_T), taken, hi_T)
    B = _pick(batch_size, taken | {T}, max(batch_size, 8))
    dims = {"B": B, "T": T, **dims}
    starts = torch.linspace(0, len(ids) - T - 1, B).long()[:, None]  # (B, 1)
    x, y = ids[starts + torch.arange(T)], ids[starts + torch.arange(T) + 1]  # (B, T) each
    device = model.device
    x, y = x.to(device), y.to(device)

    rows: list[TensorInfo] = [TensorInfo("", "batch", "x", name_dims(x.shape, dims), list(x.shape), _dt(x),
                                         "the batch: B windows of T character ids from your text")]
    first: dict[str, int] = {}  # module path → index of its first row
    calls: dict[str, int] = {}  # module path → times it ran
    stack: list[str] = []
    paths = {m: p for p, m in model.named_modules() if p}

    def pre(module, args):
        path = paths[module]
        stack.append(path)
        calls[path] = calls.get(path, 0) + 1
        if path in first:
            return
        first[path] = len(rows)
        inp = next((a for a in args if isinstance(a, torch.Tensor)), None)
        rows.append(TensorInfo(path, type(module).__name__, "", "", [], "", WHAT.get(type(module).__name__, ""),
                               name_dims(inp.shape, dims) if inp is not None else "", 1, len(stack) - 1))

    def post(module, args, out):
        path = stack.pop()
        i = first[path]
        if calls[path] > 1:
            return  # repeated calls have the same shapes as the first
        named = _named_outputs(model, module, out)
        head = rows[i]
        for k, (name, t) in enumerate(named):
            info = TensorInfo(path, head.module, name, name_dims(t.shape, dims), list(t.shape), _dt(t),
                              head.what if k == 0 else NAMES.get(name, ""), head.input_dims, 1, head.depth)
            if k == 0:
                rows[i] = info
            else:
                rows.insert(i + k, info)
                for p, j in first.items():
                    if j > i:
                        first[p] = j + 1

    def attention(qkv, out):
        path = stack[-1] if stack else ""
        if any(r.module_path == path and r.module == "attention" for r in rows):
            return
        for name, t in zip(("q", "k", "v"), qkv, strict=True):
            rows.append(TensorInfo(path, "attention", name, name_dims(t.shape, dims), list(t.shape), _dt(t),
                                   f"the {name} vectors of every head", depth=len(stack)))
        rows.append(TensorInfo(path, "attention", "softmax(q kᵀ/√hd + mask) v", name_dims(out.shape, dims),
                               list(out.shape), _dt(out), "each head's weighted mix of earlier values",
                               depth=len(stack)))

    handles = [m.register_forward_pre_hook(pre) for m in paths] + [m.register_forward_hook(post) for m in paths]
    try:
        with eval_mode(model), _RecordAttention(attention):
            logits, state = model(x, None)
    finally:
        for h in handles:
            h.remove()
    for r in rows:
        r.calls = calls.get(r.module_path, 1)
    loss = lm_loss(logits, y)
    rows += [
        TensorInfo("", "model", "logits", name_dims(logits.shape, dims), list(logits.shape), _dt(logits),
                   "a score for every possible next character, at every position"),
        TensorInfo("", "batch", "targets", name_dims(y.shape, dims), list(y.shape), _dt(y),
                   "the characters that really came next: x shifted left by one"),
        TensorInfo("", "loss", "cross-entropy", name_dims(loss.shape, dims), list(loss.shape), _dt(loss),
                   "mean −ln p(target) over all B·T positions, nats per character"),
    ]
    for name, t in _named_state(state):
        what = ("carried into the next batch, detached (truncated BPTT)" if model.recurrent
                else "the last characters seen: the context the next call starts from")
        rows.append(TensorInfo("", "state", name, name_dims(t.shape, dims), list(t.shape), _dt(t), what))
    return BatchShapes(type(model).__name__, dims, rows, text)


def _dt(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return []


def _named_outputs(model: CharModel, module: nn.Module, out) -> list[tuple[str, torch.Tensor]]:
    tensors = _flatten(out)
    names = model.output_names(module)  # the model names what its modules return, where it matters
    if names is None:
        names = ["output"] if len(tensors) == 1 else [f"output[{i}]" for i in range(len(tensors))]
    return list(zip(names, tensors, strict=False))


def _named_state(state) -> list[tuple[str, torch.Tensor]]:
    tensors = _flatten(state)
    if len(tensors) == 2:
        return [("state h", tensors[0]), ("state c", tensors[1])]
    return [("state", t) for t in tensors]


def check_shapes(result: BatchShapes) -> None:
    """Raise InspectError unless every row's dims, read with result.dims, give its sizes."""
    for r in result.tensors:
        names = r.dims.strip("()").split(", ") if r.dims != "()" else []
        got = [int(n) if n.isdigit() else result.dims[n.split("=")[0]] for n in names]
        if got != r.sizes:
            raise InspectError(f"{r.module_path or r.module} {r.name}: {r.dims} does not read as {r.sizes}")
