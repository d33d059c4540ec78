"""What is kept of a run: one Train press, or one model of a race. Plain data, no UI.

    record = RunRecord.begin(plan, bundle, run_id, corpus="weather", index=CopyIndex(plan.data.train_text))
    for ev in plan.train(bundle):
        record.observe(ev)             # curves (step, characters seen, own seconds) and the film strip
    record.close()                     # final numbers and the last frame, also after a stop

A record keeps its curves and numbers for as long as the tab lives; `bundle` (the weights) may be dropped
(set to None) to bound memory. Its `curve` is a `charrnn.bundle.History` derived from the model's own (the
one record of the losses, which the checkpoint keeps): the points its runs added, on the record's seconds
axis (never a validation point behind the last: after a divergence, the restored weights' final estimate).
Continuing the same bundle extends its record (`begin_segment`): the curves go on, `resumed_at` marks where,
and the film strip gets the new run's frames.

The film strip samples at fixed points of the run's budget (FILM_POINTS: 1 %, 5 %, 20 %, 50 %, 100 %)
with the same prompt, seed and temperature, so the frames differ only by what the model has learned;
each frame carries its copied spans (≥ `CopyIndex.min_len` characters found verbatim in the training
text) and their share, so generation and recall are told apart. The record's `copy_baseline` is the same
share for held-out text of the run's own corpus (`copying.baseline_share`): on templated text new text
copies a lot too, and only a share clearly above it is recall (`recall`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .bundle import Bundle, History
from .copying import CopyIndex, baseline_share, recall_verdict
from .corpus import corpus_stats
from .models import MODELS
from .sample import LIVE_LENGTH, LIVE_PROMPT, LIVE_SEED, TEMPERATURE, generate
from .train import TrainEvent, run_progress

FILM_POINTS = (0.01, 0.05, 0.2, 0.5, 1.0)  # fractions of the run's budget
# A frame is the live sample (`charrnn.sample`'s defaults): the same prompt, seed and temperature for every model
FILM_PROMPT, FILM_SEED, FILM_TEMPERATURE, FILM_LENGTH = LIVE_PROMPT, LIVE_SEED, TEMPERATURE, LIVE_LENGTH
COPY_MIN_LEN = 12  # the shortest run of characters found in the training text that counts as copied


@dataclass
class Frame:
    """One sample of the film strip. spans: half-open (start, end) copied spans of `text`."""

    label: str  # "20 %" (of the budget), "stopped at 37 %"
    step: int
    text: str
    copied_share: float
    spans: list[tuple[int, int]]


def model_label(name: str, options: dict, train: dict | None = None) -> str:
    """A short name for a model and the settings that tell it apart: "nn.GRU 128×2", "n-gram (counted) order 5",
    "RNN (from scratch) 128×1 · concat · relu · identity init · stateless · loss on last"."""
    parts = [MODELS[name].title]
    if "n_hidden" in options:
        parts[0] += f" {options['n_hidden']}×{options.get('n_layer', 1)}"
    elif "order" in options:
        parts[0] += f" order {options['order']}"
    elif "context" in options:
        parts[0] += f" context {options['context']}"
    if options.get("combine") == "concat":
        parts.append("concat")
    if options.get("nonlinearity") == "relu":
        parts.append("relu")
    if options.get("identity_init"):
        parts.append("identity init")
    train = train or {}
    if MODELS[name].recurrent and train.get("stateless"):
        parts.append("stateless")
    if train.get("loss_on") == "last" and not MODELS[name].fitted_by_counting:
        parts.append("loss on last")
    return " · ".join(parts)


@dataclass
class RunRecord:
    run_id: int
    model_name: str
    label: str  # model_label(...)
    settings: dict  # model options and the train config of the (last) run
    n_params: int
    corpus: str  # where the text came from, plain text ("example weather"): a table cell shows no Markdown
    corpus_chars: int
    n_train: int  # characters in the training part (the split: the held-out end is the rest)
    seed: int
    curve: History = field(default_factory=History)  # the window of the model's History its runs added
    steps: int = 0
    chars_seen: int = 0
    seconds: float = 0.0  # the runs' own training time (their clock)
    final_val: float | None = None
    best_val: float | None = None
    film: list[Frame] = field(default_factory=list)
    resumed_at: list[int] = field(default_factory=list)  # curve indices where a continued run began
    score: float | None = None  # the example's checker on the last frame (0..1), when it has one
    copy_baseline: float | None = None  # the copied share of held-out text of this corpus (0..1): see `recall`
    stopped: bool = False
    stop_reason: str | None = None  # why its (last) run ended: TrainEvent.stop_reason ("diverged", "time_budget", …)
    # the reference levels of its text (nats/char): a uniform guess ln V and the unigram entropy. With the text's
    # length they tell its text apart (`text_key`): losses on different texts are not comparable
    uniform: float | None = None
    unigram: float | None = None
    bundle: Bundle | None = field(default=None, repr=False, compare=False)  # the weights; None once dropped
    text: str | None = field(default=None, repr=False, compare=False)  # the run's text (shared, not copied)
    index: CopyIndex | None = field(default=None, repr=False, compare=False)
    checker: object = field(default=None, repr=False, compare=False)  # text → 0..1, or None
    _config: object = field(default=None, repr=False, compare=False)
    _offset: float = field(default=0.0, repr=False, compare=False)
    _next_frame: int = field(default=0, repr=False, compare=False)
    _last_ev: TrainEvent | None = field(default=None, repr=False, compare=False)
    _segment: int = field(default=0, repr=False, compare=False)
    _history: History | None = field(default=None, repr=False, compare=False)  # the model's, being followed
    _marks: tuple[int, int, int] = field(default=(0, 0, 0), repr=False, compare=False)  # copied up to; val from
    _shift: float = field(default=0.0, repr=False, compare=False)  # the model's seconds → the record's

    @classmethod
    def begin(cls, plan, bundle: Bundle, run_id: int, corpus: str, index: CopyIndex | None = None,
              checker=None) -> RunRecord:
        """A new record for `plan` (a charrnn.run.RunPlan) about to train `bundle`."""
        options = plan.model_config.to_dict()
        train = asdict(plan.train_config)
        record = cls(run_id, plan.model_name, model_label(plan.model_name, options, train), {**options, **train},
                     plan.n_params, corpus, len(plan.data.text), plan.data.n_train, plan.train_config.seed,
                     bundle=bundle, text=plan.data.text, index=index, checker=checker,
                     uniform=math.log(max(len(plan.vocab), 1)), unigram=corpus_stats(plan.data.text).unigram_entropy)
        if index is not None:  # what new text of this kind copies: the level a sample's share is read against
            record.copy_baseline = baseline_share(index, plan.data.val_text, FILM_LENGTH)
        record._start(plan)
        return record

    def begin_segment(self, plan, bundle: Bundle) -> None:
        """The same model continues (a Train press on it again): its curves go on from here."""
        self.bundle, self.stopped, self.stop_reason = bundle, False, None
        self.settings.update(asdict(plan.train_config))
        self.resumed_at.append(len(self.curve.step))
        self._segment += 1
        self._start(plan)

    def _start(self, plan) -> None:
        self._config = plan.train_config
        # ev.elapsed counts from the run's start; an exact resume continues the saved run's clock
        resumed = self.bundle.run_seconds if plan.resume and self.bundle is not None else 0.0
        self._offset = self.seconds - resumed
        self._next_frame, self._last_ev = 0, None
        if self.bundle is not None:  # from here on, what the trainer adds to the model's History is this record's
            h = self._history = self.bundle.history
            self._marks = (len(h.step), len(h.val_step), len(h.val_step))
            self._shift = self.seconds - self.bundle.seconds  # the record's seconds go on where they stopped

    def _follow(self) -> None:
        """Copy the points the run added to its model's History since the last look (the last validation
        point again: a final estimate may have replaced it); non-finite validation losses stay off the curve."""
        h, c = self._history, self.curve
        if h is None:
            return
        done, val_done, val_start = self._marks
        for i in range(done, len(h.step)):
            step, chars, seconds, loss = h.point(i)
            c.add(step, chars, seconds + self._shift, loss)
        for i in range(max(val_start, val_done - 1), len(h.val_step)):
            step, chars, seconds, loss = h.val_point(i)
            # after a divergence the final pass measures the restored weights, at their earlier step: that point
            # is not where the run went, and on the run's curve it would draw the line back to that step
            if math.isfinite(loss) and not (c.val_step and step < c.val_step[-1]):
                c.add_val(step, chars, seconds + self._shift, loss)
                self.best_val = loss if self.best_val is None else min(self.best_val, loss)
        self._marks = (len(h.step), len(h.val_step), val_start)

    def observe(self, ev: TrainEvent) -> None:
        """Take one training event: the curves follow the model's History, and a film frame is made when the
        budget passes one."""
        self._follow()
        if ev.done:
            self.stop_reason = ev.stop_reason
        if ev.done and ev.val_loss is not None and math.isfinite(ev.val_loss):
            self.final_val = ev.val_loss
        seconds = self._offset + ev.elapsed
        self.steps, self.chars_seen, self.seconds = ev.step, ev.chars_seen, max(self.seconds, seconds)
        self._last_ev = ev
        # after a divergence the model went back to earlier weights while the run's clock goes on (its final pass):
        # a frame then would be labelled "5%" with the restored weights' "step 0" (a tester's film strip)
        restored = self.bundle is not None and self.bundle.step != ev.step
        if self.bundle is not None and self._config is not None and not ev.done and not restored:
            progress = run_progress(self._config, self.bundle.run_step, ev.elapsed)
            while self._next_frame < len(FILM_POINTS) - 1 and progress >= FILM_POINTS[self._next_frame]:
                self._frame(f"{FILM_POINTS[self._next_frame]:.0%}")
                self._next_frame += 1

    def close(self, stopped: bool = False, val_loss: float | None = None) -> None:
        """The run ended (its budget used, or stopped): final numbers and the last frame. `val_loss`: a
        validation loss measured at the stop (a stopped run skips the trainer's final pass)."""
        self.stopped = stopped
        c = self.curve
        if val_loss is not None and math.isfinite(val_loss) and not (c.val_step and c.val_step[-1] == self.steps):
            if self._history is not None:  # measured at the stop: on the model's own record, which the curve follows
                self._history.add_val(self.steps, self.chars_seen, self.seconds - self._shift, val_loss)
            else:
                c.add_val(self.steps, self.chars_seen, self.seconds, val_loss)
                self.best_val = val_loss if self.best_val is None else min(self.best_val, val_loss)
        self._follow()
        if self.final_val is None or stopped:
            self.final_val = self.curve.val_loss[-1] if self.curve.val_loss else self.final_val
        if self.bundle is None:
            return
        if self.diverged:  # the weights kept, said as what they are
            label = ("after the divergence: the initial weights, untrained" if self.bundle.step == 0
                     else f"after the divergence: the weights of step {self.bundle.step:,}")
        elif stopped and self._config is not None:
            progress = run_progress(self._config, self.bundle.run_step, self._last_ev.elapsed if self._last_ev else 0)
            label = f"stopped at {min(progress, 1):.0%}"
        else:
            label = "100%"
        frame = self._frame(label)
        if self.checker is not None:
            self.score = float(self.checker(frame.text))

    def _frame(self, label: str) -> Frame:
        b = self.bundle
        was_training = b.model.training
        text = generate(b.model, b.vocab, FILM_PROMPT, FILM_LENGTH, FILM_TEMPERATURE, seed=FILM_SEED)
        b.model.train(was_training)
        spans = self.index.spans(text) if self.index is not None else []
        share = sum(e - s for s, e in spans) / len(text) if text else 0.0
        if self._segment:
            label = f"run {self._segment + 1} · {label}"
        frame = Frame(label, b.step, text, share, spans)
        self.film.append(frame)
        return frame

    @property
    def train_text(self) -> str | None:
        """The run's training part (the copy detector and the prediction strip read it); None once dropped."""
        return None if self.text is None else self.text[: self.n_train]

    @property
    def val_text(self) -> str | None:
        return None if self.text is None else self.text[self.n_train:]

    def drop_weights(self) -> None:
        """Free the model and the text; the curves, numbers and film strip stay."""
        self.bundle = self.text = self.index = self._history = None

    @property
    def sample(self) -> str:
        """The last film frame: the sample at the shared prompt, seed and temperature."""
        return self.film[-1].text if self.film else ""

    @property
    def copied_share(self) -> float | None:
        return self.film[-1].copied_share if self.film else None

    def recall(self, frame: Frame | None = None) -> str | None:
        """Whether a frame (default: the last) recalls the training text: "recall" when it copies clearly more
        than held-out text of the same corpus does, "like new text", or None when that is unknown."""
        frame = frame or (self.film[-1] if self.film else None)
        return recall_verdict(frame.copied_share if frame else None, self.copy_baseline)

    @property
    def text_key(self) -> tuple | None:
        """What tells its text apart from another (its length, ln V and unigram entropy: two different texts
        share all three practically never); None for a record that does not know its text's levels."""
        if self.uniform is None:
            return None
        return self.corpus_chars, round(self.uniform, 9), None if self.unigram is None else round(self.unigram, 9)

    @property
    def diverged(self) -> bool:
        """Its (last) run ended because the loss exploded (`TrainEvent.stop_reason == "diverged"`): its numbers
        are a failure's, never a result to compare."""
        return self.stop_reason == "diverged"

    @property
    def ended(self) -> str:
        """How its (last) run ended, in a word: "training", "done", "stopped" or "diverged"."""
        if self.diverged:
            return "diverged"
        return "stopped" if self.stopped else "done" if self.stop_reason else "training"

    @property
    def chars_per_sec(self) -> float:
        return self.chars_seen / self.seconds if self.seconds > 0 else 0.0

    @property
    def name(self) -> str:
        """The legend's name: "nn.GRU 128×2 · run 3"."""
        return f"{self.label} · run {self.run_id}"

    def row(self, k: float = 1.0) -> dict:
        """The runs table's row; losses multiplied by `k` (1 = nats/char, 1/ln 2 = bits/char)."""
        def loss(v):
            return None if v is None else round(v * k, 3)
        return {"run": self.run_id, "model": self.label, "ended": self.ended, "params": self.n_params,
                "corpus": self.corpus,
                "characters": self.corpus_chars, "steps": self.steps, "chars seen": self.chars_seen,
                "seconds": round(self.seconds, 1), "chars/s": round(self.chars_per_sec),
                "final val": loss(self.final_val), "best val": loss(self.best_val),
                "copied": None if self.copied_share is None else round(self.copied_share, 3),
                "held-out copied": None if self.copy_baseline is None else round(self.copy_baseline, 3),
                "score": None if self.score is None else round(self.score, 3),
                "weights": "kept" if self.bundle is not None else "dropped", "sample": self.sample}


ROW_KEYS = ("run", "model", "ended", "params", "corpus", "characters", "steps", "chars seen", "seconds", "chars/s",
            "final val", "best val", "copied", "held-out copied", "score", "weights", "sample")
