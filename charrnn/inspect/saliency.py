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

What each family reads, per position t (the same context as when it writes):
    recurrent models   text[:t+1] from a fresh state, back-propagated through every step
    MLP                its last `context` characters (earlier ones get exactly 0)
    transformer        its window of the last W characters (earlier ones get exactly 0)
    n-gram             no gradient: InspectError
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

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
    if model.fitted_by_counting:
        raise InspectError("an n-gram has no gradient: it looks its counts up, and its prediction depends "
                           "on exactly the last n-1 characters")
    ids, text, _ = encode_bounded(vocab, text, max_chars)
    if not 0 <= position < len(ids):
        raise InspectError(f"position must be between 0 and {len(ids) - 1}, not {position}")
    ids = ids.to(model.device)
    with eval_mode(model), torch.enable_grad():
        module, x, state, first = _tap(model, ids, position)
        taken: list[torch.Tensor] = []

        def swap(_m, _inp, out):  # replace the input vectors by a leaf we can ask the gradient of
            leaf = out.detach().requires_grad_(True)
            taken.append(leaf)
            return leaf

        handle = module.register_forward_hook(swap)
        try:
            logits, _ = model(x, state)
        finally:
            handle.remove()
        logp = torch.log_softmax(logits[0, -1].float(), dim=-1)  # (V,)
        c = _target_id(vocab, text, position, target, logp)
        # autograd.grad, not backward(): only the input's gradient, nothing left in the weights' .grad
        (grad,) = torch.autograd.grad(logp[c], taken[0])
    logp = logp.detach()
    grad = grad[0]  # (T', E) or, for the MLP, (1, C, E)
    norms = torch.zeros(position + 1, dtype=torch.float64)
    if grad.dim() == 3:  # MLP: the window of `context` vectors for the last position
        per = grad[-1].double().norm(dim=-1)  # (C,)
        first = position - len(per) + 1  # may be < 0: pads before the text
        for j, v in enumerate(per.tolist()):
            if first + j >= 0:
                norms[first + j] = v
    else:
        norms[first:] = grad.double().norm(dim=-1).cpu()
    top = float(norms.max())
    weight = (norms / top if top > 0 else norms).tolist()
    return Saliency(text, position, vocab.chars[c], float(logp[c].exp()), norms.tolist(), weight)


def _tap(model: CharModel, ids: torch.Tensor, t: int) -> tuple[nn.Module, torch.Tensor, object, int]:
    """(module whose output holds the input vectors, x, state, text index of x's first vector)."""
    if isinstance(getattr(model, "input", None), nn.Module):  # recurrent: embedding or one-hot
        return model.input, ids[None, :t + 1], None, 0
    if isinstance(getattr(model, "tok_emb", None), nn.Embedding):  # transformer: its window
        first = max(0, t + 1 - window_len(model))
        return model.tok_emb, ids[None, first:t + 1], None, first
    if isinstance(getattr(model, "embedding", None), nn.Embedding) and model.context:  # MLP window
        C = model.context
        before = ids[max(0, t - C):t]
        state = torch.cat([before.new_full((C - len(before),), model.pad), before])[None]  # (1, C)
        return model.embedding, ids[None, t:t + 1], state, t
    raise InspectError(f"no input layer found to take the gradient at in {type(model).__name__}")


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
