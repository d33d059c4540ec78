"""The next-character chart, readable: the data behind it and a prompt worth looking at.

    next_char_chart(model, vocab, prompt, temperature) ─► bars: char, short label, p at T, p at T=1
    default_prompt(text) ─► a prompt from the corpus after which the next character is uncertain

What temperature does is easiest to see against the model's own distribution (T = 1) drawn faintly
behind (as the Transformer Explainer does, Cho et al. 2024); after a prompt where one character is
almost certain (a newline after "ROMEO:") every temperature looks the same, so the default prompt
ends in the middle of a common word, where several letters are plausible.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..corpus import Vocab
from ..models.base import CharModel
from ..sample import next_char_probs
from .common import MAX_CHARS, char_name, readable


@dataclass
class NextCharChart:
    prompt: str  # the prompt used (its last max_chars characters)
    temperature: float
    chars: list[str]  # the characters shown, likeliest first under T = 1
    labels: list[str]  # one short symbol each (␣ ⏎ ⇥ for space, newline, tab): labels never overlap
    names: list[str]  # hover text: "space", "newline", "tab" or the character
    probs: list[float]  # P at `temperature` (with top_k)
    probs_t1: list[float]  # P at temperature 1, no top-k: the model's own distribution, for the faint bars


def next_char_chart(model: CharModel, vocab: Vocab, prompt: str, temperature: float, *,
                    top_k: int | None = None, min_prob: float = 1e-3, max_bars: int = 30,
                    max_chars: int = MAX_CHARS) -> NextCharChart:
    """The next-character distribution at `temperature` and at 1, for a bar chart.

    A character is drawn when either distribution gives it at least `min_prob`; characters with
    (nearly) zero probability in both are dropped, so temperature 0 draws one full bar over the
    faint T = 1 bars rather than a row of empty ones. At most `max_bars`, likeliest first.
    Only the prompt's last `max_chars` characters are fed, and for a model that sees a bounded
    context only its last `model.context` ones: the same distribution, as the rest would fall out of
    view, without feeding thousands of characters one at a time.
    """
    keep = min(max_chars, model.context) if model.context else max_chars
    prompt = prompt[-keep:]
    at_t = dict(next_char_probs(model, vocab, prompt, temperature, top_k))
    at_1 = next_char_probs(model, vocab, prompt, 1.0, None)  # likeliest first
    shown = [c for c, p in at_1 if p >= min_prob or at_t[c] >= min_prob][:max_bars]
    return NextCharChart(prompt, temperature, shown, [readable(c) for c in shown], [char_name(c) for c in shown],
                         [at_t[c] for c in shown], [dict(at_1)[c] for c in shown])


def default_prompt(text: str, *, max_len: int = 40, min_count: int = 5, scan_chars: int = 200_000) -> str:
    """A prompt from `text` after which the next character is genuinely uncertain.

    Counts, over the first `scan_chars` characters, which character follows each word beginning of
    one to three letters (" th" → e, a, i, r …) and picks the beginning, seen at least `min_count`
    times, whose next character has the highest entropy, among those rarely followed by a newline.
    The prompt is that beginning at its first place in the middle of a line, with the line before it
    (at most `max_len` characters, cut at a space). Falls back to the most uncertain two-character
    context, and to "" for a text too short or too uniform to have one.
    """
    text = text[:scan_chars]
    follow: dict[str, Counter] = defaultdict(Counter)
    for i, c in enumerate(text):
        if c.isalpha() and (i == 0 or not text[i - 1].isalpha()):  # a word starts at i
            for n in (1, 2, 3):
                j = i + n
                if j < len(text) and text[i:j].isalpha():
                    follow[text[i:j]][text[j]] += 1
    best = _most_uncertain(follow, min_count)
    if best is None:  # no words: any two-character context
        pairs: dict[str, Counter] = defaultdict(Counter)
        for i in range(2, len(text)):
            if "\n" not in text[i - 2:i]:
                pairs[text[i - 2:i]][text[i]] += 1
        best = _most_uncertain(pairs, min_count)
        if best is None:
            return ""
        return _in_line(text, best, max_len, word=False)
    return _in_line(text, best, max_len, word=True)


def _entropy(counts: Counter) -> float:
    n = sum(counts.values())
    return -sum(c / n * math.log(c / n) for c in counts.values())


def _most_uncertain(follow: dict[str, Counter], min_count: int) -> str | None:
    scored = [(_entropy(c), len(key), key) for key, c in follow.items()
              if sum(c.values()) >= min_count and c["\n"] < 0.1 * sum(c.values())]
    return max(scored)[2] if scored else None


def _in_line(text: str, key: str, max_len: int, word: bool) -> str:
    """The first place `key` starts (a word, when `word`) mid-line, with the line before it."""
    start = 0
    while (i := text.find(key, start)) >= 0:
        start = i + 1
        line_start = text.rfind("\n", 0, i) + 1
        if i == line_start or (word and text[i - 1].isalpha()):
            continue
        before = text[line_start:i]
        if len(before) + len(key) > max_len:  # keep the end of the line, from a space
            before = before[-(max_len - len(key)):]
            cut = before.find(" ")
            before = before[cut + 1:] if 0 <= cut < len(before) - 1 else before
        return before + key
    return key
