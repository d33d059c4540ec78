"""The CLI with corpora of any size: cached ids, one-line refusals, and a loss that says what it covers."""

import io
import json
import os
import sys
from pathlib import Path

import pytest

from charrnn import cli, textcache, textstore

ROOT = Path(__file__).resolve().parents[1]
SANITY = ROOT / "examples_corpora" / "sanity.txt"
TINY = ["--model", "gru", "--n-hidden", "16", "--n-layer", "1", "--seq-len", "16", "--batch-size", "8",
        "--threads", "1", "--quiet"]


def train(tmp_path, corpus, *args, capsys) -> tuple[int, str, str, dict | None]:
    metrics = tmp_path / "m.json"
    metrics.unlink(missing_ok=True)
    rc = cli.main(["train", str(corpus), "--max-steps", "3", "--out", str(tmp_path / "m.safetensors"),
                   "--metrics-json", str(metrics), *TINY, *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err, json.loads(metrics.read_text()) if metrics.exists() else None


def test_the_final_figure_says_how_much_held_out_text_it_covered(tmp_path, capsys):
    rc, out, _, m = train(tmp_path, SANITY, "--final-eval-chars", "none", capsys=capsys)
    held_out = int(SANITY.read_text().__len__() * 0.1) - 1  # every character after the first is predicted
    assert rc == 0 and m["val_kind"] == "full" and m["val_chars"] == held_out
    assert f"on the whole held-out text ({held_out:,} characters)" in out
    rc, out, _, m = train(tmp_path, SANITY, "--final-eval-chars", "500", capsys=capsys)
    assert rc == 0 and m["val_kind"] == "first 500 characters" and m["val_chars"] == 500
    assert f"on the held-out text's first 500 characters (of {held_out:,})" in out
    assert m["world_size"] == 1  # one process: torchrun comes later
    assert m["first_step_seconds"] > 0.05  # from the process start: the interpreter and torch came before it


def test_a_large_corpus_is_cached_beside_it_and_reused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(textstore, "CACHE_MIN_BYTES", 0)  # the size from which a cache file is kept
    corpus = tmp_path / "big.txt"
    corpus.write_bytes(SANITY.read_bytes() * 20)
    rc, out, _, first = train(tmp_path, corpus, capsys=capsys)
    cache = tmp_path / ".big.txt.charrnn.ids"
    assert rc == 0 and cache.exists()
    built = cache.stat().st_mtime_ns
    rc, out, _, again = train(tmp_path, corpus, capsys=capsys)
    assert rc == 0 and cache.stat().st_mtime_ns == built  # mapped, not written again
    assert again["val_loss"] == first["val_loss"] and again["corpus_chars"] == first["corpus_chars"]


def test_standard_input_trains_too(tmp_path, capsys, monkeypatch):
    class Stdin:
        buffer = io.BytesIO(SANITY.read_bytes().replace(b"\n", b"\r\n"))

    monkeypatch.setattr(sys, "stdin", Stdin())
    rc, out, _, m = train(tmp_path, "-", capsys=capsys)
    assert rc == 0 and out.startswith("done:") and m["corpus_chars"] == len(SANITY.read_text())


class _Usage:
    total, used, free = 10**6, 0, 10_000


@pytest.mark.parametrize("case", ["folder", "missing", "empty", "binary", "no room on disk"])
def test_bad_corpora_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, case):
    corpus = tmp_path / "c.txt"
    if case == "folder":
        corpus = tmp_path
    elif case == "empty":
        corpus.write_bytes(b"\r\n \n")
    elif case == "binary":
        corpus.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    elif case == "no room on disk":  # a full disk cannot be made here: the system's figure for one
        corpus.write_bytes(SANITY.read_bytes())
        monkeypatch.setattr(textstore, "CACHE_MIN_BYTES", 0)
        monkeypatch.setattr(textcache.shutil, "disk_usage", lambda p: _Usage())
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rc, out, err, _ = train(tmp_path, corpus, capsys=capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("charrnn: error: ")
    expected = {"folder": "is a folder, not a text file", "missing": "no such file", "empty": "is empty",
                "binary": "looks like a binary file", "no room on disk": "has 10,000 bytes free"}[case]
    assert expected in err
    assert not (tmp_path / "m.safetensors").exists() and not [p for p in tmp_path.rglob("*.tmp")]


def test_read_only_shared_data_is_cached_in_the_user_cache_folder(tmp_path, capsys, monkeypatch):
    shared = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
    if not shared.is_file():
        pytest.skip(f"{shared} is missing (the shared data lives beside the repository)")
    if os.stat(shared.parent).st_mode & 0o222:
        pytest.skip(f"{shared.parent} is writable here; the read-only case needs it read-only, as in CI")
    monkeypatch.setattr(textstore, "CACHE_MIN_BYTES", 0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = sorted(p.name for p in shared.parent.iterdir())
    rc, out, err, _ = train(tmp_path, shared, capsys=capsys)
    assert rc == 0, err
    assert sorted(p.name for p in shared.parent.iterdir()) == before
    assert [p.name.startswith("tinyshakespeare.txt-") for p in (tmp_path / "cache" / "charrnn").iterdir()] == [True]
