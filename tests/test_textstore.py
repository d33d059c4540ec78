"""Large corpora read in pieces and kept as ids: the same text as `read_text`, the same ids as
`Vocab.encode`, the same refusals; a cache file that is reused only while it is right."""

import codecs
import io
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from charrnn import textcache
from charrnn.corpus import CorpusError, Vocab, corpus_stats, read_text
from charrnn.textstore import Corpus, LazyText, open_corpus

ROOT = Path(__file__).resolve().parents[1]
# Every rule of read_text, on both sides of many cuts: NFD that NFC joins, CRLF and lone CR, BOMs that
# `cat` left inside, page and paragraph breaks, emoji with ZWJ, and long lines with no newline at all
# (one ASCII, one not), so that pieces are also cut before an ASCII character or carried whole.
PARTS = ["To be, or not to be, that is the question:\n", "Grüße, “quoted” — 日本語\r\n", "cafe\u0301 au lait\n",
         "\ufeffa file joined by cat\n", "old Mac line\r", "page\fbreak\u2028line\u2029para\x85nel\vtab\tend\n",
         "emoji 👩\u200d💻 and \u200bzero width\n", "x" * 3000, "e\u0301" * 2000 + "!" * 3, "é" * 1500,
         "\r\n", "\r", "\n", "ǅ Ω Å ﬁ\n"]


def tricky_bytes(n_bytes: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    out, size = [], 0
    while size < n_bytes:
        part = rng.choice(PARTS)
        out.append(part)
        size += len(part.encode())
    return codecs.BOM_UTF8 + "".join(out).encode()


@pytest.fixture(scope="module")
def tricky(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tricky") / "tricky.txt"
    path.write_bytes(tricky_bytes(3 * 1024**2))  # multi-megabyte, mostly non-ASCII-laden lines
    return path


def reference(path: Path, **options) -> tuple[Vocab, torch.Tensor, str]:
    text = read_text(path, **options)
    vocab = Vocab.from_text(text)
    return vocab, vocab.encode(text), text


@pytest.mark.parametrize("chunk_bytes", [997, 65536])
def test_a_multi_megabyte_corpus_encodes_exactly_as_read_text_and_vocab_encode(tricky, chunk_bytes):
    vocab, ids, text = reference(tricky)
    assert len(vocab) > 40 and "\r" not in text and "\ufeff" not in text  # the rules had work to do
    corpus = open_corpus(tricky, cache=False, chunk_bytes=chunk_bytes)  # ~3,000 cuts with 997 bytes
    assert corpus.vocab == vocab and corpus.ids.dtype == torch.uint8
    assert torch.equal(corpus.ids.long(), ids)
    assert corpus.stats() == corpus_stats(text)


def test_the_same_through_the_cache_file_and_with_more_than_256_characters(tmp_path):
    cjk = "".join(chr(0x4E00 + i) for i in range(400))  # 400 characters: int32 ids
    path = tmp_path / "wide.txt"
    path.write_bytes(tricky_bytes(200_000, seed=1) + ("\n".join(cjk[i:i + 40] for i in range(0, 400, 40))).encode())
    vocab, ids, _ = reference(path)
    corpus = open_corpus(path, cache=True, chunk_bytes=4099)
    assert corpus.ids.dtype == torch.int32 and corpus.cache is not None and corpus.built
    assert corpus.vocab == vocab and torch.equal(corpus.ids.long(), ids)


@pytest.mark.parametrize("encoding, options", [("utf-16", {}), ("utf-16-le", {}), ("utf-32", {}),
                                               ("cp1252", {"latin1_fallback": True}), ("utf-8", {"ascii_fold": True}),
                                               ("cp1252", {"latin1_fallback": True, "ascii_fold": True})])
def test_other_encodings_and_options_decided_for_the_whole_file(tmp_path, encoding, options):
    text = "Plain words, “quoted” — café\r\nand more text é\n" * 400
    data = text.encode(encoding, errors="replace") if encoding != "cp1252" else \
        ("naïve line\n" * 500).encode() + text.encode("cp1252")  # UTF-8 first: the fallback still wins
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    vocab, ids, _ = reference(path, **options)
    corpus = open_corpus(path, chunk_bytes=501, **options)
    assert corpus.vocab == vocab and torch.equal(corpus.ids.long(), ids)


BAD = [b"", b" \r\n\t\n", "\ufeff".encode(), b"abc\x00def", b"PK\x03\x04\x00\x00" + bytes(range(256)) * 8,
       bytes([7, 0, 1, 0]) * 500, bytes(range(1, 32)) * 100, "café".encode("latin-1"),
       b"long enough ascii text\n" * 500 + "’quoted’".encode("cp1252") + b"\x00 late", b"\xff\xfea\x00\x00\xd8",
       codecs.BOM_UTF16_LE + ("ab\x00" + "text " * 100).encode("utf-16-le"), b"ok " * 30 + b"\n\x93bad\n" * 20,
       "Привет, мир!".encode()]


@pytest.mark.parametrize("data", BAD, ids=range(len(BAD)))
def test_every_refusal_is_read_texts_own_message(tmp_path, data):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    fold = data == "Привет, мир!".encode()
    with pytest.raises(CorpusError) as expected:
        read_text(path, ascii_fold=fold)
    for chunk_bytes in (7, 4096):
        with pytest.raises(CorpusError) as got:
            open_corpus(path, chunk_bytes=chunk_bytes, ascii_fold=fold)
        assert str(got.value) == str(expected.value)


def test_folders_and_missing_files(tmp_path):
    with pytest.raises(CorpusError, match="is a folder, not a text file"):
        open_corpus(tmp_path)
    with pytest.raises(CorpusError, match="no such file: .*nope.txt"):
        open_corpus(tmp_path / "nope.txt")


class _Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("cache", [False, True])
def test_standard_input_is_spooled_and_leaves_nothing_behind(tmp_path, monkeypatch, cache):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = "from a pipe\r\n".encode("utf-16") * 1000
    monkeypatch.setattr(sys, "stdin", _Stdin(data))
    corpus = open_corpus("-", cache=cache, chunk_bytes=1000)
    assert list(tmp_path.iterdir()) == []  # the spooled text and its ids are gone (the mapping stays)
    vocab = Vocab.from_text(read_text(data))
    assert corpus.vocab == vocab and torch.equal(corpus.ids.long(), vocab.encode(read_text(data)))
    monkeypatch.setattr(sys, "stdin", _Stdin(b" \n"))
    with pytest.raises(CorpusError, match=r"standard input is empty \(or only white space\)"):
        open_corpus("-")


def test_lazy_text_slices_like_the_text_and_counts_like_it(tricky):
    corpus = open_corpus(tricky, cache=False)
    text, lazy = read_text(tricky), corpus.text
    assert isinstance(lazy, LazyText) and len(lazy) == len(text)
    for key in (slice(None, 500), slice(-300, None), slice(1000, 1200, 3), slice(900, 100, -7), slice(5, 5)):
        assert lazy[key] == text[key]
    assert lazy[12] == text[12] and lazy[-1] == text[-1]
    assert corpus.text_span(1000, 2000)[:] == text[1000:2000]
    assert corpus_stats(corpus.text_span(1000)) == corpus_stats(text[1000:])
    assert corpus_stats(lazy) == corpus_stats(text)
    in_memory = Corpus.from_text(text)
    assert in_memory.text is text and torch.equal(in_memory.ids, corpus.ids)


def test_a_corpus_over_a_larger_vocabulary_keeps_its_text():
    corpus = Corpus.from_text("abcabc")
    wider = Vocab("_abcz")
    moved = corpus.over(wider)
    assert moved.vocab == wider and moved.decode() == "abcabc" and moved.counts.tolist() == [0, 2, 2, 2, 0]
    assert corpus.over(Vocab("abc")) is corpus
    with pytest.raises(CorpusError, match="outside the vocabulary: 'c'"):
        corpus.over(Vocab("ab"))


def _built(path: Path, **kw) -> tuple[bool, Path]:
    c = open_corpus(path, cache=True, chunk_bytes=65536, **kw)
    assert torch.equal(c.ids.long(), reference(path, **kw)[1])  # whatever happened, the ids are right
    return c.built, c.cache


def test_the_cache_is_reused_while_unchanged_and_rebuilt_when_not(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(tricky_bytes(400_000, seed=2))
    built, cache = _built(path)
    assert built and cache == tmp_path / ".c.txt.charrnn.ids"
    assert _built(path) == (False, cache)  # unchanged: mapped, not read
    assert _built(path, ascii_fold=True)[0] and _built(path, ascii_fold=True)[0] is False  # options: their own file
    with path.open("ab") as f:  # appended
        f.write(b"one more line\n")
    assert _built(path) == (True, cache)
    stat = path.stat()  # the same size and time, other bytes at the start: the hash of the first MB tells
    data = bytearray(path.read_bytes())
    data[data.index(b"q")] = ord("Q")
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _built(path) == (True, cache)
    with cache.open("r+b") as f:  # truncated (a disk that filled up, a copy cut short)
        f.truncate(cache.stat().st_size - 1)
    assert _built(path) == (True, cache)
    data = cache.read_bytes()  # another version of the format
    cache.write_bytes(data[:len(textcache.MAGIC) - 1] + b"\x09" + data[len(textcache.MAGIC):])
    assert _built(path) == (True, cache)
    cache.write_bytes(textcache.MAGIC + b"\x10\x00\x00\x00{not json at all")
    assert _built(path) == (True, cache)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.txt.charrnn-ascii.ids", ".c.txt.charrnn.ids", "c.txt"]


def test_a_read_only_folder_puts_the_cache_in_the_user_cache_folder(tmp_path, monkeypatch):
    folder, home = tmp_path / "shared", tmp_path / "xdg"
    folder.mkdir()
    path = folder / "c.txt"
    path.write_bytes(tricky_bytes(100_000, seed=3))
    folder.chmod(0o555)  # read-only even for root, who runs some CI: the mode is respected, not bypassed
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    try:
        built, cache = _built(path)
        assert built and cache.parent == home / "charrnn" and cache.name.startswith("c.txt-")
        assert _built(path) == (False, cache)
        assert sorted(p.name for p in folder.iterdir()) == ["c.txt"]
    finally:
        folder.chmod(0o755)


def test_no_room_on_disk_or_in_the_address_space_is_refused_with_the_figures(tmp_path, monkeypatch):
    path = tmp_path / "c.txt"
    path.write_bytes(b"a line of text\n" * 10_000)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # A full disk cannot be made in a test: the free space is what the system would say on one.
    monkeypatch.setattr(textcache.shutil, "disk_usage", lambda p: _Usage(10_000))
    with pytest.raises(CorpusError, match=r"c.txt needs 0.1 MB on disk for its ids \(150,000 characters\), and 64.0 MB "
                                          r"left free; .* has 10,000 bytes free.*XDG_CACHE_HOME"):
        open_corpus(path, cache=True)
    monkeypatch.undo()
    monkeypatch.setattr(textcache, "address_space_left", lambda: 4096)
    with pytest.raises(CorpusError, match=r"needs 0.1 MB of address space .* than the 4,096 bytes"):
        open_corpus(path, cache=True)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]  # nothing half-written


class _Usage:
    def __init__(self, free: int):
        self.total = self.free = free
        self.used = 0


def test_processes_started_together_build_the_cache_once(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(tricky_bytes(2 * 1024**2, seed=4))
    go = tmp_path / "go"
    script = (f"import pathlib, sys, time\nfrom charrnn.textstore import open_corpus\n"
              f"print('ready', flush=True)\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.005)\n"
              f"c = open_corpus({str(path)!r}, cache=True)\nprint(c.built, len(c), int(c.ids.long().sum()))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for _ in range(3)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()  # all three ask at once
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert sorted(o[0] for o in outs) == ["False", "False", "True"]  # one built, two waited and mapped it
    assert len({tuple(o[1:]) for o in outs}) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_encoding_is_fast(tmp_path):
    """The lookup table, not a Python loop: ≥ 100 MB/s for both passes on an idle 2-core machine; the
    bound here is loose because tests share the machine."""
    path = tmp_path / "c.txt"
    rng = random.Random(0)
    path.write_bytes(b"".join(rng.choice([b"the cat sat on the mat\n", b"a dog ran\n"]) for _ in range(800_000)))
    start = time.perf_counter()
    corpus = open_corpus(path, cache=False)
    rate = len(corpus) / (time.perf_counter() - start) / 1e6
    assert rate > 20, f"{rate:.0f} MB/s"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_read_once(tmp_path):
    import threading

    fifo, data = tmp_path / "pipe", tricky_bytes(300_000, seed=5)
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    corpus = open_corpus(fifo, chunk_bytes=4096)  # `charrnn train <(zcat corpus.gz)` gives such a path
    writer.join()
    text = read_text(data)
    vocab = Vocab.from_text(text)
    assert corpus.name == "pipe" and corpus.vocab == vocab and torch.equal(corpus.ids.long(), vocab.encode(text))


@pytest.mark.parametrize("size", [255, 256, 257])
def test_vocabularies_at_the_edge_of_one_byte_still_refuse_unknown_characters(size):
    from charrnn.textstore import Encoder

    vocab = Vocab("".join(chr(0x100 + i) for i in range(size)))
    text = vocab.chars[::-1] * 3
    ids = Encoder(vocab)(text)
    assert ids.dtype == (np.uint8 if size <= 256 else np.int32) and ids.tolist() == vocab.encode(text).tolist()
    for bad in ("a", "\U0001f600", chr(0x100 + size)):
        with pytest.raises(CorpusError, match="outside the vocabulary"):
            Encoder(vocab)(text + bad)
