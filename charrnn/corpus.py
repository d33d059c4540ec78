"""Text in, ids out: read and clean a corpus, build its vocabulary, split it.

    upload/file ─read + clean─► text ─Vocab─► ids ─split─► train / val

Everything here validates once, at the edge, and raises `CorpusError` with a message a learner can
act on; nothing deeper in the package has to re-check the text.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from unidecode import unidecode

MAX_CORPUS_BYTES = 50_000_000  # a bound for shared servers; the app sets a smaller upload limit


class CorpusError(ValueError):
    """Input text that cannot be trained on; the message says what was found and what to do."""


def read_text(source: str | Path | bytes, *, latin1_fallback: bool = False,
              ascii_fold: bool = False, max_bytes: int = MAX_CORPUS_BYTES) -> str:
    """Read a corpus from a path or raw bytes and return clean text.

    Strict UTF-8 (a BOM is dropped); with `latin1_fallback` undecodable bytes are read as Latin-1
    instead of failing. Line endings become "\\n". `ascii_fold` transliterates to ASCII with
    unidecode, but only Latin-script text: folding Chinese or Russian would replace the corpus with a
    romanisation, so that is refused with a message rather than done silently.
    """
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise CorpusError(f"no such file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise CorpusError(f"{path.name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
                              "Use a smaller excerpt.")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise CorpusError(f"the text is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorpusError(f"this looks like a binary file, not text: a NUL byte at byte {nul}. "
                          "Upload a plain .txt file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if not latin1_fallback:
            bad = data[e.start:e.start + 4]
            raise CorpusError(f"not valid UTF-8: byte 0x{data[e.start]:02x} at byte {e.start} "
                              f"(near {bad!r}). Save the file as UTF-8, or allow the Latin-1 fallback."
                              ) from None
        text = data.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for c in text[:100_000] if unicodedata.category(c) == "Cc" and c not in "\n\t")
    if controls > 0.01 * min(len(text), 100_000):
        raise CorpusError(f"this looks like a binary file: {controls} control characters in the first "
                          "100,000. Upload a plain text file.")
    if ascii_fold:
        text = fold_ascii(text)
    return text


def non_latin_share(text: str) -> float:
    """Fraction of letters outside the Latin script (0 for English, ~1 for Chinese or Russian)."""
    letters = [c for c in text[:200_000] if c.isalpha()]
    if not letters:
        return 0.0
    other = sum(1 for c in letters if not unicodedata.name(c, "").startswith("LATIN"))
    return other / len(letters)


def fold_ascii(text: str) -> str:
    """Transliterate Latin text to ASCII ("café" → "cafe", "“quotes”" → '"quotes"')."""
    share = non_latin_share(text)
    if share > 0.2:
        raise CorpusError(f"{share:.0%} of the letters are not Latin script; folding to ASCII would "
                          "replace them with a romanisation. Train on the original characters instead.")
    return unidecode(text, errors="preserve")


@dataclass(frozen=True)
class CorpusStats:
    n_chars: int
    vocab_size: int
    top_chars: list[tuple[str, int]]  # most frequent first
    unigram_entropy: float  # nats/char: the loss of a model that only knows letter frequencies

    @property
    def uniform_loss(self) -> float:
        """ln(V): the loss of a model that guesses uniformly — where every training run starts."""
        return math.log(self.vocab_size)


def corpus_stats(text: str, top: int = 10) -> CorpusStats:
    counts = Counter(text)
    n = len(text)
    entropy = -sum(c / n * math.log(c / n) for c in counts.values()) if n else 0.0
    return CorpusStats(n, len(counts), counts.most_common(top), entropy)


class Vocab:
    """The characters of a corpus, sorted, and their ids. Saved inside every checkpoint."""

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` the vocabulary does not have, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str, *, on_unknown: str = "error") -> torch.Tensor:
        """Text → (len,) long tensor. `on_unknown="drop"` leaves out unseen characters."""
        missing = self.unknown(text)
        if missing:
            if on_unknown != "drop":
                shown = "".join(missing[:10])
                raise CorpusError(f"the model never saw these characters: {shown!r}. "
                                  "Remove them from the prompt (the model can only write characters "
                                  "from its training text).")
            text = "".join(c for c in text if c in self.stoi)
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def min_chars(seq_len: int, val_fraction: float) -> int:
    """Shortest corpus that gives at least one training and one validation window of `seq_len`."""
    need_val = seq_len + 1
    need_train = seq_len + 1
    if val_fraction <= 0:
        return need_train
    return max(need_train + need_val, math.ceil(need_val / val_fraction))


def split(ids: torch.Tensor, val_fraction: float = 0.1, *, seq_len: int = 64
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous split: the first (1 - val_fraction) for training, the rest for validation.

    Contiguous rather than shuffled because characters are not independent: a random split would put
    the same sentences, shifted by one character, on both sides.
    """
    need = min_chars(seq_len, val_fraction)
    if len(ids) < need:
        raise CorpusError(f"the text has {len(ids)} characters; with a sequence length of {seq_len} "
                          f"and {val_fraction:.0%} held out for validation it needs at least {need}. "
                          "Add more text or lower the sequence length.")
    n_val = int(len(ids) * val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val:]
