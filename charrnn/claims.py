"""What a lesson may say, checked on its own race: a claim is a test of the race's records, with words
for either outcome, so that the text on screen follows what happened, never what was expected.

    claim = ends_below(4, 3, "The LSTM ends below the plain RNN", ...)
    verdict = claim.judge(records)       # Verdict(claim, held=True | False | None, text, figures)

`records` are a race's `charrnn.record.RunRecord`s in the order of its entrants; a claim names them by
index. `held` is None when the race cannot decide it (a model was stopped before its final validation,
or a curve is too short to compare); the verdict's text then says so instead of guessing. A claim about a
run that diverged is not judged either: the verdict says that run failed (its numbers are those of the
weights it went back to, not a result).

Each check reads only what the race measured: final validation losses (the whole held-out text),
validation curves compared at the same number of characters seen or steps taken (interpolated between
the estimates), training speeds (characters per second of each model's own clock) and the scores of
the last film frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from .record import model_label

Figures = dict[str, float]


@dataclass(frozen=True)
class Verdict:
    """A claim judged on one race: `text` is what the learner reads."""

    claim: str  # the claim's key
    statement: str  # the claim in a few words ("the LSTM ends below the plain RNN")
    held: bool | None  # None: this race cannot tell
    text: str
    figures: Figures = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """A statement about a race. `test(records)` → (held or None, figures); `held` and `not_held` are
    format strings over the figures and the records' labels (`{a}`, `{b}` … name the compared runs)."""

    key: str
    statement: str
    test: Callable[[Sequence], tuple[bool | None, Figures]]
    held: str
    not_held: str
    runs: tuple[int, ...] = ()  # the records the words call {a}, {b}, …
    undecided: str = "This race cannot tell whether {statement} (a model stopped early, or ran too briefly)."
    trained: bool = True  # the claim needs its runs past their learning-rate warm-up (a claim about speed does not)

    def judge(self, records: Sequence) -> Verdict:
        names = {key: records[i].label for key, i in zip("abcdefg", self.runs, strict=False) if i < len(records)}
        failed = [records[i].label for i in self.runs if i < len(records) and records[i].stop_reason == "diverged"]
        if failed:
            return Verdict(self.key, self.statement, None, f"{' and '.join(failed)} diverged (the loss exploded), so "
                           f"this race cannot tell whether {self.statement}.", {})
        try:
            held, figures = self.test(records)
        except (IndexError, ValueError, ZeroDivisionError):
            held, figures = None, {}
        early = [records[i] for i in self.runs if i < len(records) and _stopped_in_warmup(records[i])]
        if held is False and self.trained and early:  # it never trained at full rate: its loss says nothing yet
            where = " and ".join(f"{r.label} stopped inside its learning-rate warm-up ({r.steps:,} of "
                                 f"{r.settings['warmup_steps']} steps)" for r in early)
            return Verdict(self.key, self.statement, None, f"This race cannot tell whether {self.statement}: "
                           f"{where}, so it never trained at full rate.", figures)
        words = self.held if held else self.not_held if held is False else self.undecided
        return Verdict(self.key, self.statement, held,
                       words.format(statement=self.statement, **names, **figures), figures)


# ---- a budget too short for what a claim needs ----------------------------------------------------------

MEASURED_STEPS = 10  # steps of a run after which its own step rate replaces the plan's estimate


@dataclass(frozen=True)
class WarmUp:
    """A run's learning-rate warm-up (`TrainConfig.warmup_steps`, linear from ~0 to the peak rate) in seconds:
    `steps` at `step_seconds` each — measured on the race (`measured`), or the plan's estimate."""

    label: str
    steps: int
    step_seconds: float
    measured: bool

    @property
    def seconds(self) -> float:
        return self.steps * self.step_seconds

    def warning(self, budget: float) -> str | None:
        """What a budget of `budget` seconds per model cannot show, or None when the warm-up fits in it."""
        if self.seconds <= budget:
            return None
        # two significant digits: "about 3 s at the 0.016 s a step", where "0.02" read as 4 s (a tester's sum)
        rate = (f"at the {1 / self.step_seconds:.1f} steps a second it runs in this race" if self.measured
                else f"at the {self.step_seconds:.2g} s a step estimated for this machine")
        return (f"⚠️ **{budget:g} s is too short for {self.label} to get past its warm-up:** its learning rate rises "
                f"over its first {self.steps} steps, about {self.seconds:.0f} s {rate}, so it will end before it has "
                f"trained at full rate. What this lesson shows needs it past that: type a budget per model above "
                f"{math.ceil(self.seconds / 5) * 5:.0f} s.")


def warmup_of(record=None, plan=None) -> WarmUp | None:
    """The warm-up of a race's run: from its record (`settings`, and its own step rate once it has taken
    MEASURED_STEPS steps), else from its plan (`charrnn.run.RunPlan`: the estimated step time, None on a GPU)."""
    if record is not None:
        steps = warmup_steps(getattr(record, "model_name", None), getattr(record, "settings", None))
    else:
        steps = warmup_steps(plan.model_name, asdict(plan.train_config)) if plan is not None else None
    label = record.label if record is not None else plan_label(plan) if plan is not None else ""
    if not steps:
        return None
    if record is not None and record.steps >= MEASURED_STEPS and record.seconds > 0:
        return WarmUp(label, steps, record.seconds / record.steps, True)
    estimate = plan.cost.step_seconds if plan is not None and plan.cost is not None else None
    return WarmUp(label, steps, estimate, False) if estimate else None


def plan_label(plan) -> str:
    """The name a run of `plan` will have in the race's table ("nn.LSTM 192×2")."""
    return model_label(plan.model_name, plan.model_config.to_dict(), asdict(plan.train_config))


def warmup_steps(model_name: str | None, settings: dict | None) -> int | None:
    """The learning-rate warm-up (steps) that a run's training settings (`TrainConfig` as a dict) give it; None
    where there is none: no warm-up set, or a counted model (the n-gram: fitted by counting, no learning rate)."""
    from .models import model_class

    steps = (settings or {}).get("warmup_steps")
    if not steps or model_name is None or model_class(model_name).fitted_by_counting:
        return None
    return steps


def _stopped_in_warmup(record) -> bool:
    """Whether a finished run ended before its learning-rate warm-up did (it never trained at full rate)."""
    steps = warmup_steps(getattr(record, "model_name", None), getattr(record, "settings", None))
    return steps is not None and 0 <= getattr(record, "steps", steps) < steps and record.stop_reason != "diverged"


def inside_warmup(record) -> str | None:
    """After a race: why a run that stopped inside its warm-up could not show what a claim needs, or None."""
    # Its own step rate, however few steps it made: on a slow or busy CPU a 1 s race makes fewer than
    # MEASURED_STEPS, and that run is the one that most needs the explanation.
    if not _stopped_in_warmup(record) or not record.steps or record.diverged or record.seconds <= 0:
        return None
    steps = record.settings["warmup_steps"]
    return (f"**Why:** {record.label} stopped after {record.steps:,} steps, inside its {steps}-step warm-up: its "
            f"learning rate was still rising towards {record.settings.get('lr', 0):.2g}, so it never trained at full "
            f"rate. At its {record.steps / record.seconds:.1f} steps a second here the warm-up alone takes about "
            f"{steps * record.seconds / record.steps:.0f} s: race it for longer than that.")


# ---- what a race measured ---------------------------------------------------------------------------

def final(record) -> float | None:
    """The record's final validation loss (None: not finished, or not finite)."""
    v = record.final_val
    return v if v is not None and math.isfinite(v) and not record.stopped else None


def at(record, x: float, axis: str = "chars") -> float | None:
    """The validation loss at `x` characters seen (axis="chars") or steps (axis="step"), interpolated
    between the two estimates around it; None outside the curve."""
    xs = record.curve.val_chars if axis == "chars" else record.curve.val_step
    ys = record.curve.val_loss
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def common(records: Sequence, i: int, j: int, axis: str) -> tuple[float, float, float] | None:
    """(x, loss of i, loss of j) at the furthest x both curves reach, or None when they do not overlap."""
    a, b = records[i].curve, records[j].curve
    ends = [(c.val_chars if axis == "chars" else c.val_step) for c in (a, b)]
    if not all(ends) or min(e[-1] for e in ends) < max(e[0] for e in ends):
        return None
    x = min(e[-1] for e in ends)
    la, lb = at(records[i], x, axis), at(records[j], x, axis)
    return None if la is None or lb is None else (x, la, lb)


# ---- the checks -------------------------------------------------------------------------------------

def ends_below(i: int, j: int, margin: float = 0.0) -> Callable:
    """Run i's final validation loss is below run j's by more than `margin` nats/char."""
    def test(records):
        a, b = final(records[i]), final(records[j])
        if a is None or b is None:
            return None, {}
        return a < b - margin, {"loss_a": a, "loss_b": b, "diff": b - a}
    return test


def below_at_equal(i: int, j: int, axis: str, margin: float = 0.0) -> Callable:
    """At the same characters seen (or steps), run i's validation loss is below run j's by > `margin`."""
    def test(records):
        point = common(records, i, j, axis)
        if point is None:
            return None, {}
        x, a, b = point
        return a < b - margin, {"x": x, "loss_a": a, "loss_b": b, "diff": b - a}
    return test


def near_at_equal(i: int, j: int, axis: str, tolerance: float) -> Callable:
    """At the same characters seen (or steps), the two validation losses differ by at most `tolerance`."""
    def test(records):
        point = common(records, i, j, axis)
        if point is None:
            return None, {}
        x, a, b = point
        return abs(a - b) <= tolerance, {"x": x, "loss_a": a, "loss_b": b, "diff": abs(a - b)}
    return test


def near_or_below(i: int, j: int, tolerance: float) -> Callable:
    """Run i's final validation loss is below run j's, or above it by at most `tolerance`."""
    def test(records):
        a, b = final(records[i]), final(records[j])
        if a is None or b is None:
            return None, {}
        return a <= b + tolerance, {"loss_a": a, "loss_b": b, "diff": a - b}
    return test


def faster(i: int, j: int, factor: float = 1.0) -> Callable:
    """Run i trained more than `factor` times as many characters per second as run j."""
    def test(records):
        a, b = records[i].chars_per_sec, records[j].chars_per_sec
        if not a or not b:
            return None, {}
        return a > factor * b, {"speed_a": a, "speed_b": b, "ratio": a / b}
    return test


def learned(i: int, margin: float = 0.5) -> Callable:
    """Run i finished with a finite validation loss at least `margin` nats below the loss of its first
    training step (the untrained model's loss, about ln V): it learned, and did not diverge."""
    def test(records):
        r = records[i]
        if r.stopped or r.final_val is None or not r.curve.train_loss:
            return None, {}
        start, v = r.curve.train_loss[0], r.final_val
        return math.isfinite(v) and v < start - margin, {"loss_a": v, "start": start}
    return test


def memorises(i: int, rise: float = 0.05) -> Callable:
    """Run i's validation loss rose at least `rise` above its best while its training loss kept falling."""
    def test(records):
        c = records[i].curve
        if len(c.val_loss) < 3 or records[i].stopped:
            return None, {}
        best = min(range(len(c.val_loss)), key=c.val_loss.__getitem__)
        up = c.val_loss[-1] - c.val_loss[best]
        train_then = _median([t for s, t in zip(c.step, c.train_loss, strict=False) if s <= c.val_step[best]][-20:])
        train_now = _median(c.train_loss[-20:])
        figures = {"best": c.val_loss[best], "last": c.val_loss[-1], "rise": up, "best_step": c.val_step[best],
                   "train_then": train_then, "train_now": train_now}
        return up >= rise and train_now < train_then, figures
    return test


def scores_higher(i: int, j: int) -> Callable:
    """Run i's last sample scores higher on the example's checker than run j's."""
    def test(records):
        a, b = records[i].score, records[j].score
        if a is None or b is None:
            return None, {}
        return a > b, {"score_a": a, "score_b": b}
    return test


def copies(i: int, share: float) -> Callable:
    """At least `share` of run i's last sample is copied verbatim from the training text."""
    def test(records):
        a = records[i].copied_share
        if a is None:
            return None, {}
        return a >= share, {"copied_a": a}
    return test


def _median(values: list[float]) -> float:
    values = sorted(v for v in values if math.isfinite(v))
    return values[len(values) // 2] if values else math.nan
