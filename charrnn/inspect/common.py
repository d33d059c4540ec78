"""What every inspection view shares: one exception, bounded text, and "what did the model see at t".

    text ─encode (bounded)─► ids (T,) ─position_logits─► logits (T, V): row t predicts ids[t+1]

Every view analyses at most `max_chars` characters (default `MAX_CHARS`): views run forward and
backward passes on a shared server, so longer text is cut to its first `max_chars` characters and
the result says so (`truncated=True`), never silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..corpus import CorpusError, Vocab
from ..models.base import CharModel

MAX_CHARS = 2_000  # characters one view analyses at most, unless the caller passes another bound


class InspectError(ValueError):
    """A view that does not apply to this model or input; the message is one plain sentence naming
    the model by its `noun` (e.g. "… has no neurons: it is a table of counts")."""


def encode_bounded(vocab: Vocab, text: str, max_chars: int = MAX_CHARS, *, min_len: int = 1
                   ) -> tuple[torch.Tensor, str, bool]:
    """Text → (ids (T,) long, the text analysed, truncated?).

    Longer text is cut to its first `max_chars` characters. Characters the model never saw raise
    InspectError (a model has no prediction for them), as does text shorter than `min_len`.
    """
    if max_chars < 1:
        raise InspectError(f"max_chars must be at least 1, not {max_chars}")
    truncated = len(text) > max_chars
    text = text[:max_chars]
    if len(text) < min_len:
        raise InspectError(f"this view needs a text of at least {min_len} characters, got {len(text)}")
    try:
        ids = vocab.encode(text)
    except CorpusError as e:
        raise InspectError(str(e)) from None
    return ids, text, truncated


@contextlib.contextmanager
def eval_mode(model: CharModel) -> Iterator[CharModel]:
    """Dropout off while inspecting; the model's train/eval mode is put back afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def window_len(model: CharModel) -> int | None:
    """How many characters a model that re-reads a window reads when writing one more (None: the model
    carries its context in its state, so one forward pass over the text gives every position its
    context). The model says (`CharModel.window_len`)."""
    return model.window_len(1)


def sliding_windows(ids: torch.Tensor, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The contexts a W-character window model sees at each position, as in sampling.

    ids (T,) → head (1, min(W, T)): the first W characters, where position t sees ids[:t+1];
               tail (T-W, W): for t ≥ W, the window ids[t-W+1 : t+1], of which only the last row
    matters. Together: every position t sees exactly min(W, t+1) characters ending at t.
    """
    head = ids[:W][None]
    tail = ids.unfold(0, W, 1)[1:] if len(ids) > W else ids.new_zeros(0, W)
    return head, tail


@torch.no_grad()
def position_logits(model: CharModel, ids: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """ids (T,) long → logits (T, V) float32: row t is the model's guess for the character after
    ids[t], having read ids[:t+1] from a fresh state (as when writing after a prompt).

    Models whose state carries their context read the text in one call. A model that re-reads a
    window of at most W characters (`window_len`) gets, at each position, its own window of the last
    W characters (batched `batch` windows at a time), exactly what sampling would show it.
    """
    ids = ids.to(model.device)
    with eval_mode(model):
        W = window_len(model)
        if W is None:
            return model(ids[None], None)[0][0].float()
        head, tail = sliding_windows(ids, W)
        rows = [model(head, None)[0][0]]  # (min(W, T), V)
        for i in range(0, len(tail), batch):
            rows.append(model(tail[i:i + batch], None)[0][:, -1])  # (N, V): each window's last row
        return torch.cat(rows).float()


def readable(c: str) -> str:
    """A character as a short visible label: space, newline and tab as one symbol each."""
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(c, c)


def char_name(c: str) -> str:
    """A character as words, for hover text: "space", "newline", "tab", or the character itself."""
    return {" ": "space", "\n": "newline", "\t": "tab"}.get(c, c)
