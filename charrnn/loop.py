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
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .bundle import Bundle
from .gradstats import grad_stats_now, snapshot
from .loss import evaluate, evaluate_pieces, lm_loss
from .models.base import State, detach_state
from .sample import LIVE_PROMPT, LIVE_SEED, TEMPERATURE, generate
from .schedule import Clock, lr_at, run_progress

if TYPE_CHECKING:
    from .train import TrainConfig


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
    threads: int = 0  # torch threads the step ran with (charrnn.threads may change them at warm-up)


@dataclass
class Loop:
    """What the phases of one run share."""

    clock: Clock
    start_chars: int  # bundle.chars_seen when the run began: throughput counts from here
    start_seconds: float  # the clock's reading when it began (an exact resume continues the saved run's clock)
    life_seconds: float  # bundle.seconds when it began: the model's training time before this run
    next_eval: float = math.inf  # the clock's reading at which the next validation estimate is due
    next_sample: float = math.inf  # ... and the next live sample (inf: none)
    good: dict[str, torch.Tensor] | None = None  # the last weights known good, restored if the loss diverges
    good_step: int = 0
    first_loss: float | None = None  # the run's first training loss: the divergence guard's yardstick
    state: State = None  # recurrent state carried from batch to batch (truncated BPTT)
    stop_reason: str | None = None  # "max_steps" | "time_budget" | "diverged" | "exhausted"
    message: str | None = None  # advice when something went wrong

    @classmethod
    def begin(cls, bundle: Bundle, config: TrainConfig, offset: float) -> Loop:
        """The loop of a run whose clock starts at `offset` seconds (where an exact resume left off)."""
        next_sample = offset + config.sample_every if config.sample_every else math.inf
        return cls(Clock(config.clock, offset), bundle.chars_seen, offset, bundle.seconds,
                   offset + config.eval_every, next_sample)

    def seconds(self) -> float:
        """The model's own training seconds so far (its earlier runs, and this one on its clock)."""
        return self.life_seconds + self.clock.now() - self.start_seconds

    def keep_good(self, bundle: Bundle) -> None:
        self.good = {k: v.detach().clone() for k, v in bundle.model.state_dict().items()}
        self.good_step = bundle.step


# ── the phases, in the order they run ──────────────────────────────────────────────────────────────────

def should_stop(config: TrainConfig, run_step: int, elapsed: float) -> str | None:
    """"max_steps" or "time_budget" once the run's budget is used (`run_progress` ≥ 1), else None."""
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


def forward_backward(model, x: torch.Tensor, y: torch.Tensor, state: State, config: TrainConfig, precision: str
                     ) -> tuple[float, float, State]:
    """The batch's loss (nats/char), the global gradient norm before clipping, and the state to carry on.

    Gradients are clipped to `grad_clip` (RNNs: exploding gradients). The state comes back detached —
    truncated BPTT keeps the values and cuts the gradient path.
    """
    with _autocast(precision, x.device):
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


def restore_good(bundle: Bundle, loop: Loop, how: str, lr: float) -> None:
    """After a divergence: back to the last good weights, without the saved moments or the state, with advice.
    Returns None (the optimizer that is no longer kept)."""
    bundle.model.load_state_dict(loop.good)
    bundle.model.zero_grad(set_to_none=True)  # the diverged step's gradients are not kept
    bundle.optimizer_state, loop.state = None, None
    loop.stop_reason = "diverged"
    loop.message = (f"The loss {how} at step {bundle.step + 1} (learning rate {lr:.2g}). The weights from step "
                    f"{loop.good_step} were restored. Try a learning rate 3-10x lower or a smaller gradient clip.")
    return None


def stats_due(step: int, config: TrainConfig) -> int | None:
    """`step` when its gradient statistics are due (every `stats_every` steps), else None."""
    return step if config.stats_every and step % config.stats_every == 0 else None


def optimizer_step(opt: torch.optim.Optimizer, model, lr: float, stats_step: int | None) -> dict | None:
    """One AdamW step at `lr`; with `stats_step`, the per-parameter gradient norms and update ratios of it."""
    for group in opt.param_groups:
        group["lr"] = lr
    before = snapshot(model) if stats_step is not None else None  # sampled: ~1 ms, so the loop stays fast
    opt.step()
    return grad_stats_now(model, before, step=stats_step) if stats_step is not None else None


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
    """The validation loss over the held-out text's first `eval_chars`, put on the curve. The next estimate is
    due `eval_every` seconds later; weights with a finite loss become the good ones."""
    val = evaluate(bundle.model, val_data, config.seq_len, config.eval_chars)
    record_val(bundle, loop, val)
    loop.next_eval = elapsed + config.eval_every
    if math.isfinite(val):
        loop.keep_good(bundle)
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
    """Yield the step's TrainEvent; an "own" clock stands still while the consumer holds it."""
    elapsed = loop.clock.now()
    run_time = max(elapsed - loop.start_seconds, 1e-9)
    remaining = max(0.0, config.time_budget - elapsed) if config.time_budget else None
    event = TrainEvent(bundle.step, bundle.chars_seen, train_loss, val_loss, lr, grad_norm,
                       (bundle.chars_seen - loop.start_chars) / run_time, elapsed, remaining, sample, done,
                       loop.stop_reason if done else None, loop.message if done else None, stats, phase,
                       torch.get_num_threads())
    loop.clock.leave()
    yield event
    loop.clock.back()


# ── the two loops ──────────────────────────────────────────────────────────────────────────────────────

def descend(bundle: Bundle, opt: torch.optim.Optimizer, batches: Iterator, val_data: torch.Tensor,
            config: TrainConfig, device: torch.device, precision: str) -> Iterator[TrainEvent]:
    """Gradient descent on `bundle.model` with `opt` on `batches` ((x, y, reset) triples) until the budget is
    used or the loss diverges; see the module."""
    model = bundle.model
    model.train()
    loop = Loop.begin(bundle, config, bundle.run_seconds)
    loop.state = _to_device(bundle.rnn_state, device)  # a run saved on a GPU continues on this device
    loop.keep_good(bundle)
    try:
        while True:
            elapsed = loop.clock.now()
            loop.stop_reason = should_stop(config, bundle.run_step, elapsed)
            if loop.stop_reason:
                break
            x, y, loop.state = next_batch(batches, loop.state, device)
            lr = learning_rate(config, bundle.run_step, elapsed)
            loss, grad_norm, loop.state = forward_backward(model, x, y, loop.state, config, precision)
            loop.first_loss = loss if loop.first_loss is None else loop.first_loss
            how = guard(loss, loop.first_loss)
            if how:
                opt = restore_good(bundle, loop, how, lr)  # None: the moments that led here are not kept
                break
            stats = optimizer_step(opt, model, lr, stats_due(bundle.step + 1, config))
            advance(bundle, loop, y.numel(), loss, stats)
            bundle.run_seconds = elapsed = loop.clock.now()
            val_loss = validate(bundle, val_data, config, loop, elapsed) if should_evaluate(loop, elapsed) else None
            sample = live_sample(bundle, config, loop) if should_sample(loop, elapsed) else None
            yield from emit(bundle, config, loop, loss, val_loss, lr, grad_norm, sample=sample, stats=stats)
    finally:
        keep_for_resume(bundle, loop, opt)  # also when the consumer stops iterating
    yield from finish(bundle, val_data, config, loop)


def count(bundle: Bundle, train_data: torch.Tensor, val_data: torch.Tensor, config: TrainConfig
          ) -> Iterator[TrainEvent]:
    """Models fitted by counting (n-grams): count the text chunk by chunk, one 'step' per chunk,
    so the curve shows the validation loss falling as more text is counted."""
    model = bundle.model
    loop = Loop.begin(bundle, config, 0.0)
    chunk = max(config.batch_size * config.seq_len, len(train_data) // 50)
    done_chars = bundle.run_step * chunk
    if bundle.run_step == 0:
        model.reset_counts()
    while True:
        exhausted = done_chars >= len(train_data) - 1
        loop.stop_reason = "exhausted" if exhausted else should_stop(config, bundle.run_step, loop.clock.now())
        if loop.stop_reason:
            break
        part, skip = next_chunk(train_data, done_chars, chunk, model.context)
        model.fit_counts(part, skip=skip)
        done_chars += chunk
        train_loss = evaluate(model, part, config.seq_len, config.eval_chars)  # bounded: V can be 50,000
        advance(bundle, loop, min(chunk, len(part) - 1), train_loss)
        val_loss = evaluate(model, val_data, config.seq_len, config.eval_chars)
        record_val(bundle, loop, val_loss)
        yield from emit(bundle, config, loop, train_loss, val_loss)
    bundle.seconds += loop.clock.now()
    yield from finish(bundle, val_data, config, loop)


def next_chunk(train_data: torch.Tensor, done_chars: int, chunk: int, context: int) -> tuple[torch.Tensor, int]:
    """The next `chunk` characters to count, with the `context` before them that their first targets need,
    and how many of the returned positions were counted already (to skip)."""
    begin = max(0, done_chars - context + 1)
    return train_data[begin: done_chars + chunk + 1], done_chars - begin


# ── the ending, shared ─────────────────────────────────────────────────────────────────────────────────

def keep_for_resume(bundle: Bundle, loop: Loop, opt: torch.optim.Optimizer | None) -> None:
    """What an exact resume needs: the recurrent state, Adam's moments, where the clock stood."""
    loop.clock.back()
    bundle.rnn_state = loop.state
    if opt is not None:
        bundle.optimizer_state = opt.state_dict()
    bundle.seconds += loop.clock.now() - loop.start_seconds
    bundle.run_seconds = loop.clock.now()


def final_validation(bundle: Bundle, val_data: torch.Tensor, config: TrainConfig, loop: Loop
                     ) -> Iterator[TrainEvent]:
    """The final validation pass over the held-out text's first `final_eval_chars`, yielding an event with
    phase="final validation" every ~0.25 s, so that a consumer can stop it (the model keeps its last
    estimate); returns the loss and records it."""
    last, mean = time.perf_counter(), math.nan
    history = bundle.history
    train_loss = history.train_loss[-1] if history.train_loss else math.nan
    for piece_mean, done in evaluate_pieces(bundle.model, val_data, config.seq_len, config.final_eval_chars):
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
