"""A corpus as ids: encoded once through a lookup table, kept in a cache file, memory-mapped.

    open_corpus(path) ─► Corpus: vocab, ids (N,) uint8 | int32 (memory-mapped), counts (V,), lazy text
    Corpus.from_text(text) ─► the same, in memory, for text already read (the page, the API)

A text file of any size is read twice in pieces (`textstream`: the rules of `read_text`): the first
pass finds the vocabulary, the second writes ids through a code point → id table, uint8 where the
vocabulary has at most 256 characters, else int32. Nothing holds the whole text: the ids are mapped
from the file, pages read as training reaches them, and the text of a span is decoded when asked for.

Ids are stored as uint8 or int32, never int64: a batch is cast to int64 where it is cut
(`batching.py`), because uint8 indexes a tensor as a boolean mask, `nn.Embedding` refuses uint8 and
int16, and uint16 has no arithmetic in torch 2.13.

Files of CACHE_MIN_BYTES or more keep their ids in a cache file (`textcache.py`): beside the corpus,
or in the user's cache folder where that folder is read-only; reused while the corpus is unchanged,
rebuilt when not; built by one process when several start at once. Smaller ones are encoded in
memory (a few hundredths of a second), leaving no file behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import textcache, textstream
from .corpus import CorpusError, CorpusStats, Vocab, _size, code_points, unreadable
from .textstream import CHUNK_BYTES

CACHE_MIN_BYTES = 16 * 1024**2  # smaller files are encoded in memory, with no cache file


def id_dtype(vocab_size: int) -> np.dtype:
    """uint8 for at most 256 characters, else int32."""
    return np.dtype(np.uint8 if vocab_size <= 256 else np.int32)


class Encoder:
    """Text → ids of one vocabulary through a lookup table, checking every character: ASCII text over
    a vocabulary of fewer than 256 characters with `bytes.translate` (~1 GB/s), other text through a
    numpy table indexed by code point (~0.15-0.3 G characters/s)."""

    def __init__(self, vocab: Vocab):
        self.vocab, self.dtype = vocab, id_dtype(len(vocab))
        # One entry past the last code point means "not in the vocabulary": -1, which uint8 holds as 255 where
        # fewer than 256 characters leave 255 free; with exactly 256, the table stays int32 to tell.
        room = len(vocab) < 256 or self.dtype != np.uint8
        self.table = np.append(vocab.table(), -1).astype(self.dtype if room else np.int32)
        self.ascii = self.table[:256].tobytes() if len(vocab) < 256 else None  # ASCII byte → id, 255: unknown

    def __call__(self, text: str) -> np.ndarray:
        if self.ascii is not None and text.isascii():
            ids = text.encode("ascii").translate(self.ascii)
            if b"\xff" in ids:
                self._refuse(text)
            return np.frombuffer(ids, np.uint8)  # read-only: copy it to write into it
        ids = np.take(self.table, code_points(text), mode="clip")  # larger code points → the last entry
        if len(ids) and (ids.max() >= len(self.vocab) if ids.dtype == np.uint8 else ids.min() < 0):
            self._refuse(text)
        return ids.astype(self.dtype, copy=False)

    def _refuse(self, text: str):
        raise CorpusError(f"characters outside the vocabulary: {''.join(self.vocab.unknown(text)[:10])!r}")


@dataclass(eq=False)
class Corpus:
    """A corpus as ids over its vocabulary.

    ids: (N,) uint8 or int32 over `vocab` (memory-mapped when read from a cache file); counts: (V,)
    int64, each character's count. `text` is the text itself when it is in memory, else a `LazyText`
    that decodes the slices asked for.
    """

    vocab: Vocab
    ids: torch.Tensor
    counts: torch.Tensor
    name: str = "the text"
    source_text: str | None = None  # the text, when it is held in memory anyway
    cache: Path | None = None  # the file the ids are mapped from
    built: bool = False  # this call wrote that file (False: it was reused)
    _chars: np.ndarray | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def text(self) -> str | LazyText:
        return self.source_text if self.source_text is not None else LazyText(self)

    def text_span(self, start: int, stop: int | None = None) -> str | LazyText:
        """Characters start:stop: a str slice of a text in memory, else a lazy view (nothing decoded)."""
        if self.source_text is not None:
            return self.source_text[start:stop]
        return LazyText(self, start, len(self) if stop is None else stop)

    def decode(self, start: int = 0, stop: int | None = None) -> str:
        """The text of ids[start:stop], decoded now (~1 GB/s; a str of 1-4 bytes per character)."""
        ids = self.ids[start:stop].numpy()
        if self._chars is None:  # id → code point, as bytes of ASCII where every character is ASCII
            cps = np.array([ord(c) for c in self.vocab.chars], dtype=np.uint32)
            self._chars = cps.astype(np.uint8) if self.vocab.chars.isascii() else cps
        if self._chars.dtype == np.uint8:
            return self._chars[ids].tobytes().decode("ascii")
        return self._chars[ids].tobytes().decode("utf-32-le")

    def stats(self, top: int = 10) -> CorpusStats:
        return CorpusStats.from_counts(self.vocab.chars, self.counts.numpy(), top)

    @classmethod
    def from_text(cls, text: str, vocab: Vocab | None = None, name: str = "the text") -> Corpus:
        """`text` (already read and cleaned) as ids over `vocab` (default: its own characters).
        Raises CorpusError if `vocab` lacks some of its characters."""
        vocab = vocab if vocab is not None else Vocab.from_text(text)
        ids = torch.from_numpy(np.array(Encoder(vocab)(text)))  # a writable copy
        return cls(vocab, ids, torch.bincount(ids, minlength=len(vocab)), name, source_text=text)

    def over(self, vocab: Vocab) -> Corpus:
        """The same text as ids over `vocab`, a vocabulary with every character of this one (a model
        being continued). Itself when they are equal; else the ids are rewritten, in memory."""
        if vocab == self.vocab:
            return self
        missing = [c for c in self.vocab.chars if c not in vocab.stoi]
        if missing:
            raise CorpusError(f"characters outside the vocabulary: {''.join(missing[:10])!r}")
        where = np.array([vocab.stoi[c] for c in self.vocab.chars], dtype=np.int64)
        ids = torch.from_numpy(where.astype(id_dtype(len(vocab)))[self.ids.numpy()])
        counts = torch.zeros(len(vocab), dtype=torch.int64)
        counts[torch.from_numpy(where)] = self.counts
        return Corpus(vocab, ids, counts, self.name, self.source_text)


class LazyText:
    """A corpus's text (or a span of it) held as ids: `len()` and slicing like a str, a slice decoded
    when asked for (`text[:500]` decodes 500 characters). `str(text)` decodes all of it."""

    def __init__(self, corpus: Corpus, start: int = 0, stop: int | None = None):
        self.corpus, self.start = corpus, start
        self.stop = len(corpus) if stop is None else stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: int | slice) -> str:
        r = range(len(self))[key]  # an int, or the range a str would take (IndexError like a str's)
        if isinstance(r, int):
            return self.corpus.decode(self.start + r, self.start + r + 1)
        if not r:
            return ""
        lo, hi = min(r[0], r[-1]), max(r[0], r[-1]) + 1
        text = self.corpus.decode(self.start + lo, self.start + hi)  # only the span asked for
        return text if r.step == 1 else text[r[0] - lo::r.step][:len(r)]

    def __str__(self) -> str:
        return self.corpus.decode(self.start, self.stop)

    def __repr__(self) -> str:
        return f"LazyText({self.corpus.name!r}, {self.start}:{self.stop})"

    def stats(self, top: int = 10) -> CorpusStats:
        if (self.start, self.stop) == (0, len(self.corpus)):
            return self.corpus.stats(top)
        counts = torch.bincount(self.corpus.ids[self.start:self.stop], minlength=len(self.corpus.vocab))
        return CorpusStats.from_counts(self.corpus.vocab.chars, counts.numpy(), top)


def open_corpus(source: str | Path, *, latin1_fallback: bool = False, ascii_fold: bool = False,
                cache: bool | None = None, chunk_bytes: int = CHUNK_BYTES) -> Corpus:
    """A text file (or "-", standard input) of any size as a Corpus, read by `read_text`'s rules.

    cache: True keeps the ids in a cache file (`textcache`), False encodes in memory, None (the
    default) decides by size (CACHE_MIN_BYTES). Raises CorpusError, naming the file, for everything
    `read_text` refuses (a folder, a missing or unreadable file, binary data, undecodable bytes, empty
    text) and for ids that fit neither on disk nor in this process's address space (with the figures).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # counting is memory-bound: on a busy machine, 2 threads count ~6x slower than 1
    try:
        return _open(source, latin1_fallback, ascii_fold, cache, chunk_bytes)
    finally:
        torch.set_num_threads(threads)


def _open(source: str | Path, latin1_fallback: bool, ascii_fold: bool, cache: bool | None, chunk_bytes: int
          ) -> Corpus:
    if str(source) == "-":
        try:
            stdin = sys.stdin.buffer
        except AttributeError as e:  # no stdin (pythonw), or one without bytes
            raise CorpusError(f"cannot read standard input: {e}") from None
        return _from_stream(stdin, "standard input", latin1_fallback, ascii_fold, cache, chunk_bytes)
    path = Path(source)
    try:
        if path.is_dir():
            raise IsADirectoryError
        if path.exists() and not path.is_file():  # a pipe or a device (/dev/stdin, <(…)): it reads only once
            with path.open("rb") as stream:
                return _from_stream(stream, path.name, latin1_fallback, ascii_fold, cache, chunk_bytes)
        with path.open("rb"):
            pass
        size = path.stat().st_size
        if not (cache or (cache is None and size >= CACHE_MIN_BYTES)):
            return _in_memory(path, path.name, latin1_fallback, ascii_fold, chunk_bytes)
        return _mapped(path.name, textcache.cached(
            path, {"latin1_fallback": latin1_fallback, "ascii_fold": ascii_fold},
            lambda: textstream.scan(path, latin1_fallback=latin1_fallback, ascii_fold=ascii_fold,
                                    chunk_bytes=chunk_bytes),
            lambda scan: _encoded(path, scan, chunk_bytes)))
    except OSError as e:
        raise unreadable(path, e) from None


def _mapped(name: str, m: textcache.Mapped) -> Corpus:
    return Corpus(Vocab(m.chars), torch.from_numpy(m.ids), torch.tensor(m.counts, dtype=torch.int64), name,
                  cache=m.path, built=m.built)


def _encoded(path: Path, scan: textstream.Scan, chunk_bytes: int) -> Iterable[np.ndarray]:
    """The second pass: ids (uint8 or int32), a piece at a time."""
    encode = Encoder(Vocab(scan.chars))
    for piece in textstream.pieces(path, scan, chunk_bytes):
        try:
            yield encode(piece)
        except CorpusError:  # a character the first pass did not see
            raise CorpusError(f"{scan.name} changed while it was read; try again once it is complete.") from None


def _in_memory(path: Path, name: str, latin1_fallback: bool, ascii_fold: bool, chunk_bytes: int) -> Corpus:
    scan = textstream.scan(path, latin1_fallback=latin1_fallback, ascii_fold=ascii_fold, chunk_bytes=chunk_bytes,
                           name=name)
    ids, at = np.empty(scan.n_chars, id_dtype(len(scan.chars))), 0
    for part in _encoded(path, scan, chunk_bytes):
        if at + len(part) > len(ids):
            raise CorpusError(f"{name} changed while it was read; try again once it is complete.")
        ids[at:at + len(part)] = part
        at += len(part)
    if at != len(ids):
        raise CorpusError(f"{name} changed while it was read; try again once it is complete.")
    return Corpus(Vocab(scan.chars), torch.from_numpy(ids), torch.tensor(scan.char_counts, dtype=torch.int64), name)


def _from_stream(stream, name: str, latin1_fallback: bool, ascii_fold: bool, cache: bool | None,
                 chunk_bytes: int) -> Corpus:
    """Standard input or a pipe, read once into a temporary file (the two passes read it twice)."""
    folder = Path(tempfile.gettempdir())
    fd, spool = tempfile.mkstemp(prefix="charrnn-stdin-", suffix=".txt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                try:
                    data = stream.read(chunk_bytes)
                except (ValueError, OSError) as e:  # closed, or unreadable
                    raise CorpusError(f"cannot read {name}: {e}") from None
                if not data:
                    break
                try:
                    out.write(data)
                except OSError as e:
                    free = shutil.disk_usage(folder).free
                    raise CorpusError(f"{name} does not fit in {folder} ({_size(free)} free): "
                                      f"{e.strerror or e}. Give the text as a file instead.") from None
        path = Path(spool)
        if not (cache or (cache is None and path.stat().st_size >= CACHE_MIN_BYTES)):
            return _in_memory(path, name, latin1_fallback, ascii_fold, chunk_bytes)
        scan = textstream.scan(path, latin1_fallback=latin1_fallback, ascii_fold=ascii_fold, chunk_bytes=chunk_bytes,
                               name=name)
        return _mapped(name, textcache.private(folder / (path.name + ".ids"), scan, _encoded(path, scan, chunk_bytes)))
    finally:
        Path(spool).unlink(missing_ok=True)


__all__ = ["CACHE_MIN_BYTES", "Corpus", "Encoder", "LazyText", "id_dtype", "open_corpus"]
