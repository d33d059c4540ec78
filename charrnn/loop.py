"""One run of training, as named phases read top to bottom (the shape of nanoGPT's train.py, without its globals).

    descend(...)   gradient descent, one step per batch:
        should_stop → next_batch → learning_rate → forward_backward → guard → optimizer_step → advance
        → should_evaluate / validate → should_sample / live_sample → emit
        then keep_for_resume (also when the consumer stops), and finish: final_validation → the last event
    count(...)     models fitted by counting (n-grams), one step per chunk of text:
        should_stop → next_chunk → fit_counts → advance → the validation loss → emit, then finish

Everything the phases share lives in one `Loop` (the clock, the good weights, when the next evaluation
is due …). Each decision — stop, diverged, evaluate, sample — is one function of plain local values that
returns a plain answer (a reason or None, a bool), so that several processes can agree on it at exactly
that point: all-reduce the loss before `guard`, broadcast `should_stop`'s answer, and so on.

Good weights are the last with a finite validation loss below the uniform guess ln V. A divergence rolls
the model back to them — weights, step count, characters seen and loss curve, so that what is saved says
what it holds — or, where there are none, to the weights the run started from, and the run says that
nothing was learned (`TrainEvent.untrained`).

A time budget includes the final validation pass: training stops `final_reserve` seconds early, the pass's
characters at the validation speed measured during the run, so a 60 s run ends after about 60 s.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .bundle import Bundle
from .distributed import ONE, Ranks, state_batch_dims
from .gradstats import grad_stats_now, snapshot
from .loss import evaluate, evaluate_pieces, lm_loss
from .models.base import State, detach_state
from .randomness import RunRandom, draws_at_random
from .sample import LIVE_PROMPT, LIVE_SEED, TEMPERATURE, generate
from .schedule import Clock, lr_at, run_progress

if TYPE_CHECKING:
    from .train import TrainConfig

RESERVE_MARGIN = 1.25  # the final pass's estimated seconds, with room for a busy machine


@dataclass
class TrainEvent:
    step: int  # steps over the model's life
    chars_seen: int
    train_loss: float  # this batch, nats/char
    val_loss: float | None  # set when the validation loss was measured at this step
    lr: float
    grad_norm: float  # before clipping
    chars_per_sec: float  # training throughput of this run so far
    elapsed: float  # seconds into this run
    remaining: float | None  # seconds left of the time budget
    sample: str | None = None
    done: bool = False
    stop_reason: str | None = None  # "max_steps" | "time_budget" | "diverged" | "exhausted"
    message: str | None = None  # advice when something went wrong
    stats: dict | None = None  # every stats_every steps: {"step", "grad_norm": {param: …}, "update_ratio": {…}}
    phase: str = "training"  # or "final validation 40%" while the last pass over the held-out text runs
    # A run that diverged (stop_reason "diverged", on its last event): the step whose weights it went back to,
    # and whether those had never scored below the uniform guess (nothing was learned: initial weights)
    restored_step: int | None = None
    untrained: bool = False
    threads: int = 0  # torch threads the step ran with (charrnn.threads may change them at warm-up)


@dataclass
class Kept:
    """Weights kept to go back to after a divergence, and where the model stood when they were kept."""

    weights: dict[str, torch.Tensor]
    step: int
    run_step: int
    chars_seen: int
    run_seconds: float  # the run's clock
    n_train: int  # points on the model's History then: training …
    n_val: int  # … and validation
    learned: bool  # their validation loss was finite and below ln V (else: the run's starting weights)


@dataclass
class Loop:
    """What the phases of one run share."""

    clock: Clock
    start_chars: int  # bundle.chars_seen when the run began: throughput counts from here
    start_seconds: float  # the clock's reading when it began (an exact resume continues the saved run's clock)
    life_seconds: float  # bundle.seconds when it began: the model's training time before this run
    next_eval: float = math.inf  # the clock's reading at which the next validation estimate is due
    next_sample: float = math.inf  # ... and the next live sample (inf: none)
    uniform: float = math.inf  # ln V: weights are good when their validation loss is below it
    good: Kept | None = None  # the last weights known good (or the starting ones), restored if the loss diverges
    first_loss: float | None = None  # the run's first training loss: the divergence guard's yardstick
    state: State = None  # recurrent state carried from batch to batch (truncated BPTT)
    stop_reason: str | None = None  # "max_steps" | "time_budget" | "diverged" | "exhausted" | "interrupted"
    message: str | None = None  # advice when something went wrong
    eval_rate: float | None = None  # validation characters a second, as measured by the periodic estimates
    # After a divergence: (step, chars_seen) the run had reached before its weights went back. Its events say how
    # far it got and at what rate (the model's own counters say what its restored weights have seen).
    reached: tuple[int, int] | None = None

    @classmethod
    def begin(cls, bundle: Bundle, config: TrainConfig, offset: float) -> Loop:
        """The loop of a run whose clock starts at `offset` seconds (where an exact resume left off)."""
        next_sample = offset + config.sample_every if config.sample_every else math.inf
        return cls(Clock(config.clock, offset), bundle.chars_seen, offset, bundle.seconds,
                   offset + config.eval_every, next_sample, uniform=math.log(max(len(bundle.vocab), 1)))

    def seconds(self) -> float:
        """The model's own training seconds so far (its earlier runs, and this one on its clock)."""
        return self.life_seconds + self.clock.now() - self.start_seconds

    def train_rate(self, bundle: Bundle) -> float:
        """Training characters a second in this run so far (0 before its first step)."""
        return (bundle.chars_seen - self.start_chars) / max(self.clock.now() - self.start_seconds, 1e-9)

    def is_good(self, val: float | None) -> bool:
        """A validation loss that says the weights learned something: finite and below ln V."""
        return val is not None and math.isfinite(val) and val < self.uniform

    def keep_good(self, bundle: Bundle, learned: bool) -> None:
        """Keep the model's weights as they are now (and where it stands) to go back to if the loss diverges."""
        h = bundle.history
        self.good = Kept({k: v.detach().clone() for k, v in bundle.model.state_dict().items()}, bundle.step,
                         bundle.run_step, bundle.chars_seen, bundle.run_seconds, len(h.step), len(h.val_step),
                         learned)


# ── the phases, in the order they run ──────────────────────────────────────────────────────────────────

def final_reserve(config: TrainConfig, loop: Loop, n_val: int, train_rate: float) -> float:
    """Seconds a time-budgeted run keeps for its final validation pass: the pass's characters at the measured
    validation speed (before any estimate, twice the training speed: a forward pass costs about a third of a
    training step), times RESERVE_MARGIN, at most a third of the budget. 0 without a time budget."""
    rate = loop.eval_rate or 2 * train_rate
    if not config.time_budget or rate <= 0:
        return 0.0
    chars = min(config.final_eval_chars or n_val, n_val)
    return min(RESERVE_MARGIN * chars / rate, config.time_budget / 3)


def on_budget(config: TrainConfig, elapsed: float, reserve: float) -> float:
    """`elapsed` on the training part of the budget: a run that keeps `reserve` seconds for its final pass
    reaches the end of its schedule (progress 1) at `time_budget - reserve`."""
    if not config.time_budget or reserve <= 0:
        return elapsed
    return elapsed * config.time_budget / (config.time_budget - reserve)


def should_stop(config: TrainConfig, run_step: int, elapsed: float, asked: bool = False) -> str | None:
    """"interrupted" when a stop was asked (a signal, on any rank); "max_steps" or "time_budget" once the
    run's budget is used (`run_progress` ≥ 1, `elapsed` on the budget: `on_budget`), else None."""
    if asked:
        return "interrupted"
    if run_progress(config, run_step, elapsed) < 1:
        return None
    return "max_steps" if config.max_steps and run_step >= config.max_steps else "time_budget"


def next_batch(batches: Iterator, state: State, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, State]:
    """x, y (B, T) on the device, and the state to carry in (None where the batch starts fresh windows)."""
    x, y, reset = next(batches)
    return x.to(device), y.to(device), None if reset else state


def learning_rate(config: TrainConfig, run_step: int, elapsed: float) -> float:
    """The schedule's rate at this point of the run (`lr_at`)."""
    return lr_at(config, run_step, run_progress(config, run_step, elapsed))


def forward_backward(model, x: torch.Tensor, y: torch.Tensor, state: State, config: TrainConfig, precision: str,
                     random: RunRandom | None = None) -> tuple[float, float, State]:
    """The batch's loss (nats/char), the global gradient norm before clipping, and the state to carry on.

    Gradients are clipped to `grad_clip` (RNNs: exploding gradients). The state comes back detached —
    truncated BPTT keeps the values and cuts the gradient path. Dropout draws its masks from the run's own
    `random` stream (None: torch's global generator, as it stands).
    """
    with random.drawing(x.device) if random is not None else contextlib.nullcontext(), \
            _autocast(precision, x.device):
        logits, state = model(x, state)  # (B, T, V)
    # "last": one prediction per window, as a first hand-written RNN is often trained
    loss = lm_loss(logits, y) if config.loss_on == "all" else lm_loss(logits[:, -1:], y[:, -1:])
    model.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or math.inf)
    return float(loss.detach()), float(grad_norm), detach_state(state)


def guard(loss: float, first_loss: float) -> str | None:
    """Diverged? "became NaN" (or inf), "exploded" (over 3× the run's first loss, and over 3 nats), else None."""
    if not math.isfinite(loss):
        return "became NaN"
    return "exploded" if loss > 3 * max(first_loss, 1.0) else None


def restore_good(bundle: Bundle, loop: Loop, how: str, lr: float, config: TrainConfig) -> None:
    """After a divergence: back to the last good weights (else the run's starting weights, "untrained"), and to
    where the model stood then (`rewind`), without the saved moments or the state, with advice (`divergence_advice`).
    `lr`: the rate of the step that exploded. Returns None (the optimizer that is no longer kept)."""
    kept, failed = loop.good, bundle.step + 1
    rate, advice = rate_words(lr, config, bundle.run_step), divergence_advice(bundle.model_name, config)
    loop.reached = (bundle.step, bundle.chars_seen)
    bundle.model.load_state_dict(kept.weights)
    bundle.model.zero_grad(set_to_none=True)  # the diverged step's gradients are not kept
    rewind(bundle, kept)
    bundle.optimizer_state, loop.state = None, None
    loop.stop_reason = "diverged"
    if kept.learned:
        val = bundle.history.val_loss[-1]
        loop.message = (f"The loss {how} at step {failed} ({rate}). The weights from step {kept.step} "
                        f"were restored: the last with a validation loss below the uniform guess ({val:.2f} < ln V "
                        f"= {loop.uniform:.2f} nats/char). {advice}")
    else:
        start = "its initial weights" if kept.step == 0 else f"the weights it started this run with (step {kept.step})"
        loop.message = (f"The loss {how} at step {failed} ({rate}) before any weights scored a "
                        f"validation loss below the uniform guess (ln V = {loop.uniform:.2f} nats/char): nothing "
                        f"was learned. {start[0].upper() + start[1:]} were restored, untrained. {advice}")
    return None


def rate_words(lr: float, config: TrainConfig, run_step: int) -> str:
    """The learning rate a divergence is told with: the peak rate the run was given (what was typed), and the
    schedule's rate at the step (`run_step` of the run) where that differs ("learning rate 10, still warming
    up: 0.98 at that step")."""
    if math.isclose(lr, config.lr, rel_tol=0.01):
        return f"learning rate {config.lr:.2g}"
    phase = "still warming up" if run_step + 1 < config.warmup_steps else "decaying"
    return f"learning rate {config.lr:.2g}, {phase}: {lr:.2g} at that step"


def divergence_advice(model_name: str, config: TrainConfig) -> str:
    """What to try after a divergence: a concrete learning rate (`charrnn.presets.advised_lr`: the preset's
    rate for this model and budget where the run's peak was above it, else a tenth of the peak)."""
    from .presets import advised_lr  # presets builds TrainConfigs (train.py), which runs this loop

    lr, why = advised_lr(model_name, config.lr, config.time_budget, config.max_steps)
    return f"Try a learning rate of {lr:.2g} ({why}), or a smaller gradient clip."


def rewind(bundle: Bundle, kept: Kept) -> None:
    """The model's counters and loss curve back to where they stood when `kept` was kept, so that a checkpoint
    says the step, characters and curve of the weights it holds (the run's record keeps what the run showed)."""
    bundle.step, bundle.run_step, bundle.chars_seen = kept.step, kept.run_step, kept.chars_seen
    h = bundle.history
    for points in (h.step, h.chars, h.seconds, h.train_loss):
        del points[kept.n_train:]
    for points in (h.val_step, h.val_chars, h.val_seconds, h.val_loss):
        del points[kept.n_val:]


def stats_due(step: int, config: TrainConfig) -> int | None:
    """`step` when its gradient statistics are due (every `stats_every` steps), else None."""
    return step if config.stats_every and step % config.stats_every == 0 else None


def optimizer_step(opt: torch.optim.Optimizer, model, lr: float, stats_step: int | None) -> dict | None:
    """One AdamW step at `lr`; with `stats_step`, the per-parameter gradient norms and update ratios of it."""
    for group in opt.param_groups:
        group["lr"] = lr
    before = snapshot(model) if stats_step is not None else None  # sampled: ~1 ms, so the loop stays fast
    opt.step()
    return grad_stats_now(model, before, step=stats_step, lr=lr) if stats_step is not None else None


def advance(bundle: Bundle, loop: Loop, n_chars: int, train_loss: float, stats: dict | None = None) -> None:
    """Count the step and the characters it read; put the training loss on the curve (and `stats`, the step's
    gradient statistics, with the others)."""
    if stats is not None:
        bundle.grad_stats.append(stats)
    bundle.step += 1
    bundle.run_step += 1
    bundle.chars_seen += n_chars
    bundle.history.add(bundle.step, bundle.chars_seen, loop.seconds(), train_loss)


def should_evaluate(loop: Loop, elapsed: float) -> bool:
    return elapsed >= loop.next_eval


def validate(bundle: Bundle, val_data: torch.Tensor, config: TrainConfig, loop: Loop, elapsed: float) -> float:
    """The validation loss over the held-out text's first `eval_chars`, put on the curve (its speed kept for
    `final_reserve`). The next estimate is due `eval_every` seconds later; weights with a finite loss below
    ln V become the good ones."""
    began = time.perf_counter()
    val = evaluate(bundle.model, val_data, config.seq_len, config.eval_chars, fresh=config.stateless)
    loop.eval_rate = min(len(val_data) - 1, config.eval_chars) / max(time.perf_counter() - began, 1e-9)
    record_val(bundle, loop, val)
    loop.next_eval = elapsed + config.eval_every
    if loop.is_good(val):
        loop.keep_good(bundle, learned=True)
    return val


def should_sample(loop: Loop, elapsed: float) -> bool:
    return elapsed >= loop.next_sample


def live_sample(bundle: Bundle, config: TrainConfig, loop: Loop) -> str:
    """What the model writes now: `sample_length` characters at the default temperature and seed; the next
    is due `sample_every` seconds after it is written."""
    text = generate(bundle.model, bundle.vocab, LIVE_PROMPT, config.sample_length, TEMPERATURE, seed=LIVE_SEED)
    loop.next_sample = loop.clock.now() + config.sample_every
    return text


def emit(bundle: Bundle, config: TrainConfig, loop: Loop, train_loss: float, val_loss: float | None = None,
         lr: float = 0.0, grad_norm: float = 0.0, *, sample: str | None = None, stats: dict | None = None,
         phase: str = "training", done: bool = False) -> Iterator[TrainEvent]:
    """Yield the step's TrainEvent; an "own" clock stands still while the consumer holds it. After a divergence
    its step, characters and rate are those the run reached (`Loop.reached`), and `restored_step` says which
    weights the model went back to."""
    elapsed = loop.clock.now()
    run_time = max(elapsed - loop.start_seconds, 1e-9)
    remaining = max(0.0, config.time_budget - elapsed) if config.time_budget else None
    diverged = done and loop.stop_reason == "diverged"
    step, chars = loop.reached or (bundle.step, bundle.chars_seen)
    event = TrainEvent(step, chars, train_loss, val_loss, lr, grad_norm,
                       max(chars - loop.start_chars, 0) / run_time, elapsed, remaining, sample, done,
                       loop.stop_reason if done else None, loop.message if done else None, stats, phase,
                       loop.good.step if diverged else None, diverged and not loop.good.learned,
                       torch.get_num_threads())
    loop.clock.leave()
    yield event
    loop.clock.back()


# ── the two loops ──────────────────────────────────────────────────────────────────────────────────────

def descend(bundle: Bundle, opt: torch.optim.Optimizer, batches: Iterator, val_data: torch.Tensor,
            config: TrainConfig, device: torch.device, precision: str, random: RunRandom | None = None,
            ranks: Ranks = ONE, asked: Callable[[], bool] = lambda: False) -> Iterator[TrainEvent]:
    """Gradient descent on `bundle.model` with `opt` on `batches` ((x, y, reset) triples: this rank's rows)
    until the budget is used, the loss diverges or `asked()` (a stop asked, checked once a step); see the
    module. With several `ranks`, forward/backward runs through DDP, everything else on the raw module.
    Dropout draws from `random` when the model has any (`randomness.draws_at_random`): the run's own stream,
    kept for an exact resume."""
    model = bundle.model
    model.train()
    net = ranks.wrap(model)  # DDP averages the gradients over the ranks during backward
    dims = state_batch_dims(model) if ranks.joined else None
    loop = Loop.begin(bundle, config, bundle.run_seconds)
    # a run saved on a GPU continues on this device; a saved global batch's state, this rank's rows of it
    loop.state = ranks.local_state(_to_device(bundle.rnn_state, device), dims)
    h = bundle.history  # the starting weights are good if their last estimate (at this step) said so
    loop.keep_good(bundle, learned=bool(h.val_step) and h.val_step[-1] == bundle.step and loop.is_good(h.val_loss[-1]))
    draws = random if draws_at_random(model) else None  # no dropout: nothing to draw, no lock to take
    n_val = len(val_data) - 1
    try:
        while True:
            elapsed, reserve, stop = ranks.agree(loop.clock.now(), final_reserve(config, loop, n_val,
                                                                                 loop.train_rate(bundle)), asked())
            loop.stop_reason = should_stop(config, bundle.run_step, on_budget(config, elapsed, reserve), stop)
            if loop.stop_reason:
                break
            x, y, loop.state = next_batch(batches, loop.state, device)
            lr = learning_rate(config, bundle.run_step, on_budget(config, elapsed, reserve))
            loss, grad_norm, loop.state = forward_backward(net, x, y, loop.state, config, precision, draws)
            loss = ranks.mean(loss)  # the global batch's loss: every rank takes the same decision below
            loop.first_loss = loss if loop.first_loss is None else loop.first_loss
            how = guard(loss, loop.first_loss)
            if how:
                opt = restore_good(bundle, loop, how, lr, config)  # None: the moments that led here are not kept
                break
            stats = optimizer_step(opt, model, lr, stats_due(bundle.step + 1, config))
            advance(bundle, loop, y.numel() * ranks.world_size, loss, stats)
            bundle.run_seconds = elapsed = ranks.agree(loop.clock.now(), 0.0, False)[0]
            val_loss = validate(bundle, val_data, config, loop, elapsed) if should_evaluate(loop, elapsed) else None
            sample = (live_sample(bundle, config, loop) if ranks.main and should_sample(loop, elapsed)
                      else None)  # only rank 0 shows it
            yield from emit(bundle, config, loop, loss, val_loss, lr, grad_norm, sample=sample, stats=stats)
    finally:
        keep_for_resume(bundle, loop, opt, random)  # also when the consumer stops iterating
    if loop.stop_reason == "interrupted":  # a signal: save now, without the final pass
        bundle.rnn_state = ranks.gather_state(bundle.rnn_state, dims)
        loop.message = "Stopped by a signal; the weights, moments and streams of the last step are kept."
        history = bundle.history
        yield from emit(bundle, config, loop, history.train_loss[-1] if history.train_loss else math.nan,
                        done=True)
        return
    bundle.rnn_state = ranks.gather_state(bundle.rnn_state, dims)  # the global batch's, for the checkpoint
    if loop.stop_reason == "time_budget":  # its training part is spent (the rest is the final pass's): not resumable
        bundle.run_seconds = max(bundle.run_seconds, config.time_budget)
    yield from finish(bundle, val_data, config, loop)


def count(bundle: Bundle, train_data: torch.Tensor, val_data: torch.Tensor, config: TrainConfig,
          ranks: Ranks = ONE, asked: Callable[[], bool] = lambda: False) -> Iterator[TrainEvent]:
    """Models fitted by counting (n-grams): count the text chunk by chunk, one 'step' per chunk,
    so the curve shows the validation loss falling as more text is counted. With several `ranks` each
    counts its share of every chunk and the counts are merged: the same counts as one process's."""
    model = bundle.model
    loop = Loop.begin(bundle, config, 0.0)
    chunk = max(config.batch_size * config.seq_len, len(train_data) // 50)
    done_chars = bundle.run_step * chunk
    if bundle.run_step == 0:
        model.reset_counts()
    while True:
        exhausted = done_chars >= len(train_data) - 1
        elapsed, _, stop = ranks.agree(loop.clock.now(), 0.0, asked())
        loop.stop_reason = "exhausted" if exhausted else should_stop(config, bundle.run_step, elapsed, stop)
        if loop.stop_reason:
            break
        part, skip = next_chunk(train_data, done_chars, chunk, model.context)
        fit_counts(model, train_data, done_chars, chunk, ranks)
        done_chars += chunk
        train_loss = evaluate(model, part, config.seq_len, config.eval_chars)  # bounded: V can be 50,000
        advance(bundle, loop, min(chunk, len(part) - 1), train_loss)
        val_loss = evaluate(model, val_data, config.seq_len, config.eval_chars)
        record_val(bundle, loop, val_loss)
        yield from emit(bundle, config, loop, train_loss, val_loss)
    bundle.seconds += loop.clock.now()
    yield from finish(bundle, val_data, config, loop)


def fit_counts(model, train_data: torch.Tensor, done_chars: int, chunk: int, ranks: Ranks) -> None:
    """Count the chunk of `chunk` characters after `done_chars`: alone, all of it; with several ranks, rank r
    counts its [r/N, (r+1)/N) share (with the context before it) and every rank adds every share's counts."""
    if not ranks.joined:
        part, skip = next_chunk(train_data, done_chars, chunk, model.context)
        model.fit_counts(part, skip=skip)
        return
    n, r = ranks.world_size, ranks.rank
    lo, hi = done_chars + r * chunk // n, done_chars + (r + 1) * chunk // n
    part, skip = next_chunk(train_data, lo, hi - lo, model.context)
    for keys, counts in ranks.gather_objects([t.cpu() for t in model.counts_of(part, skip=skip)]):
        model.add_counts(keys, counts)


def next_chunk(train_data: torch.Tensor, done_chars: int, chunk: int, context: int) -> tuple[torch.Tensor, int]:
    """The next `chunk` characters to count, with the `context` before them that their first targets need,
    and how many of the returned positions were counted already (to skip)."""
    begin = max(0, done_chars - context + 1)
    return train_data[begin: done_chars + chunk + 1], done_chars - begin


# ── the ending, shared ─────────────────────────────────────────────────────────────────────────────────

def keep_for_resume(bundle: Bundle, loop: Loop, opt: torch.optim.Optimizer | None,
                    random: RunRandom | None = None) -> None:
    """What an exact resume needs: the recurrent state, Adam's moments, the run's random stream, where the
    clock stood (after a divergence: where it stood at the weights restored). The model's training seconds
    count the time spent."""
    loop.clock.back()
    bundle.rnn_state = loop.state
    if random is not None:
        bundle.rng_state = random.state()
    if opt is not None:
        bundle.optimizer_state = opt.state_dict()
    bundle.seconds += loop.clock.now() - loop.start_seconds
    bundle.run_seconds = loop.good.run_seconds if loop.stop_reason == "diverged" else loop.clock.now()


def final_validation(bundle: Bundle, val_data: torch.Tensor, config: TrainConfig, loop: Loop
                     ) -> Iterator[TrainEvent]:
    """The final validation pass over the held-out text's first `final_eval_chars`, yielding an event with
    phase="final validation" every ~0.25 s, so that a consumer can stop it (the model keeps its last
    estimate); returns the loss and records it."""
    last, mean = time.perf_counter(), math.nan
    history = bundle.history
    train_loss = history.train_loss[-1] if history.train_loss else math.nan
    for piece_mean, done in evaluate_pieces(bundle.model, val_data, config.seq_len, config.final_eval_chars,
                                            fresh=config.stateless):
        mean = piece_mean
        if time.perf_counter() - last >= 0.25 and done < 1:
            yield from emit(bundle, config, loop, train_loss, phase=f"final validation {done:.0%}")
            last = time.perf_counter()
    record_val(bundle, loop, mean)
    return mean


def record_val(bundle: Bundle, loop: Loop, val: float) -> None:
    """Put a validation loss on the curve at the current step; a final estimate replaces a partial one."""
    bundle.history.add_val(bundle.step, bundle.chars_seen, loop.seconds(), val)


def finish(bundle: Bundle, val_data: torch.Tensor, config: TrainConfig, loop: Loop) -> Iterator[TrainEvent]:
    """The final validation pass, then the last event (done=True, with the stop reason and any advice)."""
    final_val = yield from final_validation(bundle, val_data, config, loop)
    history = bundle.history
    yield from emit(bundle, config, loop, history.train_loss[-1] if history.train_loss else final_val, final_val,
                    done=True)


# ── helpers ─────────────────────────────────────────────────────────────────────────────────

def _autocast(precision: str, device: torch.device):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(state, device):
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.to(device)
    return type(state)(_to_device(s, device) for s in state)
