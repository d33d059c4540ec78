"""Training as a generator of typed events: the library never prints, the consumer decides.

    train(bundle, train_ids, val_ids, config) ─yields─► TrainEvent ─► CLI prints │ app plots

Stopping is the consumer's choice: stop iterating (or close the generator) and the model keeps the
weights it reached; the optimizer moments and schedule position are kept in the bundle too.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from .batching import StreamBatcher, eval_streams, random_windows
from .bundle import Bundle
from .estimate import EVAL_PIECE_LOGITS
from .gradstats import grad_stats_now, snapshot
from .models.base import CharModel, detach_state
from .options import TRAIN_OPTIONS, SettingError, check
from .sample import generate


@dataclass
class TrainConfig:
    max_steps: int | None = None  # stop after this many steps (of this run)...
    time_budget: float | None = 60.0  # ...or after this many seconds, whichever comes first
    batch_size: int = 32
    seq_len: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0  # AdamW's decoupled decay
    warmup_steps: int = 20  # linear warm-up at the start of every run
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio at the end of the run
    grad_clip: float | None = 1.0  # clip the global gradient norm (RNNs: exploding gradients); None: never
    eval_every: float = 2.0  # seconds between validation estimates
    eval_chars: int = 20_000  # validation characters per estimate (the final one uses all)
    sample_every: float = 0.0  # seconds between samples shown while training (0: none)
    sample_length: int = 200
    precision: str = "fp32"  # "fp32" | "bf16" (autocast) | "auto" (bf16 where the hardware runs it fast)
    threads: int | None = None  # torch threads while training (None: leave as is)
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "mps"
    final_eval_chars: int | None = 200_000  # the final validation pass: the held-out text's first N (None: all)
    clock: str = "wall"  # "wall": the budget is time since the start; "own": only time spent in the trainer
    loss_on: str = "all"  # "all": a prediction at every position; "last": only the window's last character
    stateless: bool = False  # recurrent models on independent windows, each from a fresh state (no TBPTT)
    stats_every: int = 0  # every N steps: per-parameter gradient norm and update ratio (0: never)


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


class TrainingError(ValueError):
    """Settings that cannot train (e.g. a sequence longer than the validation text)."""


def pick_device(name: str = "auto") -> torch.device:
    """"auto": CUDA if present, else Apple's MPS, else the CPU. A named device ("cpu", "cuda",
    "cuda:1", "mps") is checked: SettingError if it is not a device name or is not available here."""
    name = (name or "auto").strip().lower()
    if name != "auto":
        try:
            device = torch.device(name)
        except (RuntimeError, ValueError):
            raise SettingError("device", f"device must be auto, cpu, cuda, cuda:N or mps, not {name!r}",
                               name) from None
        if device.type == "cuda" and (not torch.cuda.is_available()
                                      or (device.index or 0) >= torch.cuda.device_count()):
            raise SettingError("device", f"device {name} is not available here (no such CUDA GPU); use "
                               "device auto or cpu", name)
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                         and torch.backends.mps.is_available()):
            raise SettingError("device", f"device {name} is not available here; use device auto or cpu", name)
        if device.type not in ("cpu", "cuda", "mps"):
            raise SettingError("device", f"device must be auto, cpu, cuda, cuda:N or mps, not {name!r}", name)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per character; the one loss every model is trained with.

    logits (B, T, V), targets (B, T). Cross-entropy is -log of the probability the model gave to
    the character that really came next: 0 only if it was certain and right, ln(V) for a uniform
    guess. (It is not 0 when logits "equal" the one-hot target: softmax turns them into
    probabilities first.)
    """
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def evaluate(model: CharModel, data: torch.Tensor, seq_len: int, max_chars: int | None = None,
             n_streams: int = 16, fresh: bool = False) -> float:
    """Mean loss (nats/char) over `data` (its first `max_chars`), carrying state across pieces (fresh=True:
    each seq_len piece from a fresh state, as a model trained with `stateless` windows reads its text)."""
    pieces = list(evaluate_pieces(model, data, seq_len, max_chars, n_streams, fresh))
    return pieces[-1][0]


@torch.no_grad()
def evaluate_pieces(model: CharModel, data: torch.Tensor, seq_len: int, max_chars: int | None = None,
                    n_streams: int = 16, fresh: bool = False) -> Iterator[tuple[float, float]]:
    """`evaluate` one piece at a time: yields (mean loss so far in nats/char, share of the text done) after
    each (n_streams, seq_len) piece, so that a caller can stop a long pass between pieces. data: (N,) ids."""
    was_training = model.training
    model.eval()
    if max_chars is not None and len(data) > max_chars + 1:
        data = data[: max_chars + 1]
    # Fewer streams where the vocabulary is large: a piece's scores (streams × seq_len × V) stay within
    # EVAL_PIECE_LOGITS, so a 20,000-character vocabulary does not take a gigabyte per piece.
    n_streams = max(1, min(n_streams, EVAL_PIECE_LOGITS // max(1, seq_len * model.vocab_size)))
    device = model.device
    total, count, state = 0.0, 0, None
    try:
        for x, y in eval_streams(data, n_streams, seq_len):
            logits, state = model(x.to(device), None if fresh else state)
            total += float(lm_loss(logits, y.to(device))) * y.numel()
            count += y.numel()
            yield total / count, count / max(len(data) - 1, 1)
        if count == 0:
            yield 0.0, 1.0
    finally:
        model.train(was_training)


def lr_at(config: TrainConfig, run_step: int, progress: float) -> float:
    """Linear warm-up for `warmup_steps`, then cosine decay to lr * min_lr_ratio at progress 1.

    progress is the fraction of the run's budget used (steps or seconds, whichever is further),
    so a time-budgeted run anneals exactly as the budget runs out — the last minutes at a low
    rate are where much of the final loss comes from.
    """
    warm = min(1.0, (run_step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * warm * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cos)


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" → "bf16" where bfloat16 autocast is fast, else "fp32"; other values unchanged.

    Fast means CPUs with AVX-512 BF16 or AMX instructions (there the fused LSTM trains ~1.5-2x
    faster, with no visible loss per step) and CUDA GPUs with bf16 support. Elsewhere bf16 is
    emulated and slower than fp32, so "auto" keeps fp32 there: the same numbers as before.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        # Private helpers (torch ≥ 2.1); an older torch without them gets fp32.
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported",
                                                                "_is_amx_tile_supported")]
        return "bf16" if any(check is not None and check() for check in checks) else "fp32"
    return "fp32"


def check_config(config: TrainConfig, model: CharModel, n_train: int, n_val: int) -> None:
    """Every field of `config` within its range (`charrnn.options`), and the text long enough for it.

    Raises SettingError (one field out of range, named) or TrainingError (a combination that cannot
    train); both are ValueErrors.
    """
    for f in fields(config):
        if f.name in TRAIN_OPTIONS:
            check(f.name, getattr(config, f.name), TRAIN_OPTIONS[f.name])
    pick_device(config.device)
    if config.max_steps is None and config.time_budget is None:
        raise TrainingError("set a step limit or a time budget, or training would never stop")
    if n_train < config.seq_len + 2 or n_val < 2:
        raise TrainingError(f"not enough text for a sequence length of {config.seq_len}: "
                            f"{n_train} training and {n_val} validation characters")
    if model.max_seq_len is not None and config.seq_len > model.max_seq_len:
        raise TrainingError(f"the sequence length ({config.seq_len}) is longer than the {model.max_seq_len} "
                            "characters the model reads at once; lower it or raise the model's block size")


def train(bundle: Bundle, train_data: torch.Tensor, val_data: torch.Tensor, config: TrainConfig,
          *, resume: bool = False) -> Iterator[TrainEvent]:
    """Train `bundle.model` in place, yielding a TrainEvent after every step and a last one with
    `done=True` (the final validation loss over all of `val_data`).

    resume=True continues the run the bundle stopped in (same schedule position, same data,
    same recurrent state); otherwise a new run starts, keeping the weights and Adam moments.
    """
    model = bundle.model
    check_config(config, model, len(train_data), len(val_data))
    if not resume:
        bundle.run_step, bundle.run_seconds, bundle.rnn_state = 0, 0.0, None
    bundle.train_config = config
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    model.to(device)
    if bundle.step == 0:
        torch.manual_seed(config.seed)  # dropout masks; the weights were seeded at construction
    try:
        if model.fitted_by_counting:
            yield from _count(bundle, train_data, val_data, config)
        else:
            yield from _descend(bundle, train_data, val_data, config, device)
    finally:
        torch.set_num_threads(old_threads)


def _autocast(precision: str, device: torch.device):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _descend(bundle: Bundle, train_data, val_data, config: TrainConfig, device) -> Iterator[TrainEvent]:
    model, history = bundle.model, bundle.history
    model.train()
    # fused: one kernel for all parameters instead of ~10 small ops per tensor (same maths); on a
    # 2-core CPU that is ~10% more steps per second for the small recurrent networks.
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.99),
                            weight_decay=config.weight_decay, **fused)
    if bundle.optimizer_state is not None:
        with contextlib.suppress(ValueError, KeyError):  # a different model: start fresh moments
            opt.load_state_dict(bundle.optimizer_state)
        for group in opt.param_groups:  # the saved groups carry the saving run's choice
            group["fused"] = fused.get("fused", None)
    if model.recurrent and not config.stateless:
        batches = iter(StreamBatcher(train_data, config.batch_size, config.seq_len, config.seed, bundle.step))
    else:  # every window stands alone (reset=True): a recurrent model then starts each from a fresh state
        batches = random_windows(train_data, config.batch_size, config.seq_len, config.seed, bundle.step)

    state = _to_device(bundle.rnn_state, device)  # a run saved on a GPU continues on this device
    good = {k: v.detach().clone() for k, v in model.state_dict().items()}  # last weights known good
    good_step, first_loss = bundle.step, None
    clock = _Clock(config.clock, bundle.run_seconds)
    run_start_chars, run_start_seconds = bundle.chars_seen, bundle.run_seconds
    next_eval = bundle.run_seconds + config.eval_every
    next_sample = bundle.run_seconds + config.sample_every if config.sample_every else math.inf
    stop_reason, message = None, None
    precision = resolve_precision(config.precision, device)
    try:
        while True:
            elapsed = clock.now()
            progress = run_progress(config, bundle.run_step, elapsed)
            if progress >= 1:
                stop_reason = "max_steps" if config.max_steps and bundle.run_step >= config.max_steps \
                    else "time_budget"
                break
            x, y, reset = next(batches)
            x, y = x.to(device), y.to(device)
            if reset:
                state = None
            lr = lr_at(config, bundle.run_step, progress)
            for group in opt.param_groups:
                group["lr"] = lr
            with _autocast(precision, device):
                logits, state = model(x, state)  # (B, T, V)
            # "last": one prediction per window, as a first hand-written RNN is often trained
            loss = lm_loss(logits, y) if config.loss_on == "all" else lm_loss(logits[:, -1:], y[:, -1:])
            loss_value = float(loss.detach())
            first_loss = first_loss if first_loss is not None else loss_value
            if not math.isfinite(loss_value) or loss_value > 3 * max(first_loss, 1.0):
                model.load_state_dict(good)
                bundle.optimizer_state, state, opt = None, None, None
                stop_reason = "diverged"
                message = (f"The loss {'became NaN' if not math.isfinite(loss_value) else 'exploded'} at "
                           f"step {bundle.step + 1} (learning rate {lr:.2g}). The weights from step "
                           f"{good_step} were restored. Try a learning rate 3-10x lower or a smaller "
                           "gradient clip.")
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or math.inf))
            watch = config.stats_every and (bundle.step + 1) % config.stats_every == 0
            before = snapshot(model) if watch else None  # sampled: ~1 ms, so the loop stays fast
            opt.step()
            stats = grad_stats_now(model, before, step=bundle.step + 1, lr=lr) if watch else None
            if stats is not None:
                bundle.grad_stats.append(stats)
            state = detach_state(state)  # TBPTT: keep the values, cut the gradient path

            bundle.step += 1
            bundle.run_step += 1
            bundle.chars_seen += y.numel()
            history.step.append(bundle.step)
            history.chars.append(bundle.chars_seen)
            history.train_loss.append(loss_value)
            elapsed = clock.now()
            bundle.run_seconds = elapsed

            val_loss = sample = None
            if elapsed >= next_eval:
                val_loss = _record_val(bundle, val_data, config, config.eval_chars)
                next_eval = elapsed + config.eval_every
                if math.isfinite(val_loss):
                    good = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    good_step = bundle.step
            if elapsed >= next_sample:
                sample = generate(model, bundle.vocab, "", config.sample_length, 0.8, seed=0)
                next_sample = clock.now() + config.sample_every
            event = _event(bundle, config, loss_value, val_loss, lr, grad_norm, clock, run_start_chars,
                           run_start_seconds, sample)
            event.stats = stats
            clock.leave()
            yield event
            clock.back()
    finally:
        # Runs also when the consumer stops iterating: keep what resuming needs.
        clock.back()
        bundle.rnn_state = state
        if opt is not None:
            bundle.optimizer_state = opt.state_dict()
        bundle.seconds += clock.now() - run_start_seconds
        bundle.run_seconds = clock.now()
    final_val = yield from _final_validation(bundle, val_data, config, clock, run_start_chars, run_start_seconds)
    yield _event(bundle, config, history.train_loss[-1] if history.train_loss else final_val, final_val,
                 0.0, 0.0, clock, run_start_chars, run_start_seconds, None, True, stop_reason, message)


def _count(bundle: Bundle, train_data, val_data, config: TrainConfig) -> Iterator[TrainEvent]:
    """Models fitted by counting (n-grams): count the text chunk by chunk, one 'step' per chunk,
    so the curve shows the validation loss falling as more text is counted."""
    model, clock = bundle.model, _Clock(config.clock, 0.0)
    run_start_chars = bundle.chars_seen
    chunk = max(config.batch_size * config.seq_len, len(train_data) // 50)
    done_chars = bundle.run_step * chunk
    stop_reason = "exhausted"
    if bundle.run_step == 0:
        model.reset_counts()
    while done_chars < len(train_data) - 1:
        if run_progress(config, bundle.run_step, clock.now()) >= 1:
            stop_reason = "time_budget"
            break
        begin = max(0, done_chars - model.context + 1)  # the chunk's targets need their contexts
        part = train_data[begin: done_chars + chunk + 1]
        model.fit_counts(part, skip=done_chars - begin)
        done_chars += chunk
        bundle.step += 1
        bundle.run_step += 1
        bundle.chars_seen += min(chunk, len(part) - 1)
        val_loss = _record_val(bundle, val_data, config, config.eval_chars)
        train_loss = evaluate(model, part, config.seq_len, config.eval_chars)  # bounded: V can be 50,000
        bundle.history.step.append(bundle.step)
        bundle.history.chars.append(bundle.chars_seen)
        bundle.history.train_loss.append(train_loss)
        clock.leave()
        yield _event(bundle, config, train_loss, val_loss, 0.0, 0.0, clock, run_start_chars, 0.0, None)
        clock.back()
    bundle.seconds += clock.now()
    final_val = yield from _final_validation(bundle, val_data, config, clock, run_start_chars, 0.0)
    yield _event(bundle, config, bundle.history.train_loss[-1] if bundle.history.train_loss else final_val,
                 final_val, 0.0, 0.0, clock, run_start_chars, 0.0, None, True, stop_reason)


def _to_device(state, device):
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.to(device)
    return type(state)(_to_device(s, device) for s in state)


class _Clock:
    """Seconds into a run. "wall": time since the run started. "own": only the time spent inside the
    trainer — while the consumer holds a yielded event (a race's other models taking their turn) the
    clock stands still, so each model's budget and seconds axis count its own compute."""

    def __init__(self, kind: str, offset: float):
        self.own, self.start, self.paused, self.left = kind == "own", time.perf_counter() - offset, 0.0, None

    def now(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def leave(self) -> None:  # just before a yield
        if self.own:
            self.left = time.perf_counter()

    def back(self) -> None:  # just after it
        if self.left is not None:
            self.paused += time.perf_counter() - self.left
            self.left = None


def run_progress(config: TrainConfig, run_step: int, elapsed: float) -> float:
    """How much of a run's budget is used: 0 at the start, ≥ 1 when it is over."""
    by_steps = run_step / config.max_steps if config.max_steps else 0.0
    by_time = elapsed / config.time_budget if config.time_budget else 0.0
    return max(by_steps, by_time)


def _final_validation(bundle: Bundle, val_data, config: TrainConfig, clock: _Clock, run_start_chars: int,
                      run_start_seconds: float) -> Iterator[TrainEvent]:
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
            event = _event(bundle, config, train_loss, None, 0.0, 0.0, clock, run_start_chars, run_start_seconds,
                           None)
            event.phase = f"final validation {done:.0%}"
            clock.leave()
            yield event
            clock.back()
            last = time.perf_counter()
    _record(bundle, mean)
    return mean


def _record_val(bundle: Bundle, val_data, config: TrainConfig, max_chars: int | None) -> float:
    val = evaluate(bundle.model, val_data, config.seq_len, max_chars, fresh=config.stateless)
    _record(bundle, val)
    return val


def _record(bundle: Bundle, val: float) -> None:
    h = bundle.history
    if h.val_step and h.val_step[-1] == bundle.step:  # the final estimate replaces a partial one
        h.val_loss[-1] = val
    else:
        h.val_step.append(bundle.step)
        h.val_chars.append(bundle.chars_seen)
        h.val_loss.append(val)


def _event(bundle, config, train_loss, val_loss, lr, grad_norm, clock: _Clock, run_start_chars, run_start_seconds,
           sample, done=False, stop_reason=None, message=None) -> TrainEvent:
    elapsed = clock.now()
    run_time = max(elapsed - run_start_seconds, 1e-9)
    remaining = max(0.0, config.time_budget - elapsed) if config.time_budget else None
    return TrainEvent(bundle.step, bundle.chars_seen, train_loss, val_loss, lr, grad_norm,
                      (bundle.chars_seen - run_start_chars) / run_time, elapsed, remaining, sample,
                      done, stop_reason, message)
