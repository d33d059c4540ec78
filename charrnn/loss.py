"""The one loss every model is trained with, and the validation loss over held-out text.

    lm_loss(logits (B, T, V), targets (B, T)) ─► mean cross-entropy, nats/char
    evaluate(model, ids (N,), seq_len) ─► the mean loss over the text, state carried across pieces
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .batching import eval_streams
from .estimate import EVAL_PIECE_LOGITS
from .models.base import CharModel


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per character; the one loss every model is trained with.

    logits (B, T, V), targets (B, T). Cross-entropy is -log of the probability the model gave to
    the character that really came next: 0 only if it was certain and right, ln(V) for a uniform
    guess. (It is not 0 when logits "equal" the one-hot target: softmax turns them into
    probabilities first.)
    """
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def evaluate(model: CharModel, data: torch.Tensor, seq_len: int, max_chars: int | None = None,
             n_streams: int = 16, fresh: bool = False) -> float:
    """Mean loss (nats/char) over `data` (its first `max_chars`), carrying state across pieces (fresh=True:
    each seq_len piece from a fresh state, as a model trained with `stateless` windows reads its text)."""
    pieces = list(evaluate_pieces(model, data, seq_len, max_chars, n_streams, fresh))
    return pieces[-1][0]


@torch.no_grad()
def evaluate_pieces(model: CharModel, data: torch.Tensor, seq_len: int, max_chars: int | None = None,
                    n_streams: int = 16, fresh: bool = False) -> Iterator[tuple[float, float]]:
    """`evaluate` one piece at a time: yields (mean loss so far in nats/char, share of the text done) after
    each (n_streams, seq_len) piece, so that a caller can stop a long pass between pieces. data: (N,) ids."""
    was_training = model.training
    model.eval()
    if max_chars is not None and len(data) > max_chars + 1:
        data = data[: max_chars + 1]
    # Fewer streams where the vocabulary is large: a piece's scores (streams × seq_len × V) stay within
    # EVAL_PIECE_LOGITS, so a 20,000-character vocabulary does not take a gigabyte per piece.
    n_streams = max(1, min(n_streams, EVAL_PIECE_LOGITS // max(1, seq_len * model.vocab_size)))
    device = model.device
    total, count, state = 0.0, 0, None
    threads = torch.get_num_threads()
    # One thread: a piece's ops are small, and with two threads on a busy 2-core machine each op waits for
    # a descheduled thread (measured at load 4-5: the final pass of tinyshakespeare 0.9 s on one thread,
    # 15-25 s on two); the training steps keep the threads they were given.
    torch.set_num_threads(1)
    try:
        for x, y in eval_streams(data, n_streams, seq_len):
            logits, state = model(x.to(device), None if fresh else state)
            total += float(lm_loss(logits, y.to(device))) * y.numel()
            count += y.numel()
            yield total / count, count / max(len(data) - 1, 1)
        if count == 0:
            yield 0.0, 1.0
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
