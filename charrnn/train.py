"""Training as a generator of typed events: the library never prints, the consumer decides.

    train(bundle, train_ids, val_ids, config) ─yields─► TrainEvent ─► CLI prints │ app plots

Stopping is the consumer's choice: stop iterating (or close the generator) and the model keeps the
weights it reached; the optimizer moments and schedule position are kept in the bundle too.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import torch

from .batching import StreamBatcher, random_windows
from .bundle import Bundle
from .distributed import ONE, Ranks
from .loop import TrainEvent, count, descend
from .loss import evaluate, evaluate_pieces, lm_loss
from .models.base import CharModel
from .options import TRAIN_OPTIONS, SettingError, check
from .randomness import RunRandom
from .sample import LIVE_LENGTH
from .schedule import lr_at, run_progress
from .threads import MEASURE, ThreadTuner, candidates_for


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
    # Validation: these defaults, fitted to the budget and the model's speed by a plan (charrnn.adjust)
    eval_every: float = 2.0  # seconds between validation estimates
    eval_chars: int = 10_000  # validation characters per estimate
    sample_every: float = 0.0  # seconds between samples shown while training (0: none)
    sample_length: int = LIVE_LENGTH  # characters per live sample (charrnn.sample)
    precision: str = "fp32"  # "fp32" | "bf16" (autocast) | "auto" (bf16 where the hardware runs it fast)
    threads: int | None = None  # torch threads while training (None: leave as is; 0: measure at warm-up, threads.py)
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "mps"
    final_eval_chars: int | None = 200_000  # the final validation pass: the held-out text's first N (None: all)
    clock: str = "wall"  # "wall": the budget is time since the start; "own": only time spent in the trainer
    loss_on: str = "all"  # "all": a prediction at every position; "last": only the window's last character
    stateless: bool = False  # recurrent models on independent windows, each from a fresh state (no TBPTT)
    stats_every: int = 0  # every N steps: per-parameter gradient norm and update ratio (0: never)


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


@functools.cache
def cpu_lstm_runs_bf16() -> bool:
    """Whether nn.LSTM runs under CPU bf16 autocast here: oneDNN builds no bf16 LSTM primitive on CPUs
    without AVX-512 (e.g. AVX2-only AMD EPYC), and the forward pass raises RuntimeError. One tiny probe a
    process, so a run asked for bf16 stops with a SettingError before training, not a traceback mid-run. The
    probe's weights are drawn under `torch.random.fork_rng`: asking leaves torch's global random stream as it was."""
    with torch.random.fork_rng(devices=[]):
        probe = torch.nn.LSTM(2, 2)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            probe(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


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
    if config.precision == "bf16" and pick_device(config.device).type == "cpu" \
            and any(isinstance(m, torch.nn.LSTM) for m in model.modules()) and not cpu_lstm_runs_bf16():
        raise SettingError("precision", "bf16 autocast cannot run nn.LSTM on this CPU (oneDNN's bf16 LSTM needs "
                           "AVX-512): use --precision fp32, or auto (bf16 only where the CPU runs it fast)", "bf16")
    if model.max_seq_len is not None and config.seq_len > model.max_seq_len:
        raise TrainingError(f"the sequence length ({config.seq_len}) is longer than the {model.max_seq_len} "
                            "characters the model reads at once; lower it or raise the model's block size")


def train(bundle: Bundle, train_data: torch.Tensor, val_data: torch.Tensor, config: TrainConfig,
          *, resume: bool = False, ranks: Ranks = ONE, asked: Callable[[], bool] = lambda: False
          ) -> Iterator[TrainEvent]:
    """Train `bundle.model` in place, yielding a TrainEvent after every step and a last one with
    `done=True` (the final validation loss over all of `val_data`).

    resume=True continues the run the bundle stopped in (same schedule position, same data,
    same recurrent state); otherwise a new run starts, keeping the weights and Adam moments.
    ranks: this process's place among several training one model (`charrnn.distributed.join`; each
    trains on its rows of every global batch of `batch_size`); asked: polled once a step, True stops the
    run at that step on every rank (a signal handler's flag). Raises DistributedError when the batch does
    not split evenly across the ranks, or another rank stops answering.
    """
    model = bundle.model
    check_config(config, model, len(train_data), len(val_data))
    ranks.check_batch(config.batch_size)
    if not resume:
        bundle.run_step, bundle.run_seconds, bundle.rnn_state = 0, 0.0, None
    bundle.train_config = config
    bundle.world_size = ranks.world_size
    old_threads = torch.get_num_threads()
    tuner = ThreadTuner(candidates_for(os.cpu_count())) if config.threads == MEASURE else None
    if config.threads:
        torch.set_num_threads(config.threads)
    device = ranks.device(pick_device(config.device))
    model.to(device)
    # The run's own random stream (dropout masks; the weights were seeded at construction): where the saved
    # run left it on an exact resume, else from the seed, whatever other tabs draw meanwhile.
    saved = bundle.rng_state if resume else None
    random = RunRandom.from_state(saved) if saved is not None else RunRandom.seeded(config.seed)
    try:
        if model.fitted_by_counting:  # no gradient, nothing for DDP: ranks count their shares
            yield from count(bundle, train_data, val_data, config, ranks, asked)
        else:
            opt = optimizer(model, config, device, bundle.optimizer_state)
            batches = ranks.shard(batches_from(model, train_data, config, bundle.step))
            batches = tuner.wrap(batches) if tuner is not None else batches
            yield from descend(bundle, opt, batches, val_data, config, device,
                               resolve_precision(config.precision, device), random, ranks, asked)
    finally:
        torch.set_num_threads(old_threads)


def optimizer(model, config: TrainConfig, device: torch.device, saved: dict | None) -> torch.optim.Optimizer:
    """AdamW, with the saved moments where they fit this model."""
    # fused: one kernel for all parameters instead of ~10 small ops per tensor (same maths); on a
    # 2-core CPU that is ~10% more steps per second for the small recurrent networks.
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.99),
                            weight_decay=config.weight_decay, **fused)
    if saved is not None:
        with contextlib.suppress(ValueError, KeyError):  # a different model: start fresh moments
            opt.load_state_dict(saved)
        for group in opt.param_groups:  # the saved groups carry the saving run's choice
            group["fused"] = fused.get("fused", None)
    return opt


def batches_from(model, train_data: torch.Tensor, config: TrainConfig, step: int) -> Iterator:
    """TBPTT streams for a recurrent model, else random windows; from `step` on, so a resume sees the same."""
    if model.recurrent and not config.stateless:
        return iter(StreamBatcher(train_data, config.batch_size, config.seq_len, config.seed, step))
    # every window stands alone (reset=True): a recurrent model then starts each from a fresh state
    return random_windows(train_data, config.batch_size, config.seq_len, config.seed, step)


__all__ = ["TrainConfig", "TrainEvent", "TrainingError", "check_config", "evaluate", "evaluate_pieces", "lm_loss",
           "lr_at", "pick_device", "resolve_precision", "run_progress", "train"]
