"""Maps of what a model learned: character embeddings in 2-D, the n-gram's bigram table, attention.

    embedding_map(model, vocab)           (V, D) vectors ─PCA─► (V, 2) points labelled by character
    bigram_table(ngram, vocab)            its counts ─► (V, V): how often each character followed each
    attention_maps(transformer, vocab, t) (n_layer, n_head, T, T) attention weights over a text

Embedding maps as in the makemore lectures (part 2: the 2-D embedding of characters, Bengio et al.
2003); the bigram table as in makemore part 1; attention per head as in the Transformer Explainer
(Cho et al. 2024) and Vig 2019 ("A Multiscale Visualization of Attention in the Transformer Model").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..corpus import Vocab
from ..models.base import CharModel
from .common import InspectError, encode_bounded, eval_mode, readable, window_len


@dataclass
class EmbeddingMap:
    chars: list[str]  # (V,) in id order
    labels: list[str]  # (V,) the characters with space, newline, tab made visible
    x: list[float]  # (V,) first principal component
    y: list[float]  # (V,) second principal component
    explained: list[float]  # (2,) share of the vectors' variance each axis shows (0-1)
    source: str  # which weights the vectors are, e.g. "input.embedding.weight (V, E)"


def character_vectors(model: CharModel) -> tuple[torch.Tensor, str]:
    """(V, D) one learned vector per character, and where it comes from.

    An embedding table's rows; for one-hot inputs the columns of the first weight matrix, since
    W_ih · onehot(c) is column c of W_ih: that column is the character's embedding.
    """
    V = model.vocab_size
    inp = getattr(model, "input", None)
    if isinstance(inp, nn.Module) and not inp.onehot:
        return inp.embedding.weight, "input.embedding.weight (V, E)"
    if isinstance(inp, nn.Module):  # one-hot recurrent models
        rnn = getattr(model, "rnn", None)
        if isinstance(rnn, nn.RNNBase):
            return rnn.weight_ih_l0.T, "rnn.weight_ih_l0 columns (one-hot input)"
        cell = model.cells[0]
        w = cell.weight_ih if hasattr(cell, "weight_ih") else cell.weight[:, :V]  # concat: W = [W_ih W_hh]
        return w.T, "cells.0 input weight columns (one-hot input)"
    if isinstance(getattr(model, "tok_emb", None), nn.Embedding):
        return model.tok_emb.weight, "tok_emb.weight (V, E)"
    if isinstance(getattr(model, "embedding", None), nn.Embedding):
        return model.embedding.weight[:V], "embedding.weight (V, E), without the pad row"
    if model.fitted_by_counting:
        raise InspectError("an n-gram has no embedding: it is a table of counts (see its bigram table)")
    raise InspectError(f"no character embedding found in {type(model).__name__}")


@torch.no_grad()
def embedding_map(model: CharModel, vocab: Vocab) -> EmbeddingMap:
    """The characters' vectors projected on their two principal components (PCA by SVD).

    Characters the model treats alike end up close: vowels together, digits together, upper case
    apart from lower case. Each axis's sign is fixed so its largest coordinate is positive.
    """
    X, source = character_vectors(model)
    X = X.detach().double().cpu()
    X = X - X.mean(0)  # PCA: centre, then the top right-singular vectors are the principal axes
    U, S, _ = torch.linalg.svd(X, full_matrices=False)
    coords = torch.zeros(len(X), 2, dtype=torch.float64)
    k = min(2, len(S))
    coords[:, :k] = U[:, :k] * S[:k]  # (V, 2)
    for j in range(k):
        if coords[coords[:, j].abs().argmax(), j] < 0:
            coords[:, j] = -coords[:, j]
    total = float((S ** 2).sum())
    explained = [float(S[j] ** 2) / total if total > 0 and j < k else 0.0 for j in range(2)]
    chars = list(vocab.chars)
    return EmbeddingMap(chars, [readable(c) for c in chars], coords[:, 0].tolist(), coords[:, 1].tolist(),
                        explained, source)


@dataclass
class BigramTable:
    chars: list[str]  # (K,) the characters drawn, in id order: all V, or the K that start the most pairs
    labels: list[str]  # (K,) visible labels
    counts: list[list[int]]  # (K, K): counts[a][b] = times character b followed character a
    total: int  # sum of all counts, over the whole vocabulary
    shown: int = 0  # sum of the counts drawn (= total when every character is drawn)
    vocab_size: int = 0  # V: the characters the model knows


@torch.no_grad()
def bigram_table(model: CharModel, vocab: Vocab, *, max_chars: int | None = None) -> BigramTable:
    """How often each character followed each other one, read from an n-gram's counts.

    For order 2 these are the model's counts; for a longer order, its one-character-context counts
    (the order-2 marginal: all contexts that end in the same character, added up). With `max_chars`, only
    the `max_chars` characters that begin the most pairs are drawn (a table of V × V counts is 64 million
    numbers for 8,002 characters): never more than max_chars² numbers are made, whatever V.
    """
    if not model.fitted_by_counting:
        raise InspectError("only the n-gram has a count table; the neural models learn weights instead "
                           "(see their embedding map)")
    V, n1 = model.vocab_size, model.context
    if n1 < 1:
        raise InspectError("a 1-gram counts single characters, not pairs: there is no bigram table")
    ctx, nxt = model.keys // V, model.keys % V
    last = ctx % (V + 1)  # the context's newest character (V: pad, i.e. no character)
    keep = last != model.pad
    if model.config.interpolate:  # shorter contexts are stored too: take the one-character ones
        pads = model.pad * int(model.place[:-1].sum())  # the id of n-2 pads before the last character
        keep &= (ctx - last) == pads
    a, b, n = last[keep].cpu(), nxt[keep].cpu(), model.counts[keep].cpu()
    starts = torch.zeros(V, dtype=torch.long).index_add_(0, a, n)  # (V,) pairs each character begins
    K = V if max_chars is None else min(V, max_chars)
    ids = torch.arange(V) if K == V else torch.topk(starts, K).indices.sort().values  # (K,) in id order
    row = torch.full((V,), -1, dtype=torch.long)
    row[ids] = torch.arange(K)
    inside = (row[a] >= 0) & (row[b] >= 0)
    table = torch.zeros(K, K, dtype=torch.long)
    table.index_put_((row[a[inside]], row[b[inside]]), n[inside], accumulate=True)
    chars = [vocab.chars[i] for i in ids.tolist()]
    return BigramTable(chars, [readable(c) for c in chars], table.tolist(), int(starts.sum()), int(table.sum()), V)


@dataclass
class AttentionMaps:
    text: str  # the text analysed: at most the model's window
    truncated: bool
    labels: list[str]  # (T,) visible labels of the characters
    weights: list[list[list[list[float]]]]  # (n_layer, n_head, T, T): weights[l][h][t][s], s ≤ t; rows sum to 1


def _attention_modules(model: CharModel) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "qkv", None), nn.Linear) and hasattr(m, "n_head")]


def attention_weights(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √hd + causal mask) from the module's own qkv weights.

    x (B, T, C): what the attention module receives. Returns (B, n_head, T, T). Training uses a fused
    kernel that never forms this matrix; this recomputes it, leaving the training path untouched.
    """
    B, T, C = x.shape
    q, k, _ = attn.qkv(x).split(C, dim=2)  # (B, T, C) each
    hd = C // attn.n_head
    q, k = (t.view(B, T, attn.n_head, hd).transpose(1, 2) for t in (q, k))  # (B, nh, T, hd)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, nh, T, T)
    mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # True above the diagonal: the future
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)


@torch.no_grad()
def attention_maps(model: CharModel, vocab: Vocab, text: str, *, max_chars: int | None = None) -> AttentionMaps:
    """Every head's attention weights over `text`, cut to the model's window (or max_chars if smaller).

    Row t of a head's matrix says how much position t took from each position s ≤ t.
    """
    modules = _attention_modules(model)
    if not modules:
        raise InspectError("only the transformer has attention: the other models read the past through a "
                           "carried state or a fixed window")
    W = window_len(model) or len(text)
    ids, text, truncated = encode_bounded(vocab, text, min(W, max_chars or W))
    inputs: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, args, _out, i=i: inputs.__setitem__(i, args[0]))
               for i, m in enumerate(modules)]
    try:
        with eval_mode(model):
            model(ids[None].to(model.device), None)
    finally:
        for h in handles:
            h.remove()
    weights = [attention_weights(m, inputs[i])[0].float().cpu().tolist() for i, m in enumerate(modules)]
    return AttentionMaps(text, truncated, [readable(c) for c in text], weights)
