"""A checkpoint checked to its last tensor before anything runs on it: `checkpoint.load` calls these.

A `.safetensors` file cannot run code, but its numbers can still lie, and some lies crash the process
rather than raise: Adam moments of the wrong shape pass `Optimizer.load_state_dict` (which compares
only the number of parameters) and the fused AdamW kernel then reads out of bounds (a segfault that
ends every run on a shared server); an id outside the vocabulary in a saved window is a device-side
assert on a GPU. So every part of a file is held against what its model config implies:

    model size    the header's config asks for no more float32 parameters than the file's bytes hold
    weights       model.<name>        the dtype of the model's own tensor; its shape (load_state_dict
                                      compares shapes too); finite
    Adam moments  optim.<i>.<key>     i < number of parameters, in the order of `model.parameters()`;
                                      exp_avg and exp_avg_sq of the parameter's shape and dtype,
                                      exp_avg_sq ≥ 0; step a whole number ≥ 0; one parameter group whose
                                      settings are AdamW's, with amsgrad / maximize / capturable /
                                      differentiable off (the trainer never sets them)
    state         rnn_state.<j>       the structure, dtypes and shapes the model returns for a batch of
                                      the saved batch_size from a fresh state, and ids the model can read
    random stream rng.state           a state torch's generator takes (uint8, its length)
    history       history.train/val   (N, 3) float64: step, characters (whole numbers ≥ 0), loss; at most
                                      `max_history_rows` rows
    counters      step, chars_seen, run_step: whole numbers ≤ 2^53; seconds, run_seconds: finite, ≥ 0
    anything else a tensor with another name: refused

Each refusal is a CheckpointError whose message says what is wrong, e.g. "the checkpoint is damaged or
inconsistent: optim.2.exp_avg is float32 (5,), but parameter 2 (rnn.weight_hh_l0) is float32 (96, 32):
the moments do not fit the model". Moments holding NaN/inf are dropped, the weights kept (as before).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields

import torch

from .bundle import History, Split
from .estimate import count_params
from .models.base import CharModel, ModelConfig, State
from .options import TRAIN_OPTIONS, SettingError, check
from .randomness import RunRandom
from .train import TrainConfig

MAX_COUNT = 2**53  # steps and characters: whole numbers the float64 history holds exactly
MAX_SECONDS = 1e9  # training time over a model's whole life (about 32 years)
MAX_HISTORY_ROWS = 1_000_000  # loss-history rows (one per step): ~100 MB once read into Python lists
FLOAT_STATES = (torch.float32, torch.bfloat16, torch.float16)  # bf16 autocast leaves a bf16 state
ADAM_MOMENTS = ("step", "exp_avg", "exp_avg_sq")
# AdamW's parameter-group settings (torch 2.x) and the values the trainer can have saved in them
_OFF = {"amsgrad", "maximize", "capturable", "differentiable"}  # other kernels, other state: never set
_FLAGS = {"foreach", "fused", "decoupled_weight_decay"}  # None or a bool
_NUMBERS = {"lr": 0.0, "eps": 0.0, "weight_decay": 0.0, "initial_lr": 0.0}  # finite, ≥ this
_TENSOR = re.compile(r"model\..+|optim\.(0|[1-9]\d*)\.[a-z_]+|rnn_state\.(0|[1-9]\d*)|history\.(train|val)(_seconds)?"
                     r"|rng\.state")


class CheckpointError(ValueError):
    """A file that is not a readable charrnn checkpoint; the message says why."""


def _damaged(what: str) -> CheckpointError:
    return CheckpointError(f"the checkpoint is damaged or inconsistent: {what}")


def check_tensor_names(tensors: dict[str, torch.Tensor]) -> None:
    """Every tensor is one a checkpoint has (see the module docstring); another name is refused."""
    for name in tensors:
        if not _TENSOR.fullmatch(name):
            raise CheckpointError(f"the checkpoint holds a tensor charrnn does not write ({name!r}): not a "
                                  "charrnn checkpoint, or the file was edited")


def check_vocab(chars) -> str:
    """The saved vocabulary: a non-empty string of distinct characters, none of them a lone surrogate
    (text read as UTF-8 never has one, and writing one out fails)."""
    if not isinstance(chars, str) or not chars:
        raise _damaged("its vocabulary is not a string of characters")
    if len(set(chars)) != len(chars):
        raise _damaged("its vocabulary lists a character twice")
    bad = next((c for c in chars if 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        raise _damaged(f"its vocabulary holds U+{ord(bad):04X}, half of a UTF-16 pair, which no text has")
    return chars


def check_counters(meta: dict[str, str]) -> dict:
    """step, chars_seen, run_step (whole numbers 0…2^53), seconds, run_seconds (finite, 0…1e9 s) and
    world_size (≥ 1; absent: 1), read from the metadata strings; e.g. a file claiming 10^400 characters seen
    is refused."""
    out: dict = {}
    for key in ("step", "chars_seen", "run_step"):
        text = meta.get(key)
        if not isinstance(text, str) or not re.fullmatch(r"\d{1,17}", text.strip()) or int(text) > MAX_COUNT:
            raise _damaged(f"its {key} is {_short(text)}, not a whole number from 0 to {MAX_COUNT:,}")
        out[key] = int(text)
    for key in ("seconds", "run_seconds"):
        text = meta.get(key)
        try:
            value = float(text)
        except (TypeError, ValueError):
            value = math.nan
        if not 0 <= value <= MAX_SECONDS:  # NaN fails too
            raise _damaged(f"its {key} is {_short(text)}, not a number of seconds from 0 to {MAX_SECONDS:.0e}")
        out[key] = value
    text = meta.get("world_size", "1")  # written since torchrun training; older files: one process
    if not isinstance(text, str) or not re.fullmatch(r"\d{1,7}", text.strip()) or int(text) < 1:
        raise _damaged(f"its world_size is {_short(text)}, not a whole number of processes from 1")
    out["world_size"] = int(text)
    return out


def check_train_config(saved) -> TrainConfig | None:
    """The last run's TrainConfig (None: never trained): every setting in its range (`charrnn.options`);
    settings this version does not have are left out."""
    if saved is None:
        return None
    if not isinstance(saved, dict):
        raise _damaged("its training settings are not a table of settings")
    known = {f.name for f in fields(TrainConfig)}
    try:
        values = {k: check(k, v, TRAIN_OPTIONS[k]) if k in TRAIN_OPTIONS else v
                  for k, v in saved.items() if k in known}
    except SettingError as e:
        raise _damaged(f"its training settings are out of range: {e}") from None
    return TrainConfig(**values)


def check_fits(name: str, config: ModelConfig, vocab_size: int, n_bytes: int) -> None:
    """The model the header describes fits in the file: its float32 parameters take 4 bytes each, so a
    header asking for more than the file holds (an n_hidden of 4096 in 20 KB) is refused before gigabytes
    of weights are allocated for it. A server's own limit is `load(max_params=…)`."""
    n = count_params(name, config, vocab_size)
    if 4 * n > n_bytes:
        raise _damaged(f"its header describes a {name} of {n:,} parameters ({4 * n / 1024**2:,.1f} MB of "
                       f"weights), but the whole file has {n_bytes / 1024**2:,.1f} MB")


def check_weights(model: CharModel, weights: dict[str, torch.Tensor]) -> None:
    """Each saved weight has the dtype (and, where the model fixes it, the shape) of the model's own
    tensor, and holds no NaN/inf. Missing and extra names are left to `load_state_dict(strict=True)`."""
    own = model.state_dict()
    for name, t in weights.items():
        mine = own.get(name)
        if mine is None:
            continue
        if t.dtype != mine.dtype:
            raise _damaged(f"model.{name} is {_dtype(t)}, but the model's {name} is {_dtype(mine)}")
        # a tensor the model sizes from its data (the n-gram's counts, empty until counted) may have any
        # length; every other one has exactly the model's shape
        if (t.shape != mine.shape and mine.numel() > 0) or t.dim() != mine.dim():
            raise _damaged(f"model.{name} has shape {_shape(t)}, but this {type(model).__name__} has "
                           f"{_shape(mine)}: the weights do not fit the model the file describes")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"the weights contain NaN/inf in model.{name} ({bad:,} of {t.numel():,} "
                                  "values): training diverged before this was saved, or the file was edited; "
                                  "train again (or from an earlier checkpoint)")


def check_history(tensors: dict[str, torch.Tensor], max_rows: int | None = MAX_HISTORY_ROWS) -> History:
    """The loss curves: (N, 3) float64 rows of step, characters seen (whole numbers 0…2^53) and loss
    (any float: an unsmoothed n-gram's validation loss is a real ∞). Missing curves are empty."""
    columns = {}
    for part in ("train", "val"):
        t = tensors.get(f"history.{part}")
        if t is None:
            t = torch.zeros(0, 3, dtype=torch.float64)
        name = f"history.{part}"
        if t.dtype != torch.float64 or t.dim() != 2 or t.shape[1] != 3:
            raise _damaged(f"{name} is {_dtype(t)} {_shape(t)}, not (rows, 3) float64")
        if max_rows is not None and t.shape[0] > max_rows:
            raise CheckpointError(f"{name} has {t.shape[0]:,} rows, more than the {max_rows:,} this loader "
                                  "accepts (one row per training step)")
        counts = t[:, :2]
        if not bool(((counts >= 0) & (counts <= MAX_COUNT) & (counts == counts.round())).all()):
            raise _damaged(f"{name} has a step or character count that is not a whole number from 0 to "
                           f"{MAX_COUNT:,} (or is NaN)")
        columns[part] = (t[:, 0].long().tolist(), t[:, 1].long().tolist(), t[:, 2].tolist())
    seconds = [_seconds(tensors, f"history.{part}_seconds", len(columns[part][0])) for part in ("train", "val")]
    return History(*columns["train"], *columns["val"], *seconds)


def _seconds(tensors: dict[str, torch.Tensor], name: str, n: int) -> list[float]:
    """One float64 per point of the curve, seconds of the run's own clock (0…1e9, or NaN: unknown); a file
    written before seconds were kept has none, read as NaN."""
    t = tensors.get(name)
    if t is None:
        return [math.nan] * n
    if t.dtype != torch.float64 or t.dim() != 1 or t.shape[0] != n:
        raise _damaged(f"{name} is {_dtype(t)} {_shape(t)}, not ({n},) float64: one per point of its curve")
    if not bool((t.isnan() | ((t >= 0) & (t <= MAX_SECONDS))).all()):
        raise _damaged(f"{name} has a time that is not a number of seconds from 0 to {MAX_SECONDS:.0e}")
    return t.tolist()


def check_split(meta: dict[str, str]) -> Split | None:
    """The last run's split of its text (`Bundle.split`); None where the file does not say (files written
    before the split was kept: the default fraction applies, and the plan says so)."""
    if "split" not in meta:
        return None
    try:
        raw = json.loads(meta["split"])
        split = Split(float(raw["val_fraction"]), int(raw["n_train"]), int(raw["n_chars"]))
    except (TypeError, ValueError, KeyError, json.JSONDecodeError):
        raise _damaged(f"its split is {_short(meta['split'])}, not a fraction and two counts") from None
    if not (0 < split.val_fraction < 1 and 0 < split.n_train < split.n_chars <= MAX_COUNT):
        raise _damaged(f"its split is impossible ({_short(meta['split'])})")
    return split


def check_optimizer(model: CharModel, tensors: dict[str, torch.Tensor], groups) -> dict | None:
    """The Adam moments (`optim.<i>.<key>`) and parameter groups as `Optimizer.load_state_dict` takes them,
    checked against `model.parameters()`; None when there are none, or when a moment holds NaN/inf
    (they would diverge at the first step: the weights are kept, the moments dropped)."""
    moments = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    if groups is None:
        if moments:
            raise _damaged("it holds Adam moments but not the optimizer settings they go with")
        return None
    params = list(model.named_parameters())
    _check_groups(groups, len(params))
    state: dict[int, dict] = {}
    for key, value in moments.items():
        _, i, moment = key.split(".", 2)
        i = int(i)
        if i >= len(params) or moment not in ADAM_MOMENTS:
            raise _damaged(f"it holds {key}, but this model has {len(params)} parameters, "
                           f"each with {', '.join(ADAM_MOMENTS)}")
        state.setdefault(i, {})[moment] = value
    finite = True
    for i, st in sorted(state.items()):
        name, p = params[i]
        missing = [m for m in ADAM_MOMENTS if m not in st]
        if missing:
            raise _damaged(f"the Adam moments of parameter {i} ({name}) lack {', '.join(missing)}")
        step = st["step"]
        if step.dim() != 0 or not (step.is_floating_point() or step.dtype == torch.int64) \
                or not 0 <= float(step) <= MAX_COUNT or float(step) != round(float(step)):
            raise _damaged(f"optim.{i}.step is not one whole number from 0 to {MAX_COUNT:,}")
        for moment in ("exp_avg", "exp_avg_sq"):
            t = st[moment]
            if t.shape != p.shape or t.dtype != p.dtype:
                raise _damaged(f"optim.{i}.{moment} is {_dtype(t)} {_shape(t)}, but parameter {i} ({name}) "
                               f"is {_dtype(p)} {_shape(p)}: the moments do not fit the model")
            finite = finite and bool(torch.isfinite(t).all())
        if bool((st["exp_avg_sq"] < 0).any()):
            raise _damaged(f"optim.{i}.exp_avg_sq has negative values; a mean of squares never does")
    if not finite:
        return None
    return {"state": state, "param_groups": groups}


def _check_groups(groups, n_params: int) -> None:
    """One AdamW parameter group over parameters 0 … n-1, its settings of the right kinds."""
    if not (isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict)):
        raise _damaged("its optimizer settings are not the one parameter group the trainer saves")
    group = groups[0]
    missing = [k for k in ("lr", "betas", "eps", "weight_decay") if k not in group]
    if missing:
        raise _damaged(f"its optimizer settings lack {', '.join(missing)}")
    if group.get("params") != list(range(n_params)):
        raise _damaged(f"its optimizer covers other parameters than this model's {n_params}")
    betas = group.get("betas")
    if not (isinstance(betas, list) and len(betas) == 2 and all(_number(b) and 0 <= b < 1 for b in betas)):
        raise _damaged(f"its Adam betas are {_short(betas)}, not two numbers in [0, 1)")
    for key, value in group.items():
        if key in ("params", "betas"):
            continue
        if key in _OFF:
            ok = value is False
        elif key in _FLAGS:
            ok = value is None or isinstance(value, bool)
        elif key in _NUMBERS:
            ok = _number(value) and value >= _NUMBERS[key]
        else:
            raise _damaged(f"its optimizer has a setting AdamW does not have: {_short(key)}")
        if not ok:
            raise _damaged(f"its optimizer setting {key} is {_short(value)}, which the trainer never saves")
    if group["eps"] <= 0:
        raise _damaged("its Adam eps is 0; Adam divides by it")


@torch.no_grad()
def check_rng(tensors: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The run's random stream `rng.state` (None where the file has none: written before runs kept one, or
    weights only), refused unless torch's generator takes it as it is."""
    t = tensors.get("rng.state")
    if t is None:
        return None
    if t.dtype != torch.uint8 or t.dim() != 1:
        raise _damaged(f"rng.state is {_dtype(t)} {_shape(t)}, not a random generator's (N,) uint8 state")
    try:
        return RunRandom.from_state(t).state()
    except ValueError as e:
        raise _damaged(f"rng.state is {e}") from None


def check_state(model: CharModel, tensors: dict[str, torch.Tensor], kind: str, train_config: TrainConfig | None
                ) -> State:
    """The saved recurrent state (or window of last ids) rnn_state.0, rnn_state.1, … as the model carries
    it, `kind` "none" | "tensor" | "tuple". It must have the structure, dtypes and shapes the model returns
    for a batch of the saved batch_size from a fresh state, hold finite values (float parts) and only ids
    the model can read (integer parts). Float parts come back in the model's dtype. Runs the (loaded)
    model in eval mode over a row of T = min(seq_len, context) characters and a few of one character."""
    n = sum(k.startswith("rnn_state.") for k in tensors)
    if any(f"rnn_state.{j}" not in tensors for j in range(n)):
        raise _damaged("its recurrent-state tensors are not numbered 0, 1, 2 …")
    parts = [tensors[f"rnn_state.{j}"] for j in range(n)]
    if kind not in ("none", "tensor", "tuple"):
        raise _damaged(f"its rnn_state kind is {_short(kind)}, not none, tensor or tuple")
    if kind == "none":
        if parts:
            raise _damaged("it holds recurrent-state tensors but says it has no state")
        return None
    if train_config is None:
        raise _damaged("it holds a recurrent state but not the training settings it belongs to")
    was_training = model.training
    model.eval()
    try:
        def carried(batch: int, steps: int):
            return _parts(model(torch.zeros(batch, steps, dtype=torch.long, device=model.device), None)[1])

        # a window model's state depends on the last `context` characters only; a recurrent one's on none
        T = min(train_config.seq_len, model.context or 1, model.max_seq_len or train_config.seq_len)
        one, small, two = carried(1, T), carried(1, 1), carried(2, 1)  # small vs two: which dimension is B
        if not one:
            raise _damaged(f"it holds a recurrent state, but a {type(model).__name__} carries none")
        want = "tensor" if len(one) == 1 and not isinstance(one, tuple) else "tuple"
        if (kind, len(parts)) != (want, len(one)):
            raise _damaged(f"its recurrent state is a {kind} of {len(parts)} tensor(s), but a "
                           f"{type(model).__name__} carries a {want} of {len(one)}")
        out = []
        for j, (saved, a, b, c) in enumerate(zip(parts, one, small, two, strict=True)):
            expected = [train_config.batch_size if y != z else x
                        for x, y, z in zip(a.shape, b.shape, c.shape, strict=True)]
            if list(saved.shape) != expected:
                raise _damaged(f"rnn_state.{j} has shape {_shape(saved)}, but this model with batch_size "
                               f"{train_config.batch_size} carries {tuple(expected)}")
            if a.is_floating_point():
                if saved.dtype not in FLOAT_STATES or not bool(torch.isfinite(saved).all()):
                    raise _damaged(f"rnn_state.{j} is {_dtype(saved)} with NaN/inf, or is not a float")
                out.append(saved.to(a.dtype))
            else:
                if saved.dtype != a.dtype:
                    raise _damaged(f"rnn_state.{j} is {_dtype(saved)}, but the model carries {_dtype(a)}")
                out.append(saved)
        _probe_ids(model, small, out)
    finally:
        model.train(was_training)
    return out[0] if kind == "tensor" else tuple(out)


def _probe_ids(model: CharModel, reference: list[torch.Tensor], state: list[torch.Tensor]) -> None:
    """Integer state parts are ids: run the model once from a state filled with their smallest, then their
    largest value (an id the model cannot read raises here, on the CPU, not later on a GPU). `reference`:
    the state after one character, so the probe reads one short window."""
    ints = [j for j, t in enumerate(state) if not t.is_floating_point() and t.numel()]
    if not ints:
        return
    for pick in (torch.min, torch.max):
        probe = [torch.full_like(r, int(pick(state[j]))) if j in ints else r for j, r in enumerate(reference)]
        try:
            model(torch.zeros(1, 1, dtype=torch.long, device=model.device),
                  probe[0] if len(probe) == 1 else tuple(probe))
        except (IndexError, RuntimeError, ValueError) as e:
            raise _damaged(f"its saved window holds ids from {int(torch.min(state[ints[0]]))} "
                           f"to {int(torch.max(state[ints[0]]))}, which this model cannot read "
                           f"({str(e).splitlines()[0]})") from None


def _parts(state) -> list[torch.Tensor] | tuple:
    """A state as a list (a single tensor) or a tuple (several) of tensors."""
    return [state] if isinstance(state, torch.Tensor) else tuple(state or ())


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _shape(t) -> str:
    return str(tuple(t.shape))


def _dtype(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["MAX_COUNT", "MAX_HISTORY_ROWS", "MAX_SECONDS", "CheckpointError", "check_counters", "check_fits",
           "check_history", "check_optimizer", "check_state", "check_tensor_names", "check_train_config",
           "check_vocab", "check_weights"]
