"""Text in, ids out: read and clean a corpus, build its vocabulary, split it.

    upload/file ─read + clean─► text ─Vocab─► ids ─split─► train / val

Everything here validates once, at the edge, and raises `CorpusError` with a message a learner can
act on; nothing deeper in the package has to re-check the text.
"""

from __future__ import annotations

import codecs
import math
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from unidecode import unidecode

VAL_FRACTION = 0.1  # the last tenth of a text is held out for the validation loss (every door's default)
MAX_CORPUS_BYTES = 50_000_000  # a bound for shared servers; the app sets a smaller upload limit


class CorpusError(ValueError):
    """Input text that cannot be trained on; the message says what was found and what to do."""


def read_text(source: str | Path | bytes, *, latin1_fallback: bool = False,
              ascii_fold: bool = False, max_bytes: int = MAX_CORPUS_BYTES) -> str:
    """Read a corpus from a path, `"-"` (standard input) or raw bytes, and return clean text.

    Decoding: a UTF-16 LE/BE byte-order mark (Windows Notepad's "Unicode") or a UTF-32 one decides;
    without one, UTF-16 whose NUL bytes nearly all fall on one side of each byte pair (ASCII-range
    text from tools that write no mark) is read as such; everything else must be strict UTF-8, with
    or without its mark. `latin1_fallback` ("Windows-1252/Latin-1") reads a file that is not UTF-8
    as Windows-1252 — its curly quotes and dashes (0x91-0x97) become ’ “ ” – —, never invisible
    control characters — and the five bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90,
    0x9D) as Latin-1. The fallback applies to the whole file, and only when it is not valid UTF-8.

    Cleaning (`normalize_text`): line endings become "\\n" (also a lone "\\r", form feeds, vertical
    tabs, NEL, U+2028/U+2029: a page or paragraph break is a line break to the model); U+FEFF left
    in the middle (several files with BOMs joined by `cat`) is removed; the text is put in Unicode
    NFC, so "é" is one character however the editor stored it. Zero-width characters (ZWSP, ZWNJ,
    ZWJ, word joiner, soft hyphen) are kept: in Persian, Indic scripts and emoji they change what
    the text says. `ascii_fold` then transliterates to ASCII with unidecode, but only Latin-script
    text: folding Chinese or Russian would replace the corpus with a romanisation, so that is refused
    rather than done silently.

    At most `max_bytes` bytes are read, from a file or standard input alike.
    Raises CorpusError, naming the input, for: a missing file, a folder, a file that cannot be read
    (and why), more than `max_bytes`, binary data (a NUL byte, or many control characters), bytes
    that are not UTF-8 without the fallback (naming the byte and, as a suggestion, the encoding a
    detector guesses), text that is empty or only white space, and ascii_fold of non-Latin text.
    """
    data, name = _read_bytes(source, max_bytes)
    text = normalize_text(_decode(data, name, latin1_fallback))
    if not text.strip():
        raise CorpusError(f"{name} is empty (or only white space). Give the model some text to learn from.")
    # UTF-16/32 decoded from a byte-order mark may still hold U+0000
    check_not_binary(name, text[:CONTROL_SAMPLE], text.find("\x00"))
    if ascii_fold:
        text = fold_ascii(text)
    return text


# Breaks that mean "new line" to a reader, and U+FEFF, a byte-order mark left inside the text by `cat`.
# (str.replace, not str.translate: translate is ~50x slower on text that is not pure ASCII.)
_CLEAN = (("\r\n", "\n"), ("\r", "\n"), ("\f", "\n"), ("\v", "\n"), ("\x85", "\n"), ("\u2028", "\n"),
          ("\u2029", "\n"), ("\ufeff", ""))


_CLEAN_ASCII = tuple((old, new) for old, new in _CLEAN if old.isascii())


def normalize_text(text: str) -> str:
    """The one normalisation of corpus and prompts alike: Unicode NFC, "\\n" line endings, no U+FEFF.

    Apply it to every prompt before encoding it, so that "café" typed with a precomposed é (U+00E9)
    matches a corpus stored decomposed (e + U+0301); `charrnn.sample` does. Never raises.
    """
    for old, new in _CLEAN_ASCII if text.isascii() else _CLEAN:  # ASCII text has only the ASCII breaks
        if old in text:
            text = text.replace(old, new)
    return unicodedata.normalize("NFC", text)


def _read_bytes(source: str | Path | bytes, max_bytes: int) -> tuple[bytes, str]:
    """(the bytes, a name for messages). Reads at most max_bytes + 1 bytes, to tell "too big"."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "the text"
    elif str(source) == "-":
        name = "standard input"
        try:
            data = sys.stdin.buffer.read(max_bytes + 1)
        except (AttributeError, ValueError, OSError) as e:  # no stdin (pythonw), closed, or unreadable
            raise CorpusError(f"cannot read standard input: {e}") from None
    else:
        path = Path(source)
        name = path.name
        try:
            if path.is_dir():
                raise IsADirectoryError
            if path.is_file() and path.stat().st_size > max_bytes:  # say so before reading it all
                raise CorpusError(f"{name} is {_size(path.stat().st_size)}; the limit is {_size(max_bytes)}. "
                                  "Use a smaller excerpt" + _ANY_SIZE.get(max_bytes, "."))
            with path.open("rb") as f:
                data = f.read(max_bytes + 1)
        except OSError as e:
            raise unreadable(path, e) from None
    if len(data) > max_bytes:
        raise CorpusError(f"{name} is more than {_size(max_bytes)}, the limit. Use a smaller excerpt"
                          + _ANY_SIZE.get(max_bytes, "."))
    return data, name


# Where read_text's own bound applies (the Python API), the way to a corpus of any size.
_ANY_SIZE = {MAX_CORPUS_BYTES: ", or read it with charrnn.open_corpus (any size, memory-mapped ids)."}


CONTROL_SAMPLE = 100_000  # characters whose control characters decide "binary, not text"


def unreadable(path: Path, e: OSError) -> CorpusError:
    """The one-line CorpusError for a file that cannot be read (missing, a folder, no permission, other OS
    errors): the words `read_text` and `textstore.open_corpus` both use."""
    if isinstance(e, FileNotFoundError):
        return CorpusError(f"no such file: {path}")
    if isinstance(e, IsADirectoryError):
        return CorpusError(f"{path} is a folder, not a text file. Name a .txt file inside it.")
    if isinstance(e, PermissionError):
        return CorpusError(f"cannot read {path}: permission denied.")
    return CorpusError(f"cannot read {path}: {e.strerror or e}.")


def check_not_binary(name: str, sample: str, nul: int) -> None:
    """CorpusError when the text looks binary: a NUL at character `nul` (-1: none), or more than 1 % control
    characters (other than newline and tab) in `sample`, its first CONTROL_SAMPLE characters."""
    controls = sum(1 for c in sample if unicodedata.category(c) == "Cc" and c not in "\n\t")
    if nul >= 0 or controls > 0.01 * len(sample):
        found = (f"a NUL character at character {nul}" if nul >= 0 else
                 f"{controls} control characters in the first {len(sample):,} characters")
        raise CorpusError(f"{name} looks like a binary file, not text: {found}. "
                          "Give a plain-text file (.txt, saved as UTF-8).")


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n >= 100_000 else f"{n:,} bytes"  # MB of 1024², as Gradio counts


# Marks that decide the encoding. Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
              (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Windows-1252 for the bytes it defines, Latin-1 (the same number) for the five it leaves undefined:
# what Windows itself does with them, and never an error.
_CP1252 = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


def _decode(data: bytes, name: str, latin1_fallback: bool) -> str:
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as e:
                raise CorpusError(f"{name} starts with a {encoding.upper()} byte-order mark but is not valid "
                                  f"{encoding.upper()} at byte {e.start + len(bom)}. Save it again as UTF-8."
                                  ) from None
    # A UTF-8 mark is only dropped: the rest is read like any file, so that a UTF-8 file with some
    # Windows-1252 bytes appended (cat) gets the same message, and the fallback if the user allows it.
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    body = data[skip:]
    nul = body.find(b"\x00")
    if nul >= 0:
        encoding = _utf16_without_bom(body)
        if encoding is None:
            raise CorpusError(f"{name} looks like a binary file, not text: a NUL byte at byte {nul + skip} "
                              "(text has none). Give a plain-text file (.txt, saved as UTF-8).")
        return body.decode(encoding)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        if latin1_fallback:
            return codecs.charmap_decode(body, "strict", _CP1252)[0]
        raise CorpusError(f"{name} is not valid UTF-8: byte 0x{body[e.start]:02x} at byte {e.start + skip} "
                          f"(near {body[e.start:e.start + 4]!r}).{_suggest_encoding(body)}") from None


def _utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le"/"utf-16-be" if `data` is UTF-16 without a byte-order mark, else None.

    UTF-16 of mostly ASCII-range text has a NUL in one byte of nearly every pair and none in the
    other; binary data does not look like that. It must also decode strictly (the control-character
    check after decoding is a second net).
    """
    if len(data) % 2:
        return None
    head = data[:8192]
    pairs = len(head) // 2
    even, odd = head[0::2].count(0), head[1::2].count(0)
    for zeros, others, encoding in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros >= 0.25 * pairs and others <= 0.05 * zeros:
            try:
                data.decode(encoding)
            except UnicodeDecodeError:
                return None
            return encoding
    return None


# Readable names for the encodings a detector most often reports.
_ENCODING_NAMES = {"cp1252": "Windows-1252 (Western European)", "cp1250": "Windows-1250 (Central European)",
                   "cp1251": "Windows-1251 (Cyrillic)", "latin_1": "Latin-1 (ISO-8859-1)",
                   "iso8859_15": "Latin-9 (ISO-8859-15)", "iso8859_2": "Latin-2 (ISO-8859-2)",
                   "mac_roman": "Mac Roman", "cp437": "DOS code page 437", "cp850": "DOS code page 850",
                   "koi8_r": "KOI8-R (Russian)", "cp932": "Shift-JIS (Japanese)", "shift_jis": "Shift-JIS (Japanese)",
                   "euc_jp": "EUC-JP (Japanese)", "gb18030": "GB18030 (Chinese)", "gb2312": "GB2312 (Chinese)",
                   "big5": "Big5 (Chinese)", "cp949": "EUC-KR (Korean)", "euc_kr": "EUC-KR (Korean)",
                   "utf_16_le": "UTF-16 LE without a byte-order mark",
                   "utf_16_be": "UTF-16 BE without a byte-order mark"}
_DOORS = '(the page\'s "Latin-1 fallback" box, --latin1, or latin1_fallback=True)'


def _suggest_encoding(data: bytes) -> str:
    """What to do about bytes that are not UTF-8, with a detector's guess when it has one.

    charset-normalizer guesses; similar code pages (cp1250/cp1252) decode most text alike, so the
    guess is only named, never used to decode. What we check ourselves is whether our fallback
    would read the sample exactly as the guessed encoding does.
    """
    advice = (" Save the file as UTF-8 in your editor or, if it is Western European text, allow the "
              f"Windows-1252/Latin-1 fallback {_DOORS}.")
    if len(data) < 64:  # on a few bytes any guess is noise
        return advice
    head = data[:65536]
    if len(data) > len(head) and b"\n" in head:
        head = head[:head.rindex(b"\n") + 1]  # whole lines: do not cut a multi-byte character
    try:
        from charset_normalizer import from_bytes
        best = from_bytes(head).best()
    except Exception:  # a missing or failing detector only means no suggestion
        return advice
    if best is None:
        return advice
    others = sorted((c for c in best.could_be_from_charset if c in _ENCODING_NAMES), key=lambda c: c != "cp1252")
    names = list(dict.fromkeys(_ENCODING_NAMES.get(c, c) for c in [best.encoding, *others]))
    guess = f" It looks like {' or '.join(names[:2])} (a detector's guess, not a certainty)."
    if codecs.charmap_decode(head, "strict", _CP1252)[0] == str(best):
        return (f"{guess} The Windows-1252/Latin-1 fallback reads it the same way: allow it {_DOORS}, "
                "or save the file as UTF-8.")
    return f"{guess} The Windows-1252/Latin-1 fallback would misread it: save the file as UTF-8 in your editor."


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
    top_chars: list[tuple[str, int]]  # most frequent first (ties: in code-point order)
    unigram_entropy: float  # nats/char: the loss of a model that only knows letter frequencies

    @property
    def uniform_loss(self) -> float:
        """ln(V): the loss of a model that guesses uniformly — where every training run starts."""
        return math.log(self.vocab_size)

    @classmethod
    def from_counts(cls, chars: str, counts, top: int = 10) -> CorpusStats:
        """From each character's count: chars (V,) and counts (V,), any integer sequence or tensor."""
        counts = np.asarray(counts, dtype=np.int64)
        n = int(counts.sum())
        p = counts[counts > 0] / max(n, 1)
        entropy = float(-(p * np.log(p)).sum()) if n else 0.0
        order = np.argsort(-counts, kind="stable")[:top]
        return cls(n, int((counts > 0).sum()), [(chars[i], int(counts[i])) for i in order if counts[i]], entropy)


def corpus_stats(text, top: int = 10) -> CorpusStats:
    """Length, vocabulary, most frequent characters and unigram entropy of `text`: a str, or a corpus
    held as ids (`charrnn.textstore.Corpus`, or its lazy `.text`), whose counts were taken with its ids.
    One bincount over code points, not a Counter: ~0.5 GB/s instead of ~20 MB/s."""
    if not isinstance(text, str):
        return text.stats(top)
    counts = bincount(code_points(text))
    present = np.flatnonzero(counts)
    return CorpusStats.from_counts("".join(map(chr, present)), counts[present], top)


def bincount(cps: np.ndarray, minlength: int = 0) -> np.ndarray:
    """(max(cps) + 1 or minlength,) int64: how often each value occurs in `cps` (uint8 or uint32 code points
    or ids). torch's bincount: on uint8 ~50x faster than numpy's, which first widens to int64."""
    if not len(cps):
        return np.zeros(minlength, np.int64)
    ints = cps.view(np.int32) if cps.dtype == np.uint32 else cps  # code points < 2³¹: the same numbers
    if not ints.flags.writeable:  # a view of a str's bytes: torch wants memory it could write (a copy, ~5 GB/s)
        ints = ints.copy()
    return torch.bincount(torch.from_numpy(ints), minlength=minlength).numpy()


def code_points(text: str) -> np.ndarray:
    """(len(text),) the code point of each character: uint8 for ASCII text, else uint32 (zero-copy views
    of `str.encode`; ~7 GB/s for ASCII). Raises UnicodeEncodeError on a lone surrogate."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), np.uint32)


class Vocab:
    """The characters of a corpus, sorted, and their ids. Saved inside every checkpoint."""

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}
        self._table: np.ndarray | None = None

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def table(self) -> np.ndarray:
        """Code point → id, -1 where the vocabulary has no such character: (max code point + 1,) int32,
        at least 256 long. The lookup table that encodes text at ~0.5 GB/s (`encode`, `textstore`)."""
        if self._table is None:
            cps = [ord(c) for c in self.chars]
            table = np.full(max([255, *cps]) + 1, -1, np.int32)
            table[cps] = np.arange(len(cps), dtype=np.int32)
            self._table = table
        return self._table

    def lookup(self, cps: np.ndarray) -> np.ndarray:
        """Code points (any unsigned integer array) → int32 ids, -1 for characters not in the vocabulary."""
        table = self.table()
        if len(cps) and cps.dtype != np.uint8 and int(cps.max()) >= len(table):
            return np.where(cps < len(table), table[np.minimum(cps, len(table) - 1)], -1).astype(np.int32)
        return table[cps]

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` the vocabulary does not have, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str, *, on_unknown: str = "error") -> torch.Tensor:
        """Text → (len,) long tensor. `on_unknown="drop"` leaves out unseen characters."""
        try:
            ids = self.lookup(code_points(text))
        except UnicodeEncodeError:  # a lone surrogate: no code-point view; the slow way
            ids = np.array([self.stoi.get(c, -1) for c in text], dtype=np.int32)
        if (ids < 0).any():
            if on_unknown != "drop":
                shown = "".join(self.unknown(text)[:10])
                raise CorpusError(f"the model never saw these characters: {shown!r}. "
                                  "Remove them from the prompt (the model can only write characters "
                                  "from its training text).")
            ids = ids[ids >= 0]
        return torch.from_numpy(ids.astype(np.int64))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def min_chars(seq_len: int, val_fraction: float) -> int:
    """Shortest corpus that gives at least one training and one validation window of `seq_len`."""
    need_val = seq_len + 1
    need_train = seq_len + 1
    if val_fraction <= 0:
        return need_train
    return max(need_train + need_val, math.ceil(need_val / val_fraction))


def split(ids: torch.Tensor, val_fraction: float = VAL_FRACTION, *, seq_len: int = 64
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous split: the first (1 - val_fraction) for training, the rest for validation.

    Contiguous rather than shuffled because characters are not independent: a random split would put
    the same sentences, shifted by one character, on both sides.
    """
    need = min_chars(seq_len, val_fraction)
    if len(ids) < need:
        raise CorpusError(f"the text has {len(ids)} characters; with a sequence length of {seq_len} "
                          f"and {val_fraction:.0%} held out for validation it needs at least {need}. "
                          + ("Add more text or lower the sequence length." if seq_len > 1 else "Add more text."))
    n_val = int(len(ids) * val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val:]
