"""What the model looked at: how much one prediction depends on each earlier character.

    text, position t ─► ∂ log p(c | text[:t+1]) / ∂ v_s  for every earlier input vector v_s, s ≤ t
                     ─► ‖·‖₂ per position s (T',), and the same divided by its maximum

A gradient saliency map (Simonyan, Vedaldi & Zisserman 2013, "Deep Inside Convolutional Networks:
Visualising Image Classification Models and Saliency Maps") over the input characters instead of
pixels; Karpathy, Johnson & Fei-Fei 2015 ("Visualizing and Understanding Recurrent Networks") and
Distill's "Visualizing memorization in RNNs" (Madsen 2019) use it to show how far back an RNN and an
LSTM look. v_s is the vector the model reads for character s: its embedding row, or its one-hot
vector. The model is not changed: a forward hook on the input layer swaps its output for a copy
that autograd tracks (a leaf), and one backward pass (`torch.autograd.grad`, which leaves the
weights' .grad untouched) gives the gradient at every position.

What a model reads at position t is the context it writes with; the model says which module holds
its input vectors (`CharModel.input_layer`):
    kind "embedding" / "onehot"   one vector per character read: text[:t+1] from a fresh state (a model
                                  carrying its state: back-propagated through every step), or its window
                                  of the last W characters (`window_len`; earlier ones get exactly 0)
    kind "window"                 the last `context` characters side by side at every position (earlier
                                  ones get exactly 0)
    no input layer                no gradient (a table of counts): InspectError
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..corpus import Vocab
from ..models.base import CharModel
from .common import MAX_CHARS, InspectError, encode_bounded, eval_mode, window_len


@dataclass
class Saliency:
    text: str  # the text analysed (cut to max_chars)
    position: int  # t: the prediction made after reading text[t]
    target: str  # the character whose log-probability was differentiated
    target_prob: float  # the model's probability for it
    raw: list[float]  # (t+1,) ‖∂ log p / ∂ v_s‖₂ for s = 0 … t, in nats per unit of input vector
    weight: list[float]  # (t+1,) raw / max(raw): 1 at the most influential character (all 0 if none)


def saliency(model: CharModel, vocab: Vocab, text: str, position: int, *, target: str = "predicted",
             max_chars: int = MAX_CHARS) -> Saliency:
    """How much the prediction after text[position] depends on each character up to it.

    target: "predicted" (the model's likeliest next character), "true" (text[position+1], which
    must exist), or one character of the vocabulary.
    The text is cut to its first max_chars characters; the backward pass runs through at most
    position+1 ≤ max_chars steps.
    """
    spec = model.input_layer()
    if spec is None:
        said = (f": it looks its counts up, and its prediction depends on exactly the last {model.context} "
                "characters" if model.fitted_by_counting else ": it reads no character vectors")
        raise InspectError(f"{model.noun} has no gradient{said}")
    ids, text, _ = encode_bounded(vocab, text, max_chars)
    if not 0 <= position < len(ids):
        raise InspectError(f"position must be between 0 and {len(ids) - 1}, not {position}")
    ids = ids.to(model.device)
    W = window_len(model)
    first = 0 if W is None else max(0, position + 1 - W)  # the text index of x's first character
    x = ids[None, first:position + 1]  # (1, T'): what the model reads to predict after text[position]
    with eval_mode(model), torch.enable_grad():
        taken: list[torch.Tensor] = []

        def swap(_m, _inp, out):  # replace the input vectors by a leaf we can ask the gradient of
            leaf = out.detach().requires_grad_(True)
            taken.append(leaf)
            return leaf

        handle = spec.module.register_forward_hook(swap)
        try:
            logits, _ = model(x, None)
        finally:
            handle.remove()
        logp = torch.log_softmax(logits[0, -1].float(), dim=-1)  # (V,)
        c = _target_id(vocab, text, position, target, logp)
        # autograd.grad, not backward(): only the input's gradient, nothing left in the weights' .grad
        (grad,) = torch.autograd.grad(logp[c], taken[0])
    logp = logp.detach()
    grad = grad[0]  # (T', D), or for kind "window" (T', C, D)
    norms = torch.zeros(position + 1, dtype=torch.float64)
    if spec.kind == "window":  # the last position's window: slot j is character position - C + 1 + j
        per = grad[-1].double().norm(dim=-1)  # (C,)
        start = position - len(per) + 1  # may be < 0: pads before the text
        for j, v in enumerate(per.tolist()):
            if start + j >= 0:
                norms[start + j] = v
    else:
        norms[first:] = grad.double().norm(dim=-1).cpu()
    top = float(norms.max())
    weight = (norms / top if top > 0 else norms).tolist()
    return Saliency(text, position, vocab.chars[c], float(logp[c].exp()), norms.tolist(), weight)


def _target_id(vocab: Vocab, text: str, position: int, target: str, logp: torch.Tensor) -> int:
    if target == "predicted":
        return int(logp.argmax())
    if target == "true":
        if position + 1 >= len(text):
            raise InspectError("the last character has no true next character in the text; "
                               "use target='predicted'")
        return vocab.stoi[text[position + 1]]
    if target in vocab.stoi:
        return vocab.stoi[target]
    raise InspectError(f"target must be 'predicted', 'true' or a character of the vocabulary, not {target!r}")
