"""A corpus file of any size read in pieces, by exactly the rules of `corpus.read_text`.

    file ─scan─► Scan: encoding, vocabulary, character counts, length     (pass 1: checks everything)
    file ─pieces(scan)─► clean text, a piece at a time                   (pass 2: what gets encoded)

`read_text` holds the whole file in memory; this reads it a few megabytes at a time, cutting each piece
after its last newline, so that every rule still holds across the cuts and joining the pieces gives
exactly `read_text`'s text:
- the encoding is decided once, for the whole file, by its first bytes (a byte-order mark) and the
  first pass (a NUL byte anywhere: UTF-16 without a mark or binary; a byte that is not UTF-8 anywhere:
  the Windows-1252 fallback for the whole file, or the refusal) — never piece by piece;
- a multi-byte character split between two reads is joined by an incremental decoder;
- "\\r\\n" is never split (pieces end after "\\n"), and NFC never sees half a sequence: a cut falls
  before a character that no normalisation joins to what precedes it ("\\n" or ASCII);
- the checks that read the start of the text (control characters in the first 100,000 characters,
  the script of the first 200,000 for ascii_fold) read the same characters.

A file with no newline and no ASCII character for megabytes (say, one line of Chinese) is held whole
until a cut appears: correct, only not bounded in memory.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from unidecode import unidecode

from .corpus import (
    _CP1252,
    _WIDE_BOMS,
    CONTROL_SAMPLE,
    CorpusError,
    _suggest_encoding,
    bincount,
    check_not_binary,
    code_points,
    fold_ascii,
    normalize_text,
)

CHUNK_BYTES = 4 * 1024**2  # bytes read at a time (≈ 4-16 MB of text in memory per piece)
_CONTROL_SAMPLE = CONTROL_SAMPLE  # characters read_text checks for control characters...
_SCRIPT_SAMPLE = 200_000  # ...and for the script, before folding to ASCII


@dataclass(frozen=True)
class Scan:
    """What the first pass found: enough to check the text, size its ids and encode it.

    counts: (C,) int64, the cleaned text's count of each code point (before ascii_fold).
    chars / char_counts: the vocabulary of the final text (folded where asked), sorted, and each
    character's count; n_chars their sum — the length of `read_text`'s result.
    """

    name: str
    encoding: str  # "utf-8", "utf-16-le", …, or "cp1252" (the fallback)
    skip: int  # bytes of the byte-order mark at the start
    ascii_fold: bool
    chars: str
    char_counts: tuple[int, ...]

    @property
    def n_chars(self) -> int:
        return sum(self.char_counts)


class _Cp1252:
    """The fallback as an incremental decoder: one byte, one character, never an error."""

    def decode(self, data: bytes, final: bool = False) -> str:
        return codecs.charmap_decode(data, "strict", _CP1252)[0]

    def getstate(self) -> tuple[bytes, int]:
        return b"", 0


class _Undecodable(Exception):
    def __init__(self, at: int):
        self.at = at  # byte offset in the file


class _NulByte(Exception):
    def __init__(self, at: int):
        self.at = at


def _decoder(encoding: str):
    return _Cp1252() if encoding == "cp1252" else codecs.getincrementaldecoder(encoding)("strict")


def _cut(text: str) -> int:
    """Where to end a piece of `text` (0: nowhere yet). After the last newline; without one, before the
    last ASCII character (a starter no normalisation joins backwards; never the "\\n" of a "\\r\\n")."""
    cut = text.rfind("\n") + 1
    if cut:
        return cut
    for i in range(len(text) - 1, 0, -1):  # only on text without a newline: rare, and stops at the first hit
        if text[i].isascii():
            return i
    return 0


def _raw_pieces(path: Path, encoding: str, skip: int, chunk_bytes: int, stop_at_nul: bool = False
                ) -> Iterator[str]:
    """Decoded, not yet cleaned pieces of the file after `skip` bytes. Raises _Undecodable (its byte
    offset) or, with stop_at_nul, _NulByte before decoding a read that holds a NUL byte."""
    decoder, carry, at = _decoder(encoding), "", skip
    with path.open("rb") as f:
        f.seek(skip)
        while True:
            data = f.read(chunk_bytes)
            if stop_at_nul and (nul := data.find(b"\x00")) >= 0:
                raise _NulByte(at + nul)
            pending = len(decoder.getstate()[0])  # bytes of a character begun in the last read
            try:
                text = carry + decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:  # e.start counts from the pending bytes
                raise _Undecodable(at - pending + e.start) from None
            at += len(data)
            if not data:
                if text:
                    yield text
                return
            cut = _cut(text)
            if cut:
                yield text[:cut]
            carry = text[cut:]


def pieces(path: str | Path, scan: Scan, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The clean text of `path`, as `scan` decided to read it, a piece at a time: "".join(pieces(...))
    equals `read_text(path, latin1_fallback=…, ascii_fold=…)`. Raises OSError if the file cannot be read."""
    for raw in _raw_pieces(Path(path), scan.encoding, scan.skip, chunk_bytes):
        text = normalize_text(raw)
        yield unidecode(text, errors="preserve") if scan.ascii_fold else text


def scan(path: str | Path, *, latin1_fallback: bool = False, ascii_fold: bool = False,
         chunk_bytes: int = CHUNK_BYTES, name: str | None = None) -> Scan:
    """The first pass over a text file: decide its encoding, count its characters, and check it as
    `read_text` does, with the same messages (CorpusError); OSError if it cannot be read."""
    path = Path(path)
    name = name or path.name
    with path.open("rb") as f:
        head = f.read(8192 + 4)
    size = path.stat().st_size
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            try:
                return _count(path, name, encoding, len(bom), ascii_fold, chunk_bytes)
            except _Undecodable as e:
                raise CorpusError(f"{name} starts with a {encoding.upper()} byte-order mark but is not valid "
                                  f"{encoding.upper()} at byte {e.at}. Save it again as UTF-8.") from None
    skip = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    try:
        return _count(path, name, "utf-8", skip, ascii_fold, chunk_bytes, stop_at_nul=True)
    except _NulByte as e:
        nul = e.at
    except _Undecodable as e:  # read_text looks for NUL bytes first: so do we, in the rest of the file
        nul = _find_nul(path, e.at, chunk_bytes)
        if nul is None:
            if latin1_fallback:
                return _count(path, name, "cp1252", skip, ascii_fold, chunk_bytes)
            with path.open("rb") as f:
                f.seek(e.at)
                near = f.read(4)
                f.seek(skip)
                body = f.read(65536 + 1)  # the detector reads the first 64 KiB (and whether there is more)
            raise CorpusError(f"{name} is not valid UTF-8: byte 0x{near[0]:02x} at byte {e.at} "
                              f"(near {near!r}).{_suggest_encoding(body)}") from None
    encoding = _utf16_pattern(head[skip:8192 + skip], size - skip)
    if encoding is not None:
        try:
            return _count(path, name, encoding, skip, ascii_fold, chunk_bytes)
        except _Undecodable:
            pass
    raise CorpusError(f"{name} looks like a binary file, not text: a NUL byte at byte {nul} "
                      "(text has none). Give a plain-text file (.txt, saved as UTF-8).")


def _find_nul(path: Path, start: int, chunk_bytes: int) -> int | None:
    with path.open("rb") as f:
        f.seek(start)
        at = start
        while data := f.read(chunk_bytes):
            if (nul := data.find(b"\x00")) >= 0:
                return at + nul
            at += len(data)
    return None


def _utf16_pattern(head: bytes, size: int) -> str | None:
    """`corpus._utf16_without_bom`'s test on the first 8 KiB (its strict decode is the second pass)."""
    if size % 2:
        return None
    pairs = len(head) // 2
    even, odd = head[0::2].count(0), head[1::2].count(0)
    for zeros, others, encoding in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros >= 0.25 * pairs and others <= 0.05 * zeros:
            return encoding
    return None


def _count(path: Path, name: str, encoding: str, skip: int, ascii_fold: bool, chunk_bytes: int,
           stop_at_nul: bool = False) -> Scan:
    counts = np.zeros(128, np.int64)  # grows to the largest code point seen
    n, first, nul = 0, [], -1
    kept = _SCRIPT_SAMPLE if ascii_fold else _CONTROL_SAMPLE
    for raw in _raw_pieces(path, encoding, skip, chunk_bytes, stop_at_nul):
        text = normalize_text(raw)
        if nul < 0 and (i := text.find("\x00")) >= 0:
            nul = n + i
        if sum(map(len, first)) < kept:
            first.append(text[:kept])
        cps = code_points(text)
        if len(cps):
            here = bincount(cps, minlength=len(counts))
            if len(here) > len(counts):
                counts = np.concatenate([counts, np.zeros(len(here) - len(counts), np.int64)])
            counts += here
        n += len(text)
    start = "".join(first)
    chars = "".join(map(chr, np.flatnonzero(counts)))
    # The checks of read_text, in its order and with its messages.
    if all(c.isspace() for c in chars):
        raise CorpusError(f"{name} is empty (or only white space). Give the model some text to learn from.")
    check_not_binary(name, start[:CONTROL_SAMPLE], nul)
    per_char = {c: int(counts[ord(c)]) for c in chars}
    if ascii_fold:
        fold_ascii(start[:_SCRIPT_SAMPLE])  # refuses non-Latin text, judged as read_text judges it
        folded: dict[str, int] = {}
        for c, k in per_char.items():  # unidecode replaces each character on its own
            for d in unidecode(c, errors="preserve"):
                folded[d] = folded.get(d, 0) + k
        per_char = folded
    chars = "".join(sorted(per_char))
    return Scan(name, encoding, skip, ascii_fold, chars, tuple(per_char[c] for c in chars))
