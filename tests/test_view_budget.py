"""Issue 18, item 2: every Inside view bounded before it computes. On a text of 8,002 distinct characters the
embedding map took 56 s and 3.6 GB and the bigram table 141 s and a 128 MB figure while the server answered
nothing. A view's cost is estimated first (`charrnn.inspect.cost`); over the server's view budget a view over
text is computed on a sample and says so, one that cannot fit is refused in words; the maps draw at most
MAP_CHARS characters, the most frequent.
"""

from __future__ import annotations

import random
import time

import pytest
import torch
from gradio_client import Client

from charrnn import inspect
from charrnn.corpus import Vocab
from charrnn.inspect.cost import MAP_CHARS, VIEWS, view_cost
from charrnn.limits import Limits, fit_view
from charrnn.models import build_model, make_config
from charrnn.options import SettingError
from charrnn_app.settings import Settings

BIG_V = 8_002  # the Chinese text


def big_vocab_text(n_chars: int = BIG_V, repeats: int = 3, seed: int = 0) -> str:
    """A text of `n_chars` distinct CJK characters, each `repeats` times, shuffled; a few of them common."""
    chars = [chr(0x4E00 + i) for i in range(n_chars)]
    rng = random.Random(seed)
    body = chars * repeats + chars[:50] * 200  # the first 50 characters make up most pairs
    rng.shuffle(body)
    return "".join(body)


def test_a_big_vocabulary_bigram_table_draws_the_most_frequent_characters_only():
    text = big_vocab_text()
    vocab = Vocab.from_text(text)
    model = build_model("ngram", len(vocab), make_config("ngram", order=2))
    model.fit_counts(vocab.encode(text))
    table = inspect.bigram_table(model, vocab, max_chars=MAP_CHARS)
    assert len(table.chars) == MAP_CHARS and len(table.counts) == MAP_CHARS and table.vocab_size == len(vocab)
    assert {chr(0x4E00 + i) for i in range(50)} <= set(table.chars)  # the common ones are in
    assert table.total == len(text) - 1 and 0 < table.shown < table.total
    dense = model.pair_counts()  # the same counts as the whole (V, V) table, restricted to the drawn ones
    ids = torch.tensor([vocab.stoi[c] for c in table.chars])
    assert torch.equal(torch.tensor(table.counts), dense[ids][:, ids])
    small = inspect.bigram_table(model, vocab)  # no bound: every character (the Python API)
    assert len(small.chars) == len(vocab) and small.shown == small.total


def test_a_view_over_the_budget_is_cut_to_the_longest_start_that_fits_or_refused():
    model = build_model("gru", BIG_V, make_config("gru", n_hidden=32))
    whole = view_cost("predictions", model, "gru", 2_000)
    limits = Limits(max_view_mb=whole.mb / 3, max_view_seconds=None)
    fit = fit_view("predictions", model, "gru", 2_000, limits)
    assert fit.cut and 2 <= fit.chars < 2_000 and fit.whole == whole
    assert fit.cost.mb <= limits.max_view_mb < view_cost("predictions", model, "gru", fit.chars + 1).mb
    assert not fit_view("predictions", model, "gru", 2_000, Limits()).cut  # no bounds: the whole text
    with pytest.raises(SettingError, match="would need about .* even on 2 characters .* 8,002 characters"):
        fit_view("predictions", model, "gru", 2_000, Limits(max_view_mb=0.01))


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_every_view_has_a_cost_that_grows_with_the_vocabulary(view):
    small, big = (build_model("gru", V, make_config("gru", n_hidden=32)) for V in (60, BIG_V))
    assert 0 < view_cost(view, small, "gru", 500).bytes <= view_cost(view, big, "gru", 500).bytes


# ---- through a real server ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    examples = tmp_path_factory.mktemp("examples")
    (examples / "chinese.txt").write_text(big_vocab_text())
    return Settings(concurrency=2, max_seconds=30, examples_dir=examples, max_view_mb=60, max_view_seconds=5)


@pytest.mark.server
def test_big_vocabulary_views_through_a_real_server_are_bounded_and_say_so(server):
    gru, ngram, other = (Client(server, verbose=False, download_files=False) for _ in range(3))
    gru.predict(example="chinese", model="gru", max_steps=1, n_hidden=16, n_layer=1, api_name="/train")
    ngram.predict(example="chinese", model="ngram", max_steps=1, order=2, api_name="/train")
    text = big_vocab_text()[:2_000]
    t = time.perf_counter()
    *_, data = gru.predict(text=text, api_name="/predictions")
    assert data["sampled"].startswith("Computed on a sample: the first ") and len(data["text"]) < 2_000
    _, summary, data = gru.predict(api_name="/embedding_map")
    assert len(data["chars"]) == MAP_CHARS and data["vocab_size"] == BIG_V and "most frequent" in summary
    _, summary, data = ngram.predict(api_name="/embedding_map")  # an n-gram: its bigram table
    assert len(data["chars"]) == MAP_CHARS and data["vocab_size"] == BIG_V and "most pairs" in summary
    assert time.perf_counter() - t < 60  # the 56 + 141 s; each view here is bounded at 5 s
    status = other.predict(text="ab", api_name="/describe_corpus")  # the server still answers everyone
    assert status
