"""read_text reads text as editors and tools save it, or refuses it saying why (see ../shared/cases/)."""

import codecs
import io
import sys
import unicodedata
from pathlib import Path

import pytest

from charrnn import Bundle, TrainConfig, Vocab, build_model, generate, make_config, next_char_probs, split, train
from charrnn.corpus import CorpusError, normalize_text, read_text
from charrnn.sample import fit_prompt

CASES = Path(__file__).parents[1].parent / "shared" / "cases"
TEXT = "Grüße, “quoted” — 日本語\nline two\n"
C1 = {chr(c) for c in range(0x80, 0xA0)}


def case(name: str) -> Path:
    path = CASES / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (the shared input cases live beside the repository)")
    return path


@pytest.mark.parametrize("bom, encoding", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                           (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                                           (codecs.BOM_UTF32_BE, "utf-32-be")])
def test_every_unicode_encoding_with_a_byte_order_mark(bom, encoding):
    # UTF-16 LE with a mark is Windows Notepad's "Unicode"; its NULs in every other byte are not "binary"
    assert read_text(bom + TEXT.encode(encoding)) == TEXT


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_recognised_by_its_nul_bytes(encoding):
    assert read_text(("Plain words, " * 20 + "café.\n").encode(encoding)) == "Plain words, " * 20 + "café.\n"


def test_a_byte_order_mark_that_lies_is_refused():
    with pytest.raises(CorpusError, match="UTF-16-LE byte-order mark but is not valid"):
        read_text(b"\xff\xfea\x00\x00\xd8")  # a lone surrogate


def test_the_cp1252_case_is_refused_with_the_reason_and_read_with_the_fallback():
    data = case("cp1252.txt").read_bytes()
    with pytest.raises(CorpusError) as e:
        read_text(case("cp1252.txt"))
    msg = str(e.value)
    assert "cp1252.txt is not valid UTF-8: byte 0x93 at byte 0" in msg
    assert "Windows-1252" in msg and "guess" in msg  # the detector suggests...
    assert "--latin1" in msg and "latin1_fallback=True" in msg  # ...and the user decides
    text = read_text(data, latin1_fallback=True)
    vocab = Vocab.from_text(text)
    assert set("’“”–") <= set(vocab.chars)
    assert not C1 & set(vocab.chars)


def test_the_fallback_is_windows_1252_and_latin1_only_where_1252_has_no_character():
    assert read_text("’ “ ” – — € … ™ œ Ÿ café".encode("cp1252"), latin1_fallback=True) == "’ “ ” – — € … ™ œ Ÿ café"
    undefined = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])
    text = read_text(undefined + b" and plenty of ordinary text around it " * 20, latin1_fallback=True)
    assert text[:5] == "\x81\x8d\x8f\x90\x9d"  # what Windows does with them; nothing is lost
    assert read_text("café".encode(), latin1_fallback=True) == "café"  # UTF-8 stays UTF-8
    cat = codecs.BOM_UTF8 + "naïve\n".encode() + "’quoted’\n".encode("cp1252")  # cat utf8.txt cp1252.txt
    with pytest.raises(CorpusError, match="not valid UTF-8: byte 0x92 at byte 10"):
        read_text(cat)
    assert read_text(cat, latin1_fallback=True) == "naÃ¯ve\n’quoted’\n"  # the user's choice: the whole file


def test_the_detector_only_suggests_and_is_silent_on_a_few_bytes():
    polish = "Zażółć gęślą jaźń, to jest zwykły tekst po polsku.\n".encode("cp1250") * 4
    with pytest.raises(CorpusError, match=r"looks like Windows-1250.*guess.*would misread it"):
        read_text(polish)
    with pytest.raises(CorpusError) as e:
        read_text("café".encode("latin-1"))
    assert "byte 0xe9 at byte 3" in str(e.value) and "looks like" not in str(e.value)


def test_line_endings_boms_from_cat_and_page_breaks():
    joined = "\ufeffone\r\ntwo\r".encode() + "\ufeffthree\ffour\u2028five\u2029six\x85seven\vend".encode()
    assert read_text(joined) == "one\ntwo\nthree\nfour\nfive\nsix\nseven\nend"
    kept = "می\u200cخواهم 👩\u200d💻 zero\u200bwidth"  # ZWNJ in Persian, ZWJ in an emoji: part of the text
    assert read_text(kept.encode()) == kept


def test_one_normalisation_nfc_for_corpus_and_prompt():
    assert read_text("cafe\u0301".encode()) == "caf\u00e9"
    assert normalize_text("cafe\u0301\r\n\ufeff") == "caf\u00e9\n"
    nfc_vocab, old_vocab = Vocab.from_text("le café"), Vocab.from_text(unicodedata.normalize("NFD", "le café"))
    assert fit_prompt(nfc_vocab, "cafe\u0301") == "caf\u00e9"  # decomposed typed, composed stored
    assert fit_prompt(old_vocab, "caf\u00e9") == "cafe\u0301"  # a checkpoint from before NFC reading
    assert fit_prompt(nfc_vocab, "cafés") == "cafés" and nfc_vocab.unknown(fit_prompt(nfc_vocab, "cafés")) == ["s"]


def test_the_nfd_case_trains_and_a_precomposed_prompt_samples():
    text = read_text(case("nfd.txt"))
    assert "\u0301" not in text and "le caf\u00e9" in text
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), seq_len=16)
    bundle = Bundle(build_model("gru", len(vocab), make_config("gru", n_hidden=16, n_layer=1)), vocab, "gru")
    for _ in train(bundle, tr, va, TrainConfig(max_steps=5, time_budget=None, batch_size=4, seq_len=16)):
        pass
    probs = next_char_probs(bundle.model, vocab, "le caf\u00e9", 1.0)
    assert len(probs) == len(vocab) and sum(p for _, p in probs) == pytest.approx(1.0)
    assert generate(bundle.model, vocab, "le caf\u00e9", 20, 0.8, seed=0).startswith("le caf\u00e9")
    # a model trained before corpora were normalised holds e + U+0301: the same prompt still works
    raw = unicodedata.normalize("NFD", text)
    old = Vocab.from_text(raw)
    model = build_model("gru", len(old), make_config("gru", n_hidden=8, n_layer=1))
    assert len(next_char_probs(model, old, "le caf\u00e9")) == len(old)
    assert generate(model, old, "le caf\u00e9", 5, seed=0).startswith("le cafe\u0301")


def test_binary_is_refused_with_where_but_utf16_is_not_binary():
    with pytest.raises(CorpusError, match=r"binary file, not text: a NUL byte at byte 4"):
        read_text(b"PK\x03\x04\x00\x00" + bytes(range(256)) * 8)
    with pytest.raises(CorpusError, match=r"binary file, not text: 1000 control characters"):
        read_text(bytes([7, 0, 1, 0]) * 500)  # NULs like UTF-16's, but they decode to control codes
    with pytest.raises(CorpusError, match=r"binary file, not text: a NUL character at character 2"):
        read_text(codecs.BOM_UTF16_LE + ("ab\x00" + "text " * 100).encode("utf-16-le"))
    with pytest.raises(CorpusError, match="binary file, not text: .* control characters"):
        read_text(bytes(range(1, 32)) * 100)


class _Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


def test_dash_reads_standard_input_within_the_size_bound(monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin("from a pipe\r\n".encode("utf-16")))
    assert read_text("-") == "from a pipe\n"
    big = _Stdin(b"x" * 1000)
    monkeypatch.setattr(sys, "stdin", big)
    with pytest.raises(CorpusError, match="standard input is more than 100 bytes, the limit"):
        read_text("-", max_bytes=100)
    assert big.buffer.tell() == 101  # read no more than one byte past the bound
    monkeypatch.setattr(sys, "stdin", _Stdin(b""))
    with pytest.raises(CorpusError, match=r"standard input is empty \(or only white space\)"):
        read_text("-")
    monkeypatch.setattr(sys, "stdin", None)  # pythonw, or a service without one
    with pytest.raises(CorpusError, match="cannot read standard input"):
        read_text("-")


def test_folders_missing_unreadable_large_and_empty_files(tmp_path, monkeypatch):
    with pytest.raises(CorpusError, match="is a folder, not a text file"):
        read_text(tmp_path)
    with pytest.raises(CorpusError, match="no such file: .*nope.txt"):
        read_text(tmp_path / "nope.txt")
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 200)
    with pytest.raises(CorpusError, match="big.txt is 200 bytes; the limit is 100 bytes"):
        read_text(big, max_bytes=100)
    for blank in (b"", b" \r\n\t\n", "\ufeff".encode(), "\ufeff \n".encode("utf-16")):
        (tmp_path / "blank.txt").write_bytes(blank)
        with pytest.raises(CorpusError, match=r"blank.txt is empty \(or only white space\)"):
            read_text(tmp_path / "blank.txt")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # chmod 000 does not stop root, who runs some CI
    with pytest.raises(CorpusError, match="cannot read .*big.txt: permission denied"):
        read_text(big)
