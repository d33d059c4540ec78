"""Maps of what a model learned: character embeddings in 2-D, a counted model's bigram table, attention.

    embedding_map(model, vocab)       (V, D) vectors ─PCA─► (V, 2) points labelled by character
    bigram_table(model, vocab)        a counted model's counts ─► (V, V): how often each character followed each
    attention_maps(model, vocab, t)   (n_layer, n_head, T, T) attention weights over a text

Each model says where its character vectors are (`input_layer`) and which modules attend
(`attention_layers`); a view that does not apply raises InspectError naming the model.

Embedding maps as in the makemore lectures (part 2: the 2-D embedding of characters, Bengio et al.
2003); the bigram table as in makemore part 1; attention per head as in the Transformer Explainer
(Cho et al. 2024) and Vig 2019 ("A Multiscale Visualization of Attention in the Transformer Model").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..corpus import Vocab
from ..models import MODELS, CharModel, blueprint
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
    """(V, D) one learned vector per character, and where it comes from (`CharModel.input_layer`).

    An embedding table's rows; for one-hot inputs the columns of the first weight matrix, since
    W_ih · onehot(c) is column c of W_ih: that column is the character's embedding.
    """
    spec = model.input_layer()
    if spec is None:
        if model.fitted_by_counting:
            raise InspectError(f"{model.noun} has no embedding: it is a table of counts (see its bigram table)")
        raise InspectError(f"{model.noun} has no embedding: it reads no character vectors")
    return spec.table, spec.source


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
    chars: list[str]  # (V,)
    labels: list[str]  # (V,) visible labels
    counts: list[list[int]]  # (V, V): counts[a][b] = times character b followed character a
    total: int  # sum of all counts


@torch.no_grad()
def bigram_table(model: CharModel, vocab: Vocab) -> BigramTable:
    """How often each character followed each other one, read from a counted model's table
    (`CharModel.pair_counts`): for a longer context, the one-character-context counts (all contexts
    that end in the same character, added up).
    """
    if not model.fitted_by_counting:
        raise InspectError(f"{model.noun} learns weights, not counts: only a model fitted by counting has a count "
                           "table (see its embedding map)")
    if not model.context:
        raise InspectError("a 1-gram counts single characters, not pairs: there is no bigram table")
    table = model.pair_counts().cpu()  # (V, V)
    chars = list(vocab.chars)
    return BigramTable(chars, [readable(c) for c in chars], table.tolist(), int(table.sum()))


@dataclass
class AttentionMaps:
    text: str  # the text analysed: at most the model's window
    truncated: bool
    labels: list[str]  # (T,) visible labels of the characters
    weights: list[list[list[list[float]]]]  # (n_layer, n_head, T, T): weights[l][h][t][s], s ≤ t; rows sum to 1


def attention_weights(attn, x: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √hd + causal mask) of one of a model's `attention_layers`, recomputed from its own
    weights: x (B, T, C), what the module receives → (B, n_head, T, T). Training uses a fused kernel that
    never forms this matrix; this leaves the training path untouched."""
    return attn.attention_weights(x)


def _no_attention(model: CharModel) -> InspectError:
    others = ["the " + cls.noun.partition(" ")[2] for cls in MODELS.values()
              if blueprint(cls, 2).attention_layers()]
    how = "read the past through a carried state or a fixed window"
    if not others:
        return InspectError(f"{model.noun} has no attention: the models here {how}")
    has = "has" if len(others) == 1 else "have"
    return InspectError(f"only {' and '.join(others)} {has} attention: the other models {how}")


@torch.no_grad()
def attention_maps(model: CharModel, vocab: Vocab, text: str, *, max_chars: int | None = None) -> AttentionMaps:
    """Every head's attention weights over `text`, cut to the model's window (or max_chars if smaller).

    Row t of a head's matrix says how much position t took from each position s ≤ t.
    """
    modules = model.attention_layers()
    if not modules:
        raise _no_attention(model)
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
    weights = [m.attention_weights(inputs[i])[0].float().cpu().tolist() for i, m in enumerate(modules)]
    return AttentionMaps(text, truncated, [readable(c) for c in text], weights)
