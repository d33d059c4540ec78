"""Which parts of a generated sample were copied verbatim from the training text.

A character of the sample counts as copied when it lies inside some run of at least `min_len`
consecutive sample characters that also occurs, character for character, somewhere in the training
text. `spans` returns the copied characters as maximal spans, merged so that no two overlap or touch,
and `copied_share` the fraction of the sample they cover. A model that generalises writes new text
with short copied runs; an over-fitted model or a high-order n-gram recalls long ones. A merged span
may join pieces copied from different places in the text: that is still recall, not generation.

Every copied run of length L >= min_len is covered by its L - min_len + 1 windows of exactly
`min_len` characters, each of which occurs in the text too, and those windows cover nothing else. So
the copied characters are exactly the union of the sample's `min_len`-windows that occur in the text:
one membership test per sample position answers the question, with no need to find where in the text
a run came from or to extend it there character by character.

The index (`CopyIndex`) is built once per training text and then answers many samples (a run's film
strip samples many times):

    text, n chars ─► fingerprint of every min_len-window ─► sorted distinct int64 fingerprints (the index)
    sample, m chars ─► fingerprint of every min_len-window ─► binary search ─► hits ─► merged spans

How much copying is recall depends on the text: on templated text (recipes, code, logs) any new text of the
same kind repeats long runs of the training text, so a high share alone does not mean memorising. The
baseline (`baseline_share`) is the same share for held-out text of the same kind — text the model never
trained on, e.g. the end of the corpus that validation uses — against the same index; `recall_verdict`
calls a sample recall only when it copies clearly more than that (RECALL_MARGIN more of its characters).

Units: positions are characters (Python `str` indices, i.e. Unicode code points); spans are half-open
`(start, end)` in sample coordinates; shares are in 0..1.

Cost, with k = min_len (a fingerprint takes k vectorised passes):
    build   O(n k) time. The index holds one int64 per distinct window (per chunk of 2**20 windows), so
            at most 8 bytes per training character; building adds ~40-80 MB of temporaries whatever n.
    query   O(m k + m log n) time, O(m) memory. The index does not keep the text.
Measured (`benchmarks/bench_copying.py`, one torch thread as the app uses on 2 cores, a busy machine):
tinyshakespeare (1.1 M chars): 7.6 MiB = 7.2 bytes/char, built in 0.2-0.3 s, peak memory growth 48 MiB;
a 2,000-char sample in ~1.3 ms. 10 M random letters: 76 MiB = 8.0 bytes/char, built in 1.3-2.6 s, peak
growth 112-152 MiB; a 2,000-char sample in ~8 ms (one binary search per chunk of the index). A query's
tensors are too small for torch to split across threads; a build's are not, and like any torch code it
slows several-fold when torch has more threads than free cores (the app gives each training one).

Fingerprints are two polynomial hashes modulo the prime 2**31 - 1 with fixed bases, packed into one
int64. For bases drawn at random, two different windows share both hashes with probability at most
((k - 1) / 2**31)**2 ≈ 3e-17 for k = 12, so a window is wrongly called copied with probability below
n * 3e-17 (3e-10 for a 10 MB text); the tests compare against a brute-force search. That is what lets
the index drop the text and the window positions. The alternatives, measured on tinyshakespeare: a
Python set of the window strings takes 84 bytes/char, a set of their `hash()` values 62; a suffix array
(pydivsufsort) 5 bytes/char with the text it needs, but a compiled dependency, byte offsets to map
back to characters, and ~14 ms per 2,000-char query through Python binary searches.
"""

from __future__ import annotations

import torch

_PRIME = 2**31 - 1  # a Mersenne prime: x mod _PRIME needs only a shift, a mask and an add
_BASES = (337_606_830, 919_530_127)  # < 2**30, drawn once at random; fixed so that indexes are reproducible
_CHUNK = 1 << 20  # windows fingerprinted at a time while building, to bound the build's peak memory


def _code_points(text: str) -> torch.Tensor:
    """(n,) int32 tensor of the Unicode code points of `text` (4 bytes per character)."""
    if not text:
        return torch.empty(0, dtype=torch.int32)
    return torch.frombuffer(bytearray(text.encode("utf-32-le", errors="surrogatepass")), dtype=torch.int32)


def _fingerprints(codes: torch.Tensor, k: int) -> torch.Tensor:
    """(n - k + 1,) int64 fingerprints of the windows codes[i : i + k] of the (n,) code points."""
    n_windows = codes.numel() - k + 1
    if n_windows <= 0:
        return torch.empty(0, dtype=torch.int64)
    codes = codes.long()
    high = torch.empty(n_windows, dtype=torch.int64)  # reused: large temporaries cost more than the arithmetic
    hashes = []
    for base in _BASES:
        h = torch.zeros(n_windows, dtype=torch.int64)
        for j in range(k):  # Horner's rule on all windows at once: h = h * base + code (mod _PRIME)
            h.mul_(base).add_(codes[j : j + n_windows])
            # Reduce without division: 2**31 = 1 (mod 2**31 - 1), so x = 2**31 a + b = a + b. It keeps
            # h <= 2**32 + 2, so h * base (base < 2**30) stays below 2**63: int64 never overflows.
            torch.bitwise_right_shift(h, 31, out=high)
            h.bitwise_and_(_PRIME).add_(high)
        torch.bitwise_right_shift(h, 31, out=high)
        h.bitwise_and_(_PRIME).add_(high)  # now h <= _PRIME + 2
        h[h >= _PRIME] -= _PRIME  # the remainder itself, 0 <= h < _PRIME
        hashes.append(h)
    return hashes[0].mul_(_PRIME).add_(hashes[1])  # < 2**62: one int64 holds both hashes


class CopyIndex:
    """Index of a training text's `min_len`-character windows, to find copied spans in many samples.

    Read-only once built, so one index can serve several runs or threads on the same text. Attributes:
    `min_len`, and `n_chars`, the length of the training text (which the index does not keep).

    >>> index = CopyIndex("the quick brown fox jumps over the lazy dog", min_len=10)
    >>> index.spans("a brown fox jumps high")
    [(1, 18)]
    """

    def __init__(self, train_text: str, min_len: int = 12) -> None:
        if isinstance(min_len, bool) or not isinstance(min_len, int) or min_len < 1:
            raise ValueError(f"min_len must be a whole number of characters >= 1, got {min_len!r}")
        self.min_len = min_len
        self.n_chars = len(train_text)
        # One sorted tensor of distinct fingerprints per chunk of _CHUNK windows: merging them into one
        # would save the few windows two chunks share but double the build's peak memory.
        self._parts: list[torch.Tensor] = []
        for start in range(0, max(len(train_text) - min_len + 1, 0), _CHUNK):
            chunk = train_text[start : start + _CHUNK + min_len - 1]  # windows start .. start + _CHUNK - 1
            self._parts.append(torch.unique(_fingerprints(_code_points(chunk), min_len)))  # sorted

    @property
    def nbytes(self) -> int:
        """Memory the index holds, in bytes: 8 per distinct window (counted per chunk of 2**20 windows)."""
        return sum(part.numel() * part.element_size() for part in self._parts)

    def _hits(self, sample: str) -> list[bool]:
        """For each window start i of the sample, whether sample[i : i + min_len] occurs in the text."""
        queries = _fingerprints(_code_points(sample), self.min_len)  # (m - min_len + 1,)
        hits = torch.zeros(queries.numel(), dtype=torch.bool)
        for part in self._parts:
            where = torch.searchsorted(part, queries).clamp_(max=part.numel() - 1)
            hits |= part[where] == queries
        return hits.tolist()

    def spans(self, sample: str) -> list[tuple[int, int]]:
        """Maximal copied spans of `sample`, as sorted half-open (start, end) character positions.

        Each span is at least `min_len` long; spans are merged, so no two overlap or touch."""
        merged: list[list[int]] = []
        for start, hit in enumerate(self._hits(sample)):
            if not hit:
                continue
            if merged and start <= merged[-1][1]:  # overlaps or touches the span so far: extend it
                merged[-1][1] = start + self.min_len
            else:
                merged.append([start, start + self.min_len])
        return [(start, end) for start, end in merged]

    def copied_share(self, sample: str) -> float:
        """Share of the sample's characters inside copied spans, 0..1 (0.0 for an empty sample)."""
        if not sample:
            return 0.0
        return sum(end - start for start, end in self.spans(sample)) / len(sample)


def copied_spans(train_text: str, sample: str, min_len: int = 12) -> list[tuple[int, int]]:
    """`CopyIndex(train_text, min_len).spans(sample)` for a single sample; build a `CopyIndex` for more."""
    return CopyIndex(train_text, min_len).spans(sample)


RECALL_MARGIN = 0.25  # a sample copies this much more of itself than held-out text does: recall, not writing
BASELINE_PIECES = 16  # pieces of held-out text the baseline averages over


def baseline_share(index: CopyIndex, held_out: str, length: int, pieces: int = BASELINE_PIECES) -> float | None:
    """The copied share new text of this kind scores against the index: the mean `copied_share` of up to
    `pieces` pieces of `length` characters spread evenly over `held_out` (text of the same source the model
    never trained on). None when `held_out` is too short to judge (fewer than 2 * min_len characters).
    Costs `pieces` queries of `length` characters (about 1 ms each for 200 characters)."""
    if length < 1:
        raise ValueError(f"length must be >= 1 character, got {length!r}")
    length = min(length, len(held_out))
    if length < 2 * index.min_len:
        return None
    starts = sorted({round(i * (len(held_out) - length) / max(pieces - 1, 1)) for i in range(pieces)})
    return sum(index.copied_share(held_out[s:s + length]) for s in starts) / len(starts)


def recall_verdict(share: float | None, baseline: float | None, margin: float = RECALL_MARGIN) -> str | None:
    """How a sample's copied share reads beside the baseline: "recall" (it copies at least `margin` more than
    new text of this kind does), "like new text", or None when either is unknown."""
    if share is None or baseline is None:
        return None
    return "recall" if share >= baseline + margin else "like new text"
