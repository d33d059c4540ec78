"""The prediction strip: how surprised the model was by each character of a text, and what it guessed.

    text ─► for every t ≥ 1: text[t], −log p(text[t] | text[:t]) in nats, the top-5 guesses
         ─► the excerpt's mean loss (nats and bits per character)

The view under each character in Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural
Networks" (the model's top guesses, coloured by confidence). `worked_loss` writes one position's loss
out by hand — softmax, then −log of the right character's probability — next to what
`F.cross_entropy` (log-softmax + negative log-likelihood) computes, to show they are the same number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..corpus import Vocab
from ..models.base import CharModel
from .common import MAX_CHARS, InspectError, encode_bounded, position_logits


@dataclass
class CharPrediction:
    """One character of the text and what the model expected there."""

    position: int  # index of this character in the analysed text (≥ 1)
    char: str
    loss: float  # −ln p(char | text before it), nats; ∞ if the model gave it probability 0
    prob: float  # p(char | text before it)
    top: list[tuple[str, float]]  # the model's top guesses (character, probability), likeliest first
    surprise: float = 0.0  # loss / ln V capped at 1: 1 = no better than a uniform guess; 0 where V = 1


@dataclass
class Predictions:
    text: str  # the text analysed (cut to max_chars)
    truncated: bool  # True when the input was longer than max_chars
    chars: list[CharPrediction] = field(default_factory=list)  # positions 1 … T-1
    mean_loss: float = 0.0  # nats per character over `chars`: what the trainer reports
    mean_bits: float = 0.0  # the same in bits per character (nats / ln 2)
    uniform_loss: float = 0.0  # ln V, a uniform guess's loss (0 for a one-character vocabulary: no guess to make)


@torch.no_grad()
def predictions(model: CharModel, vocab: Vocab, text: str, *, top_k: int = 5,
                max_chars: int = MAX_CHARS) -> Predictions:
    """Per-character surprise and top guesses over `text` (at least 2 characters).

    Position 0 has no prediction (the model starts reading there). Each later position t is
    predicted from text[:t] only, from a fresh state, carrying the state (recurrent models) or the
    window (a model with a bounded context) as when the model writes.
    """
    ids, text, truncated = encode_bounded(vocab, text, max_chars, min_len=2)
    logits = position_logits(model, ids)[:-1]  # (T-1, V): row t-1 predicts ids[t]
    logp = torch.log_softmax(logits, dim=-1)  # (T-1, V)
    targets = ids[1:].to(logp.device)  # (T-1,)
    nll = -logp.gather(1, targets[:, None])[:, 0]  # (T-1,) nats
    k = min(top_k, len(vocab))
    top_p, top_i = logp.exp().topk(k, dim=-1)  # (T-1, k)
    chars = vocab.chars
    uniform = math.log(len(vocab))
    rows = [CharPrediction(t + 1, text[t + 1], float(loss), math.exp(-float(loss)),
                           [(chars[i], float(p)) for i, p in zip(ti, tp, strict=True)], _surprise(loss, uniform))
            for t, (loss, ti, tp) in enumerate(zip(nll.tolist(), top_i.tolist(), top_p.tolist(), strict=True))]
    mean = float(nll.mean())
    return Predictions(text, truncated, rows, mean, mean / math.log(2), uniform)


def _surprise(loss: float, uniform: float) -> float:
    """−ln p as a share of a uniform guess's ln V, at most 1 (∞ too). With one character there is nothing
    to guess (ln V = 0, and the loss is 0): no surprise."""
    if uniform <= 0:
        return 0.0
    return min(loss / uniform, 1.0) if math.isfinite(loss) else 1.0


@dataclass
class WorkedLoss:
    """One position's loss worked out step by step.

        p = softmax(logits)[true] = exp(logit_true) / Σ_c exp(logit_c)
        loss = −ln p = logsumexp(logits) − logit_true

    and `cross_entropy`, PyTorch's F.cross_entropy on the same row and target, equals `loss`.
    """

    position: int  # the character being predicted is text[position]
    context: str  # the text the model had read: text[:position]
    char: str  # the true next character
    chars: list[str]  # the vocabulary, in id order (V,)
    logits: list[float]  # the model's scores for each character (V,)
    probs: list[float]  # softmax of the logits (V,), sums to 1
    logit_true: float
    logsumexp: float  # ln Σ_c exp(logit_c)
    prob_true: float  # softmax probability of the true character
    loss: float  # −ln prob_true, nats
    cross_entropy: float  # F.cross_entropy(logits, true id): the trainer's loss at this position
    bits: float  # loss / ln 2


@torch.no_grad()
def worked_loss(model: CharModel, vocab: Vocab, text: str, position: int, *,
                max_chars: int = MAX_CHARS) -> WorkedLoss:
    """The loss at `position` (1 ≤ position < len(text)) computed by hand and by F.cross_entropy."""
    ids, text, _ = encode_bounded(vocab, text, max_chars, min_len=2)
    if not 1 <= position < len(ids):
        raise InspectError(f"position must be between 1 and {len(ids) - 1} (a character with text before "
                           f"it), not {position}")
    row = position_logits(model, ids[:position])[-1].double()  # (V,): the guess after text[:position]
    true = int(ids[position])
    lse = float(torch.logsumexp(row, dim=0))
    probs = torch.softmax(row, dim=0)
    prob_true = float(probs[true])
    loss = -math.log(prob_true) if prob_true > 0 else math.inf
    ce = float(F.cross_entropy(row.float()[None], torch.tensor([true], device=row.device)))
    return WorkedLoss(position, text[:position], text[position], list(vocab.chars), row.tolist(),
                      probs.tolist(), float(row[true]), lse, prob_true, loss, ce, loss / math.log(2))
