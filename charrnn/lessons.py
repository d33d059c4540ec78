"""The classic comparisons, one click each: a text, the models to race, their settings, what to look for.

    lesson = LESSONS["compare"]
    race(text, lesson.entrants, time_budget=lesson.time_budget, shared=lesson.shared, ...)

Plain data: the page's lesson buttons, its links (?lesson=compare), the /race endpoint and
`benchmarks/race.py` all read this table. `example` names a corpus of `examples_corpora/` (None: the
text the learner chose, so the comparison runs on their own text); `max_chars` keeps only the start of
it (a tiny text for the memorising lesson); `checker` names the example whose checker scores the samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from .race import Entrant


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    look_for: str  # markdown: what to watch on the chart, the table and the film strips
    entrants: tuple[Entrant, ...]
    time_budget: float  # seconds per model (the link's budget overrides it)
    shared: dict  # settings every model of the race uses (one batch_size and seq_len: the same characters)
    example: str | None = None  # None: the learner's own text
    max_chars: int | None = None  # keep only the first N characters of the text
    checker: str | None = None  # score the samples with CHECKERS[checker]


NGRAM_TRAIN_LOSS = (
    "**Why the n-gram's training loss can rise while its validation loss falls:** it learns by counting, one "
    "chunk of text per step, and its \"training loss\" is measured on the chunk it has just counted. At first "
    "the counts are little more than that chunk, so it predicts it almost perfectly — memory, not skill. As "
    "more text is counted, each chunk is a smaller part of the counts and its loss rises towards the loss on "
    "new text, while the validation loss falls because more contexts have been seen. Counting has no learning "
    "rate or batch size, so the page hides them for it.")

LESSONS: dict[str, Lesson] = {lesson.key: lesson for lesson in [
    Lesson(
        "compare", "n-gram → RNN → GRU → LSTM",
        "The classic comparison on **your text**: the same split, the same seed, one batch size and sequence "
        "length, so the four recurrent networks read the same characters in the same order. Look at the "
        "**validation** curves (solid): the counted n-gram drops fast and stops; the hand-written RNN is the "
        "same maths as `nn.RNN` but slower (switch the x axis to *seconds*, then to *characters seen*); the "
        "gated GRU and LSTM keep going down. In the table compare *chars/s* and *copied*: a high copied share "
        "means the model recalls the text rather than writing its own.\n\n" + NGRAM_TRAIN_LOSS,
        (Entrant("ngram"), Entrant("rnn-scratch"), Entrant("rnn"), Entrant("gru"), Entrant("lstm")),
        20.0, {"batch_size": 16, "seq_len": 64}),
    Lesson(
        "ladder", "The ladder: from three characters to a stateful RNN",
        "One step at a time, as a classic course builds it (all on the same text, batch size and window): "
        "**1** three characters in, the fourth out (an MLP); **2** a loop: a hand-written RNN with the loss on the "
        "window's *last* position only, each window from a fresh state; **3** the same with the input and state "
        "*concatenated* instead of added (the same function written two ways: the curves should nearly agree); "
        "**4** `nn.RNN`, same set-up, faster; **5** a prediction at *every* position (many more training signals "
        "per window: a steeper curve per step); **6** the state *carried* between batches (TBPTT: it sees past "
        "its window); **7** identity initialisation with ReLU (Le, Jaitly & Hinton 2015) instead of the default.",
        (Entrant("mlp", {"context": 3}),
         Entrant("rnn-scratch", {"stateless": True, "loss_on": "last"}),
         Entrant("rnn-scratch", {"stateless": True, "loss_on": "last", "combine": "concat"}),
         Entrant("rnn", {"stateless": True, "loss_on": "last"}),
         Entrant("rnn", {"stateless": True}),
         Entrant("rnn"),
         Entrant("rnn-scratch", {"nonlinearity": "relu", "identity_init": True})),
        10.0, {"batch_size": 32, "seq_len": 32}),
    Lesson(
        "gates", "Why gates: brackets, RNN vs LSTM",
        "Which bracket closes next depends on what was opened, perhaps many characters back. The plain RNN's "
        "memory fades; the LSTM's gates let it keep a stack. The **score** column is the share of balanced lines "
        "in each model's sample (the example's own checker, 0 to 1) — compare it with the loss: a small "
        "difference in loss can be a large difference in what the model can do.",
        (Entrant("rnn"), Entrant("lstm")), 30.0, {"batch_size": 32, "seq_len": 64},
        example="brackets", checker="brackets"),
    Lesson(
        "memorise", "Memorising: a tiny text and a large model",
        "Only the first 3,000 characters of the weather reports, and models far too large for them. Watch the "
        "LSTM's **training** loss (dotted) keep falling while its **validation** loss (solid) turns and rises: "
        "it is learning *this* text by heart, not the language. The film strip shows it too: the highlighted "
        "spans are copied verbatim from the training text, and the *copied* share climbs. The order-8 n-gram "
        "copies from the start.\n\n" + NGRAM_TRAIN_LOSS,
        (Entrant("ngram", {"order": 8}), Entrant("lstm", {"n_hidden": 384, "n_layer": 2, "dropout": 0.0})),
        30.0, {"batch_size": 16, "seq_len": 64}, example="weather", max_chars=3000),
]}
