"""The copied-span detector, against hand-made cases and a brute-force reference."""

import random

import pytest

from charrnn import copying
from charrnn.copying import CopyIndex, copied_spans

LETTERS = "abcdefghijklmnopqrstuvwxyz "


def reference_spans(text: str, sample: str, min_len: int) -> list[tuple[int, int]]:
    """Brute force from the definition: a character is copied when some piece of the sample at least
    `min_len` long around it occurs in the text; spans are the maximal runs of copied characters."""
    copied = [False] * len(sample)
    for start in range(len(sample)):
        for end in range(start + min_len, len(sample) + 1):
            if sample[start:end] in text:
                copied[start:end] = [True] * (end - start)
    spans, start = [], None
    for i, c in enumerate([*copied, False]):
        if c and start is None:
            start = i
        elif not c and start is not None:
            spans.append((start, i))
            start = None
    return spans


def random_text(rng: random.Random, n: int, alphabet: str = LETTERS) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_fingerprints_equal_the_polynomial_hashes_computed_with_python_integers():
    rng = random.Random(0)
    text = random_text(rng, 300, "ab\n Zürich°C🙂\U0010ffff")
    for k in (1, 5, 12):
        got = copying._fingerprints(copying._code_points(text), k).tolist()
        want = []
        for i in range(len(text) - k + 1):
            h1 = h2 = 0
            for c in text[i : i + k]:
                h1 = (h1 * copying._BASES[0] + ord(c)) % copying._PRIME
                h2 = (h2 * copying._BASES[1] + ord(c)) % copying._PRIME
            want.append(h1 * copying._PRIME + h2)
        assert got == want


def test_finds_a_planted_span_with_exact_boundaries():
    rng = random.Random(1)
    text = random_text(rng, 30_000)
    piece = text[20_000:20_040]
    before = rng.choice([c for c in LETTERS if c != text[19_999]])  # so the copy cannot extend by chance
    after = rng.choice([c for c in LETTERS if c != text[20_040]])
    sample = random_text(rng, 500) + before + piece + after + random_text(rng, 500)
    assert copied_spans(text, sample) == [(501, 541)]
    assert CopyIndex(text).copied_share(sample) == pytest.approx(40 / len(sample))


def test_finds_nothing_in_random_text_of_the_same_alphabet():
    rng = random.Random(2)
    index = CopyIndex(random_text(rng, 100_000))
    sample = random_text(rng, 2_000)
    assert index.spans(sample) == []
    assert index.copied_share(sample) == 0.0


def test_copies_shorter_than_min_len_are_ignored():
    text = "the quick brown fox jumps over the lazy dog"
    assert copied_spans(text, "XX" + text[4:15] + "YY") == []  # 11 characters
    assert copied_spans(text, "XX" + text[4:16] + "YY") == [(2, 14)]  # 12 characters
    assert copied_spans(text, "XX" + text[4:15] + "YY", min_len=11) == [(2, 13)]


def test_overlapping_and_touching_copies_merge_and_a_gap_keeps_them_apart():
    first, second, third = "0123456789ab", "89abcdefghij", "klmnopqrstuv"
    text = first + "|" + second + "|" + third  # the three pieces occur apart
    # first and second overlap in the sample ("89ab"); the windows between them are nowhere in the text
    assert copied_spans(text, "0123456789abcdefghij") == [(0, 20)]
    assert copied_spans(text, first + third) == [(0, 24)]  # touching
    assert copied_spans(text, first + "#" + third) == [(0, 12), (13, 25)]  # one character apart


def test_empty_and_short_inputs():
    index = CopyIndex("some training text, long enough")
    assert index.spans("") == [] and index.copied_share("") == 0.0
    assert index.spans("some") == []  # shorter than min_len
    assert CopyIndex("").spans("anything at all, long enough") == []
    assert CopyIndex("short").spans("short short short") == []  # text shorter than min_len
    assert CopyIndex("").nbytes == 0


def test_a_sample_longer_than_the_text():
    text = "to be or not to be, that is"
    sample = "so " + text + text + " and more"
    assert copied_spans(text, sample) == [(3, 3 + len(text) * 2)]  # text+text: every 12-window is in text
    assert CopyIndex(text).copied_share(text) == 1.0


def test_characters_outside_the_basic_plane():
    text = "Zürich: 3°C, wind 🙂 from the north at 12 km/h."
    sample = "Oslo: 🙂 from the north at 40 km/h"
    assert copied_spans(text, sample) == reference_spans(text, sample, 12) == [(5, 26)]  # " 🙂 from the north at "


def test_min_len_must_be_a_positive_whole_number():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="min_len"):
            CopyIndex("text", min_len=bad)


@pytest.mark.parametrize("chunk", [1 << 20, 3])  # also: windows cut into many chunks while building
def test_equals_the_brute_force_reference_on_small_random_inputs(monkeypatch, chunk):
    monkeypatch.setattr(copying, "_CHUNK", chunk)
    rng = random.Random(3)
    for _ in range(300):
        alphabet = rng.choice(["ab", "abc", "abcd"])
        text = random_text(rng, rng.randint(0, 60), alphabet)
        sample = random_text(rng, rng.randint(0, 40), alphabet)
        if text and rng.random() < 0.5:  # plant a piece of the text
            start = rng.randrange(len(text))
            at = rng.randint(0, len(sample))
            sample = sample[:at] + text[start : start + rng.randint(1, 20)] + sample[at:]
        min_len = rng.randint(1, 8)
        index = CopyIndex(text, min_len)
        want = reference_spans(text, sample, min_len)
        assert index.spans(sample) == want, (text, sample, min_len)
        share = sum(end - start for start, end in want) / len(sample) if sample else 0.0
        assert index.copied_share(sample) == pytest.approx(share)


def test_the_baseline_tells_templated_text_from_recall():
    """Templated text copies long runs of its training part even when it is new, so its held-out text scores
    high too and a sample of it is not called recall; on varied text the baseline is low and a verbatim
    piece of the training text is."""
    rng = random.Random(3)
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    lines = [f"On {rng.choice(days)} the high will be {rng.randint(5, 30)} degrees with light wind.\n"
             for _ in range(600)]
    templated = "".join(lines)
    cut = int(len(templated) * 0.9)
    index = CopyIndex(templated[:cut])
    baseline = copying.baseline_share(index, templated[cut:], 200)
    assert baseline > 0.5  # new lines of this kind are mostly "copied"
    new_line_sample = "".join(lines[-4:])[:200]  # held-out lines: written, not recalled
    assert copying.recall_verdict(index.copied_share(new_line_sample), baseline) == "like new text"

    varied = "".join(rng.choice(LETTERS) for _ in range(20_000))
    index = CopyIndex(varied[:18_000])
    baseline = copying.baseline_share(index, varied[18_000:], 200)
    assert baseline < 0.05
    recalled = varied[500:600] + "".join(rng.choice(LETTERS) for _ in range(100))  # half of it verbatim
    assert copying.recall_verdict(index.copied_share(recalled), baseline) == "recall"
    assert copying.recall_verdict(0.5, None) is None
    assert copying.baseline_share(index, "too short", 200) is None
    with pytest.raises(ValueError):
        copying.baseline_share(index, varied, 0)
