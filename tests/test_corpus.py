"""Reading, cleaning and splitting text: every bad input gets its documented message."""

import math

import pytest

from charrnn.corpus import CorpusError, Vocab, corpus_stats, fold_ascii, min_chars, read_text, split


def test_utf8_bom_and_line_endings(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeffline one\r\nline two\rthree".encode())
    assert read_text(p) == "line one\nline two\nthree"


def test_binary_with_nul_is_refused_with_its_position():
    with pytest.raises(CorpusError, match=r"NUL byte at byte 3"):
        read_text(b"abc\x00def")


def test_binary_without_nul_is_refused():
    with pytest.raises(CorpusError, match="binary"):
        read_text(bytes(range(1, 32)) * 100)


def test_non_utf8_names_the_byte_and_latin1_fallback_reads_it():
    data = "café".encode("latin-1")
    with pytest.raises(CorpusError, match=r"byte 0xe9 at byte 3"):
        read_text(data)
    assert read_text(data, latin1_fallback=True) == "café"


def test_missing_file_and_size_limit(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="limit"):
        read_text(b"x" * 101, max_bytes=100)


def test_ascii_fold_latin_but_never_other_scripts():
    assert fold_ascii("Zürich, 6°C “ok”") == 'Zurich, 6degC "ok"'
    assert read_text("naïve".encode(), ascii_fold=True) == "naive"
    with pytest.raises(CorpusError, match="not Latin script"):
        read_text("Привет, мир! Как дела?".encode(), ascii_fold=True)
    with pytest.raises(CorpusError, match="not Latin script"):
        fold_ascii("你好世界，这是一个测试。")
    assert read_text("你好世界".encode()) == "你好世界"  # without folding: its own characters


def test_stats():
    s = corpus_stats("aab")
    assert (s.n_chars, s.vocab_size) == (3, 2)
    assert s.top_chars[0] == ("a", 2)
    expected = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert s.unigram_entropy == pytest.approx(expected)
    assert s.uniform_loss == pytest.approx(math.log(2))


def test_vocab_roundtrip_and_unknown_characters():
    v = Vocab.from_text("hello world")
    assert v.chars == " dehlorw"
    assert v.decode(v.encode("hello")) == "hello"
    with pytest.raises(CorpusError, match=r"never saw these characters: 'zq'"):
        v.encode("zqz")
    assert v.decode(v.encode("hez", on_unknown="drop")) == "he"


def test_split_is_contiguous_and_too_short_says_the_minimum():
    v = Vocab.from_text("abcdefghij")
    ids = v.encode("abcdefghij" * 100)
    tr, va = split(ids, 0.1, seq_len=8)
    assert len(tr) == 900 and len(va) == 100
    assert v.decode(tr[:10]) == "abcdefghij" and v.decode(va[-3:]) == "hij"
    need = min_chars(64, 0.1)
    with pytest.raises(CorpusError, match=f"at least {need}"):
        split(ids[:50], 0.1, seq_len=64)
    with pytest.raises(CorpusError, match="has 0 characters"):
        split(ids[:0], 0.1, seq_len=8)
