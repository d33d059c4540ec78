"""The counted character n-gram: the model you can fit with a tally sheet, and the baseline to beat.

    P(next = c | previous n-1 characters w) = (count(w, c) + k) / (count(w) + k V)

No gradient descent: "training" counts how often each character followed each (n-1)-character
context. The counts are the whole model, so they are buffers in the state_dict and travel with the
checkpoint like weights do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..options import SettingError
from .base import CharModel, ModelConfig, State
from .describe import CountingCost

ROW_CACHE_BYTES = 32 * 2**20  # rows of counts kept for sampling, at most: ~64,000 contexts at V = 65


@dataclass
class NGramConfig(ModelConfig):
    order: int = 3  # n: predict from the previous n-1 characters (1: unigram, 2: bigram, ...)
    smoothing: float = 0.1  # k of add-k smoothing: k pseudo-counts per character (0: maximum likelihood)
    interpolate: bool = True  # share the pseudo-counts like the shorter context predicts, not evenly


def max_order(vocab_size: int) -> int:
    """The highest order whose context keys, (V+1)^(n-1) * V of them, fit in a 64-bit integer."""
    n = 1
    while (vocab_size + 1) ** n * vocab_size < 2 ** 63:
        n += 1
    return n


class NGram(CharModel):
    """Counted n-gram with add-k smoothing (Jurafsky & Martin, "Speech and Language Processing",
    ch. 3; Shannon 1948 drew the first machine-made text from letter n-grams).

    Plain add-k (interpolate=False) shares the k·V pseudo-counts evenly among the V characters.
    For a context seen only once or twice they outweigh the real counts, and a context never seen
    gives a uniform guess: a 5-gram then writes noise, since one random character makes every later
    context unseen too. With interpolate=True the pseudo-counts are shared out the way the context
    one character shorter predicts ("the" → "he" → "e" → no context), recursively:

        P_j(c | w) = (count(w, c) + k V · P_{j-1}(c | w without its oldest character)) / (count(w) + k V)
        P_0(c) = 1 / V

    (a hierarchical Dirichlet prior, MacKay & Peto 1995; with k = 0 it backs off to the longest
    context that was seen, as in Katz 1987). The pad id V stands for "forgotten" as well as "before
    the start of the text", so the shorter contexts are contexts with pads in front, counted in the
    same table.

    The counts are stored sparsely, since a dense table would need V^n cells (65^5 ≈ 1.2 billion
    for a 5-gram on Shakespeare) while a text only ever shows a tiny fraction of them:
        keys   (N,) int64, sorted: context id * V + next id
        counts (N,) int64: how often that n-gram was seen
    A context id reads the n-1 ids as the digits of a number in base V+1 (the extra digit: pad).
    A context's entries are therefore neighbours in `keys`, found with a binary search.

    state: (B, n-1) long, the last n-1 ids seen (pad V at the start of a text).
    """

    Config = NGramConfig
    title = "n-gram (counted)"
    noun = "an n-gram"
    description = (
        "A counted character n-gram: the probability of the next character is how often it followed "
        "the previous n-1 characters in the training text, plus a small constant k for every "
        "character (add-k smoothing) so that an unseen combination is unlikely rather than impossible. "
        "Fitted by counting, with no gradient descent. Rare and unseen contexts lean on the prediction "
        "of their shorter endings (MacKay & Peto 1995). The classic baseline (Shannon 1948; Jurafsky & "
        "Martin, ch. 3): good at spelling short words, blind to anything further back than n-1 "
        "characters.")
    fitted_by_counting = True
    memo_steps = True  # a sample meets the same short contexts again and again: each is looked up once

    def __init__(self, vocab_size: int, config: NGramConfig):
        super().__init__(vocab_size, config)
        if config.order > max_order(vocab_size):
            raise SettingError("order", f"order {config.order} is too high for a vocabulary of {vocab_size} "
                               "characters: the n-gram's keys would not fit in 64 bits; use order "
                               f"{max_order(vocab_size)} or lower", config.order)
        self.pad = vocab_size
        # Place values of the context digits, oldest first: (V+1)^(n-2), ..., (V+1), 1.
        powers = [(vocab_size + 1) ** i for i in reversed(range(config.order - 1))]
        self.register_buffer("place", torch.tensor(powers, dtype=torch.long), persistent=False)
        self.register_buffer("keys", torch.zeros(0, dtype=torch.long))
        self.register_buffer("counts", torch.zeros(0, dtype=torch.long))
        self._powers = powers  # the place values as Python ints, for `step`
        self._rows: dict[int, tuple[torch.Tensor, torch.Tensor] | None] = {}  # context id → counts, total
        self._rows_of: tuple = ()  # the keys and counts tensors (and their versions) the rows were read from

    @property
    def context(self) -> int:
        return self.config.order - 1

    @classmethod
    def largest_options(cls, vocab_size: int) -> dict[str, int]:
        return {"order": max_order(vocab_size)}

    # ---- the description: a table of counts has no vectors, hidden layers or weights ----------------

    def input_layer(self) -> None:
        return None

    def probes(self) -> list:
        return []

    def param_layers(self) -> dict[str, str]:
        return {}

    def cost(self, seq_len: int) -> CountingCost:
        # Counting keeps, per context length counted (every one with interpolation, else the longest only),
        # a key and a count (int64 each) and torch.unique's sort buffer for every position; scoring holds
        # float64 tables of counts and probabilities for every score, for every order.
        levels = self.config.order if self.config.interpolate else 1  # contexts counted per position
        return CountingCost(count_bytes=24 * levels, orders=self.config.order, logit_bytes=36)

    def named_sizes(self) -> dict[str, int]:
        return {"V": self.vocab_size, "n-1": self.config.order - 1}

    @torch.no_grad()
    def pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The counted character pairs, sparse: (first (P,), next (P,), count (P,)) long, one row per pair
        seen (repeats possible for a longer order; add them up). For order 2 these are the counts; for a
        longer order, the one-character-context counts (the order-2 marginal: all contexts that end in the
        same character). Needs order ≥ 2. P ≤ the n-grams counted, whatever V."""
        V = self.vocab_size
        ctx, nxt = self.keys // V, self.keys % V
        last = ctx % (V + 1)  # the context's newest character (V: pad, i.e. no character)
        keep = last != self.pad
        if self.config.interpolate:  # shorter contexts are stored too: take the one-character ones
            pads = self.pad * int(self.place[:-1].sum())  # the id of n-2 pads before the last character
            keep &= (ctx - last) == pads
        return last[keep], nxt[keep], self.counts[keep]

    @torch.no_grad()
    def pair_counts(self) -> torch.Tensor:
        """(V, V) long: how often character b followed character a in the text counted (`pairs`, dense:
        V² numbers, 512 MB for 8,000 characters — `inspect.bigram_table` draws the most frequent instead)."""
        first, nxt, n = self.pairs()
        table = torch.zeros(self.vocab_size, self.vocab_size, dtype=torch.long, device=self.keys.device)
        return table.index_put_((first, nxt), n, accumulate=True)

    def num_ngrams(self) -> int:
        """How many different n-grams (and shorter ones, for interpolation) have been counted."""
        return len(self.keys)

    # ---- fitting -------------------------------------------------------------------------------

    def reset_counts(self) -> None:
        self.keys = self.keys.new_zeros(0)
        self.counts = self.counts.new_zeros(0)

    @torch.no_grad()
    def fit_counts(self, ids: torch.Tensor, skip: int = 0) -> None:
        """Add the n-grams of a piece of text to the counts.

        Read `ids` (L,) like a training window: inputs ids[:-1], targets ids[1:]. Count the n-grams
        whose target is at ids[skip + 1:], each with its n-1 preceding ids (pad before ids[0]). The
        first ids are there only as context for later targets, so that a text counted chunk by chunk
        gets every n-gram exactly once (`skip = -1` also counts ids[0] after the pads).
        """
        self.add_counts(*self.counts_of(ids, skip))

    @torch.no_grad()
    def counts_of(self, ids: torch.Tensor, skip: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The n-grams of a piece of text as `fit_counts` reads it, without adding them: (keys (K,) sorted,
        counts (K,)) int64 — what a process counting its share of a text sends the others."""
        ids = ids.to(self.keys.device).long().flatten()
        first, n1 = max(skip + 1, 0), self.context
        if first >= len(ids):
            return self.keys.new_zeros(0), self.counts.new_zeros(0)
        padded = torch.cat([ids.new_full((n1,), self.pad), ids])  # (n-1 + L,)
        ctx = padded.unfold(0, n1, 1)[first:len(ids)]  # (L', n-1): the n-1 ids before each target
        target = ids[first:]  # (L',)
        keys = []
        for forget in range(n1 + 1 if self.config.interpolate else 1):  # the shorter contexts too
            # Forgetting a pad changes nothing: that shorter context was counted one level up.
            keep = ctx[:, forget - 1] != self.pad if forget else torch.ones_like(target, dtype=torch.bool)
            level = self._forget(ctx[keep], forget)  # (L'', n-1)
            keys.append(self._context_id(level) * self.vocab_size + target[keep])
        return torch.unique(torch.cat(keys), return_counts=True)  # sorted

    @torch.no_grad()
    def add_counts(self, keys: torch.Tensor, counts: torch.Tensor) -> None:
        """Add counted n-grams (`counts_of`) to the model's counts."""
        keys, counts = keys.to(self.keys.device), counts.to(self.counts.device)
        # Merge with what was counted before: unique over both, then add the counts of equal keys.
        merged, where = torch.unique(torch.cat([self.keys, keys]), return_inverse=True)
        total = torch.zeros_like(merged).index_add_(0, where, torch.cat([self.counts, counts]))
        self.keys, self.counts = merged, total

    # ---- predicting ----------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        B, T = x.shape
        V, k, n1 = self.vocab_size, self.config.smoothing, self.context
        if state is None:
            state = x.new_full((B, n1), self.pad)
        seq = torch.cat([state, x], dim=1)  # (B, n-1+T)
        ctx = seq.unfold(1, n1, 1)[:, 1:].reshape(B * T, n1)  # the n-1 ids ending at each position
        probs = torch.full((B * T, V), 1.0 / V, dtype=torch.float64, device=x.device)  # P_0: uniform
        shortest_first = range(n1, -1, -1) if self.config.interpolate else [0]
        for forget in shortest_first:  # how many of the oldest characters this level ignores
            counts = self._row_counts(self._context_id(self._forget(ctx, forget)))  # (B*T, V) count(w, c)
            total = counts.sum(-1, keepdim=True)  # (B*T, 1) count(w)
            smoothed = (counts + k * V * probs) / (total + k * V)
            probs = torch.where(total > 0, smoothed, probs)  # never seen: keep the shorter context's
        # Log-probabilities are valid logits: softmax(log p) = p. With k = 0, a character never seen
        # after its context gets log 0 = -inf, and the loss on a text that has it is infinite.
        logits = probs.log().float().view(B, T, V)
        return logits, seq[:, T:]  # (B, T, V), (B, n-1)

    def step(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """x (B,) → logits (B, V), state (B, n-1): `forward` on one character, equal bit for bit.

        Sampling calls this once per character. `forward` searches the sorted keys anew for every context
        length (order 4: four unique/searchsorted passes, ~0.5 ms); at batch 1 each context's row of counts
        is looked up once in a bounded dict (`_counts_row`) and smoothed on the same (1, V) float64 shapes
        with the same operations as in `forward`, so the logits are the same.
        """
        if x.shape[0] != 1:
            return super().step(x, state)
        V, k, n1 = self.vocab_size, self.config.smoothing, self.context
        if state is None:
            state = x.new_full((1, n1), self.pad)
        state = torch.cat([state, x[:, None]], dim=1)[:, 1:]  # (1, n-1): the context of the next character
        ids = state[0].tolist()
        probs = torch.full((1, V), 1.0 / V, dtype=torch.float64, device=x.device)  # P_0: uniform
        for forget in range(n1, -1, -1) if self.config.interpolate else [0]:
            digits = [self.pad] * forget + ids[forget:]
            row = self._counts_row(sum(d * p for d, p in zip(digits, self._powers, strict=True)))
            if row is not None:  # never seen: keep the shorter context's, as `forward`'s where() does
                counts, total = row  # (1, V), (1, 1)
                probs = (counts + k * V * probs) / (total + k * V)
        return probs.log().float(), state  # (1, V), (1, n-1)

    def _counts_row(self, context_id: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A context's counts of every next character (1, V) float64 and their sum (1, 1), None if never seen.

        Read with `_row_counts` the first time and kept, at most ROW_CACHE_BYTES of rows (the oldest go
        first); forgotten whenever the counts change.
        """
        keys, counts, was = self.keys, self.counts, self._rows_of
        versions = (keys._version, counts._version)  # an in-place change bumps these
        if not (was and was[0] is keys and was[1] is counts and was[2] == versions):
            self._rows, self._rows_of = {}, (keys, counts, versions)
        if context_id not in self._rows:
            if len(self._rows) >= max(1, ROW_CACHE_BYTES // (8 * self.vocab_size + 200)):
                del self._rows[next(iter(self._rows))]
            row = self._row_counts(torch.tensor([context_id], device=keys.device))  # (1, V)
            total = row.sum(-1, keepdim=True)  # (1, 1)
            self._rows[context_id] = (row, total) if total.item() > 0 else None
        return self._rows[context_id]

    def _forget(self, ctx: torch.Tensor, k: int) -> torch.Tensor:
        """The contexts (N, n-1) with their oldest k characters replaced by the pad."""
        if k == 0:
            return ctx
        ctx = ctx.clone()
        ctx[:, :k] = self.pad
        return ctx

    def _context_id(self, ctx: torch.Tensor) -> torch.Tensor:
        """(N, n-1) ids → (N,) one integer per context (the ids as digits in base V+1)."""
        return (ctx * self.place).sum(-1)

    def _row_counts(self, context_id: torch.Tensor) -> torch.Tensor:
        """(N,) context ids → (N, V) float64 counts of every next character (0: never seen)."""
        V = self.vocab_size
        rows, inverse = torch.unique(context_id, return_inverse=True)  # each distinct context once
        # A context's n-grams are the keys in [id*V, id*V + V): one contiguous run of sorted keys.
        lo = torch.searchsorted(self.keys, rows * V)  # (R,)
        n = torch.searchsorted(self.keys, rows * V + V) - lo  # (R,) n-grams seen per context
        row = torch.repeat_interleave(torch.arange(len(rows), device=n.device), n)  # (M,) row of each
        entry = lo[row] + torch.arange(len(row), device=n.device) - (n.cumsum(0) - n)[row]  # (M,)
        table = torch.zeros(len(rows), V, dtype=torch.float64, device=n.device)
        table[row, self.keys[entry] % V] = self.counts[entry].double()
        return table[inverse]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The counts' length is the number of n-grams seen, unknown when the model is built:
        # resize the buffers to what the checkpoint holds before the strict copy.
        for name in ("keys", "counts"):
            saved = state_dict.get(prefix + name)
            if isinstance(saved, torch.Tensor):
                setattr(self, name, torch.zeros_like(saved, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
