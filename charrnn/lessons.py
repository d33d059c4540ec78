"""The classic comparisons, one click each: a text, the models to race, their settings, what to look at,
and the claims the lesson makes — each checked on the race it just ran.

    lesson = LESSONS["compare"]
    update = … race(text, lesson.entrants, time_budget=lesson.time_budget, shared=lesson.shared, ...)
    for verdict in lesson.verdicts(update.records):   # charrnn.claims.Verdict
        verdict.held, verdict.text                    # True / False / None, and the words for that outcome

Plain data: the page's lesson buttons, its links (?lesson=compare), the /race endpoint and
`benchmarks/race.py` all read this table. `example` names a corpus of `examples_corpora/` (None: the
text the learner chose, so the comparison runs on their own text); `max_chars` keeps only the start of
it (a tiny text for the memorising lesson); `checker` names the example whose checker scores the samples.

`look_for` says what to look at, never what will be seen: what a race shows depends on the text, the
budget and the machine (a GRU on a CPU trains at a third of an LSTM's speed; on a GPU both are fused).
What the lesson concludes comes from `claims`, judged on the race's own records (`charrnn.claims`).
Models that a claim compares for speed or for "the same maths" are raced at equal sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .claims import (
    Claim,
    Verdict,
    below_at_equal,
    copies,
    ends_below,
    faster,
    inside_warmup,
    learned,
    memorises,
    near_at_equal,
    near_or_below,
    scores_higher,
    warmup_of,
)
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
    claims: tuple[Claim, ...] = ()  # what the lesson concludes, each checked on the race

    def verdicts(self, records: Sequence) -> list[Verdict]:
        """Every claim judged on a race of this lesson (`records` in the order of `entrants`)."""
        return [claim.judge(records) for claim in self.claims]

    def budget_warnings(self, budget: float, plans: Sequence = (), records: Sequence = ()) -> list[str]:
        """Before and during a race of `budget` seconds per model: a warning for each run a claim needs trained
        (`Claim.trained`) whose learning-rate warm-up takes longer than the budget — at its own step rate once
        it has one (`records`), else at the plans' estimated step time (`charrnn.claims.warmup_of`)."""
        needed = sorted({i for claim in self.claims if claim.trained for i in claim.runs})
        warnings = []
        for i in needed:
            warm = warmup_of(records[i] if i < len(records) else None, plans[i] if i < len(plans) else None)
            words = warm.warning(budget) if warm is not None else None
            if words:
                warnings.append(words)
        return warnings

    def conclusions(self, records: Sequence) -> str:
        """What this race showed, as the page shows it after a lesson's race: one markdown paragraph per claim,
        the words of its outcome (held, not held, or why the race cannot tell) — and, where a claim that needs its
        runs trained did not hold, why, when one of them stopped inside its warm-up (`charrnn.claims.inside_warmup`)."""
        verdicts = self.verdicts(records)
        failed = {i for claim, v in zip(self.claims, verdicts, strict=True) if claim.trained and not v.held
                  for i in claim.runs if i < len(records)}
        whys = [why for why in (inside_warmup(records[i]) for i in sorted(failed)) if why]
        return "\n\n".join([v.text for v in verdicts] + whys)


NGRAM_TRAIN_LOSS = (
    "**Why the n-gram's training loss can rise while its validation loss falls:** it learns by counting, one "
    "chunk of text per step, and its \"training loss\" is measured on the chunk it has just counted. At first "
    "the counts are little more than that chunk, so it predicts it almost perfectly — memory, not skill. As "
    "more text is counted, each chunk is a smaller part of the counts and its loss rises towards the loss on "
    "new text, while the validation loss falls because more contexts have been seen. Counting has no learning "
    "rate or batch size, so the page hides them for it.")

GRU_ON_CPU = (
    "On a CPU PyTorch runs the LSTM through oneDNN's fused LSTM kernel, but has no such kernel for the GRU: "
    "it runs the GRU's small operations one by one, each time step, forward and backward, and at these "
    "sizes the overhead of those operations, not the arithmetic, sets its speed. In a race for equal time "
    "the GRU therefore sees fewer characters; switch the x axis to *characters seen* to compare what each "
    "learns from the same text. (On a GPU both are fused, and a GRU, with three quarters of the weights of an LSTM "
    "of the same shape, is the faster.)")

# ---- the comparison: n-gram → RNN → GRU → LSTM ------------------------------------------------------
# entrants: 0 n-gram, 1 hand-written RNN 128×1, 2 nn.RNN 128×1 (the same size: the same maths), 3 GRU ×1, 4 LSTM ×1
COMPARE = (
    Claim("fused_faster", "nn.RNN trains faster than the hand-written RNN of the same size", faster(2, 1, 1.1),
          "**Same size, faster code.** {a} read {speed_a:,.0f} characters a second, {ratio:.1f}× the {b}'s "
          "{speed_b:,.0f}: the same computation without Python's overhead at every character. (On a CPU PyTorch's "
          "own RNN also steps through the text one character at a time, so the gap is modest; on a GPU it is "
          "large.)",
          "**Same size, same speed.** {a} read {speed_a:,.0f} characters a second and the {b} {speed_b:,.0f}: on a "
          "CPU both step through the text one character at a time, and at this size the Python loop costs "
          "little.", runs=(2, 1), trained=False),
    Claim("same_maths", "the hand-written RNN and nn.RNN learn alike from the same characters",
          near_at_equal(1, 2, "chars", 0.1),
          "**The same maths.** After the same {x:,.0f} characters the {a} was at {loss_a:.3f} and {b} at "
          "{loss_b:.3f} nats/char: one cell, written two ways (their initial weights differ, so the curves "
          "are not identical).",
          "**Not the same curve here.** After the same {x:,.0f} characters the {a} was at {loss_a:.3f} and {b} at "
          "{loss_b:.3f} nats/char, {diff:.2f} apart. They compute the same function, but start from different "
          "random weights; in a short race that difference can show.",
          runs=(1, 2)),
    Claim("lstm_beats_rnn", "the LSTM ends below the plain RNN", ends_below(4, 2),
          "**Gates help.** The {a} ended at {loss_a:.3f} nats/char, {diff:.3f} below {b} ({loss_b:.3f}).",
          "**Not on this text.** The {a} ended at {loss_a:.3f} nats/char and {b} at {loss_b:.3f}: with this budget "
          "the plain RNN did as well. Gates pay off when what matters lies many characters back (try the "
          "brackets lesson).", runs=(4, 2)),
    Claim("gru_beats_rnn", "the GRU ends below the plain RNN", ends_below(3, 2),
          "**The GRU beats the plain RNN too:** {a} {loss_a:.3f} against {b} {loss_b:.3f} nats/char.",
          "**The GRU did not beat the plain RNN here:** {a} {loss_a:.3f} against {b} {loss_b:.3f} nats/char.",
          runs=(3, 2)),
    Claim("gru_slower", "the LSTM trains faster than the GRU on this machine", faster(4, 3, 1.3),
          "**Why the GRU lags in time:** it read {speed_b:,.0f} characters a second, the LSTM {speed_a:,.0f} "
          f"({{ratio:.1f}}×). {GRU_ON_CPU}",
          "**The GRU was not far behind here:** {speed_b:,.0f} characters a second against the LSTM's "
          "{speed_a:,.0f} ({ratio:.2f}×).",
          runs=(4, 3), trained=False),
    Claim("gru_per_char", "per character seen, the GRU is about as good as the LSTM",
          near_at_equal(3, 4, "chars", 0.05),
          "**Per character, as good:** after the same {x:,.0f} characters the {a} was at {loss_a:.3f} and the {b} "
          "at {loss_b:.3f} nats/char, within 0.05 of each other.",
          "**Per character, not as good here:** after the same {x:,.0f} characters the {a} was at {loss_a:.3f} and "
          "the {b} at {loss_b:.3f} nats/char, {diff:.2f} apart.", runs=(3, 4)),
    Claim("lstm_beats_ngram", "the LSTM ends below the counted n-gram", ends_below(4, 0),
          "**Learned beats counted:** the {a} ended {diff:.3f} nats/char below the {b} ({loss_a:.3f} against "
          "{loss_b:.3f}): the n-gram stops once the text is counted, the LSTM keeps finding context.",
          "**The n-gram held its own:** the {b} ended at {loss_b:.3f} nats/char and the {a} at {loss_a:.3f}. On a "
          "short budget, or a text that is mostly fixed phrases, counting is hard to beat.", runs=(4, 0)),
)

# ---- the ladder -------------------------------------------------------------------------------------
# 0 MLP (3 chars) · 1 hand-written RNN, loss on last, fresh state · 2 the same, concat · 3 nn.RNN, same set-up ·
# 4 loss at every position · 5 state carried (TBPTT) · 6 relu + identity init. Recurrent rungs: 128×1.
LADDER = (
    Claim("rnn_beats_window", "a recurrent network beats three characters of context", ends_below(5, 0),
          "**Rung 1 → 6: memory beats a window.** The {a} ended at {loss_a:.3f} nats/char, the {b} at "
          "{loss_b:.3f}.",
          "**Three characters were enough here:** the {b} ended at {loss_b:.3f}, the {a} at {loss_a:.3f}. On a text "
          "where the next character depends on more than the last three, the loop pulls ahead.", runs=(5, 0)),
    Claim("two_ways", "adding and concatenating are the same function", near_at_equal(1, 2, "step", 0.1),
          "**Rung 2 = rung 3.** After {x:,.0f} steps: {loss_a:.3f} (add) and {loss_b:.3f} (concat) nats/char — "
          "W_ih x + W_hh h and W [x; h] are one function written two ways (the initial weights differ).",
          "**Rungs 2 and 3 differ by {diff:.2f}** after {x:,.0f} steps ({loss_a:.3f} and {loss_b:.3f}): the same "
          "function, but different random initial weights, and a short race magnifies that.", runs=(1, 2)),
    Claim("fused_faster", "nn.RNN runs the same set-up faster", faster(3, 2, 1.1),
          "**Rung 4: the same network, {ratio:.1f}× faster** ({speed_a:,.0f} against {speed_b:,.0f} characters a "
          "second): PyTorch's built-in layer instead of a Python loop.",
          "**Rung 4 was not faster here** ({speed_a:,.0f} against {speed_b:,.0f} characters a second): on a CPU "
          "both step through the text one character at a time.", runs=(3, 2), trained=False),
    Claim("every_position", "a loss at every position learns more per step", below_at_equal(4, 3, "step"),
          "**Rung 5: more signal per step.** After {x:,.0f} steps, predicting every position reached {loss_a:.3f} "
          "nats/char and predicting only the last {loss_b:.3f}: each window now gives a training signal at every "
          "position instead of one.",
          "**Rung 5 was not ahead per step here** ({loss_a:.3f} against {loss_b:.3f} after {x:,.0f} steps).",
          runs=(4, 3)),
    Claim("carried_state", "carrying the state between batches helps", ends_below(5, 4, 0.01),
          "**Rung 6: memory across windows.** With the state carried the loss ended at {loss_a:.3f}, without it "
          "{loss_b:.3f}: the network now uses what came before its window.",
          "**Carrying the state did not help here:** the loss ended at {loss_a:.3f} with it and {loss_b:.3f} "
          "without. On this text what predicts the next character may lie mostly inside a window, or this "
          "race was too short for the carried state to pay.", runs=(5, 4)),
    Claim("identity_trains", "a relu RNN started from the identity trains", learned(6),
          "**Rung 7 trains:** the relu RNN started from W_hh = I ended at {loss_a:.3f} nats/char (from "
          "{start:.2f}): the identity passes the state, and its gradient, on unchanged at the start.",
          "**Rung 7 did not learn here** (it ended at {loss_a:.3f} nats/char, from {start:.2f}): a relu state is "
          "unbounded, and on this text it grew faster than training could tame it.", runs=(6,)),
    Claim("identity_vs_tanh", "identity init with ReLU does as well as tanh with random weights",
          near_or_below(6, 4, 0.05),
          "**Rung 7 ≈ rung 5 or better:** {loss_a:.3f} (ReLU, identity) against {loss_b:.3f} nats/char (tanh, random "
          "W_hh), same set-up: the identity start trains a ReLU network that would otherwise blow up or die.",
          "**Rung 7 ended {diff:.3f} above rung 5** ({loss_a:.3f} against {loss_b:.3f}): on this text and budget the "
          "tanh network with random weights learned faster.", runs=(6, 4)),
)

GATES = (
    Claim("lstm_lower", "the LSTM ends below the plain RNN", ends_below(1, 0),
          "**The LSTM's loss ended lower:** {loss_a:.3f} against {loss_b:.3f} nats/char.",
          "**The LSTM's loss did not end lower** ({loss_a:.3f} against the plain RNN's {loss_b:.3f}): with this budget "
          "neither has learned to track deep nesting yet.", runs=(1, 0)),
    Claim("lstm_balances", "the LSTM writes more balanced lines", scores_higher(1, 0),
          "**And it writes more balanced lines:** {score_a:.0%} of the LSTM's against {score_b:.0%} of the plain "
          "RNN's.",
          "**Balanced lines: {score_a:.0%} (LSTM) against {score_b:.0%} (RNN)** — not ahead in this sample.",
          runs=(1, 0)),
)

MEMORISE = (
    Claim("lstm_memorises", "the large LSTM memorises the tiny text", memorises(1),
          "**Memorising:** the LSTM's validation loss turned at step {best_step:.0f} ({best:.3f}) and rose to "
          "{last:.3f} while its training loss kept falling ({train_then:.2f} → {train_now:.2f}).",
          "**Not yet memorising:** the LSTM's validation loss is still at or near its best ({best:.3f}, now "
          "{last:.3f}). Give it a longer budget and watch for the turn.", runs=(1,)),
    Claim("ngram_copies", "the order-8 n-gram copies its text", copies(0, 0.5),
          "**The order-8 n-gram copies:** {copied_a:.0%} of its sample is found verbatim in the training text.",
          "**The n-gram copied {copied_a:.0%} of its sample** — less than half.", runs=(0,)),
)

LESSONS: dict[str, Lesson] = {lesson.key: lesson for lesson in [
    Lesson(
        "compare", "n-gram → RNN → GRU → LSTM",
        "The classic comparison on **your text**: the same split, the same seed, one batch size and sequence "
        "length, so the four recurrent networks read the same characters in the same order. The hand-written "
        "RNN and `nn.RNN` have the same size (128×1) and precision, so any difference in speed is the code's; the "
        "GRU and the LSTM have one layer each, as wide as their preset makes them, so the GRU has three quarters "
        "of the LSTM's weights. "
        "Look at the **validation** curves (solid) on each x axis — *steps*, *characters seen* and *seconds* "
        "tell different stories when the models run at different speeds — and in the table at *chars/s* and "
        "*copied* (a high copied share means the model recalls the text rather than writing its own).\n\n"
        + NGRAM_TRAIN_LOSS,
        (Entrant("ngram"), Entrant("rnn-scratch"),
         Entrant("rnn", {"n_hidden": 128, "n_layer": 1, "precision": "fp32"}),
         # one layer each: a GRU and an LSTM of the same shape (the preset gives the LSTM one layer where a budget
         # buys two too few steps, the GRU two: a tester read "the GRU, with fewer weights" beside a GRU of 367,587
         # and an LSTM of 188,643)
         Entrant("gru", {"n_layer": 1}), Entrant("lstm", {"n_layer": 1})),
        20.0, {"batch_size": 16, "seq_len": 64}, claims=COMPARE),
    Lesson(
        "ladder", "The ladder: from three characters to a stateful RNN",
        "One step at a time, as a classic course builds it (all on the same text, batch size and window; every "
        "recurrent rung 128×1): **1** three characters in, the fourth out (an MLP); **2** a loop: a hand-written "
        "RNN with the loss on the window's *last* position only, each window from a fresh state; **3** the same "
        "with the input and state *concatenated* instead of added (the same function written two ways); **4** "
        "`nn.RNN`, same set-up; **5** a prediction at *every* position; **6** the state *carried* between "
        "batches (TBPTT); **7** ReLU with W_hh started at the identity (Le, Jaitly & Hinton 2015) instead of tanh "
        "and random weights, set up like rung 5 — each window from a fresh state, as its authors trained it on "
        "sequences of fixed length (a ReLU state carried along a whole text adds up without bound). Compare "
        "rungs 2-5 on the *steps* axis, rung 4 with 3 on *seconds*, rung 7 with 5.",
        (Entrant("mlp", {"context": 3}),
         Entrant("rnn-scratch", {"stateless": True, "loss_on": "last"}),
         Entrant("rnn-scratch", {"stateless": True, "loss_on": "last", "combine": "concat"}),
         Entrant("rnn", {"stateless": True, "loss_on": "last", "n_hidden": 128, "n_layer": 1}),
         Entrant("rnn", {"stateless": True, "n_hidden": 128, "n_layer": 1}),
         Entrant("rnn", {"n_hidden": 128, "n_layer": 1}),
         Entrant("rnn-scratch", {"nonlinearity": "relu", "identity_init": True, "stateless": True})),
        10.0, {"batch_size": 32, "seq_len": 32, "precision": "fp32"}, claims=LADDER),
    Lesson(
        "gates", "Why gates: brackets, RNN vs LSTM",
        "Which bracket closes next depends on what was opened, perhaps many characters back. A plain RNN's "
        "memory fades; an LSTM's gates can keep a stack. The **score** column is the share of balanced lines "
        "in each model's sample (the example's own checker, 0 to 1) — compare it with the loss: a small "
        "difference in loss can be a large difference in what the model can do.",
        (Entrant("rnn"), Entrant("lstm")), 30.0, {"batch_size": 32, "seq_len": 64},
        example="brackets", checker="brackets", claims=GATES),
    Lesson(
        "memorise", "Memorising: a tiny text and a large model",
        "Only the first 3,000 characters of the weather reports, and models far too large for them. Watch the "
        "LSTM's **training** loss (dotted) and its **validation** loss (solid): when the first keeps falling "
        "while the second turns and rises, it is learning *this* text by heart, not the language. The film "
        "strip shows copying too: the highlighted spans are copied verbatim from the training text. The "
        "order-8 n-gram can only copy.\n\n" + NGRAM_TRAIN_LOSS,
        (Entrant("ngram", {"order": 8}), Entrant("lstm", {"n_hidden": 384, "n_layer": 2, "dropout": 0.0})),
        30.0, {"batch_size": 16, "seq_len": 64}, example="weather", max_chars=3000, claims=MEMORISE),
]}
