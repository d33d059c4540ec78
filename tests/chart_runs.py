"""Finished runs as the Compare chart gets them (`charrnn.record.RunRecord`, no training): the races a tester saw
drawn badly, for the figure's unit tests and the page's browser tests."""

from __future__ import annotations

import math

from charrnn.bundle import History
from charrnn.record import RunRecord

# (where the text came from, its length, ln V, unigram entropy): two texts whose losses do not compare
WEATHER = ("example weather", 30_000, math.log(66), 3.36)
BRACKETS = ("example brackets", 20_000, math.log(7), 1.89)


def finished(run_id: int, label: str, final: float, steps: int, text=WEATHER, start: float | None = None) -> RunRecord:
    """A finished run on `text` whose validation loss falls in a straight line from `start` (ln V) to `final`
    over `steps` steps, measured ten times, its training loss a little above it."""
    corpus, n_chars, uniform, unigram = text
    start = uniform if start is None else start
    h = History()
    for i in range(0, steps + 1, max(1, steps // 10)):
        loss = start + (final - start) * i / steps
        h.add(i, i * 64, i / 10, loss + 0.05)
        h.add_val(i, i * 64, i / 10, loss)
    return RunRecord(run_id, "gru", label, {}, 1, corpus, n_chars, int(n_chars * 0.9), 0, curve=h, steps=steps,
                     final_val=final, stop_reason="time_budget", uniform=uniform, unigram=unigram)


def phone_race() -> list[RunRecord]:
    """What a tester's phone showed (m_04_compare.png): a Train run, then a race of five on the same text, three of
    them ending at the uniform guess near each other (the race's LSTM lost its label), after a run on another
    text first."""
    return [finished(1, "nn.RNN 192×2", 1.552, 24, BRACKETS),
            finished(2, "nn.LSTM 192×2", 4.186, 18),
            finished(3, "n-gram (counted) order 4", 0.284, 27, start=0.6),
            finished(4, "RNN (from scratch) 128×1", 2.699, 38),
            finished(5, "nn.RNN 128×1", 1.558, 83),
            finished(6, "nn.GRU 192×2", 4.071, 8),
            finished(7, "nn.LSTM 192×2", 4.196, 12)]


def ladder() -> list[RunRecord]:
    """The ladder lesson's seven rungs (d_41_ladder.txt's names and finals)."""
    rungs = [("MLP (fixed context) 256×1", 0.439, 225),
             ("RNN (from scratch) 128×1 · stateless · loss on last", 1.979, 95),
             ("RNN (from scratch) 128×1 · concat · stateless · loss on last", 1.507, 133),
             ("nn.RNN 128×1 · stateless · loss on last", 1.575, 172),
             ("nn.RNN 128×1 · stateless", 0.840, 150),
             ("nn.RNN 128×1", 0.963, 130),
             ("RNN (from scratch) 128×1 · relu · identity init · stateless", 1.172, 120)]
    return [finished(i + 1, label, final, steps) for i, (label, final, steps) in enumerate(rungs)]
