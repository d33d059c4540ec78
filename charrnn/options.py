"""Every setting a user can give, with its type and allowed range: one table, checked in one place.

    OPTIONS[name] ─► check(name, value) ─► a typed value, or SettingError naming the setting,
                                           its allowed range and what to do

The run plan (`run.py`), `make_config` (so `build_model` refuses a bad size too), `train.check_config`,
the sampler, the CLI's flags and the page's inputs all read this table: a range is written once.
Server limits (time, model size) come on top of these ranges, in the run plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class SettingError(ValueError):
    """One setting is outside its allowed range or of the wrong type.

    `setting` names it (the same word as the config field, the CLI flag and the API parameter),
    `value` is what was given; the message says the allowed range and what to do.
    """

    def __init__(self, setting: str, message: str, value=None):
        super().__init__(message)
        self.setting, self.value = setting, value


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # "int" | "float" | "bool" | "str"
    label: str  # a short human name (the page's label)
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is not allowed (lr > 0)
    below: bool = False  # the maximum itself is not allowed (dropout < 1)
    choices: tuple[str, ...] = ()
    none: str | None = None  # what None means where None is allowed ("no limit", "the preset"...)
    advice: str = ""  # what to do, appended to a range error

    def range_text(self) -> str:
        """The allowed values in words: "a whole number from 1 to 4,096", "a number > 0 and ≤ 10"."""
        if self.kind == "bool":
            return "on or off"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        what = "a whole number" if self.kind == "int" else "a number"
        lo, hi = _fmt(self.minimum), _fmt(self.maximum)
        if self.minimum is not None and self.maximum is not None and not (self.above or self.below):
            text = f"{what} from {lo} to {hi}"
        else:
            parts = []
            if self.minimum is not None:
                parts.append(f"{'>' if self.above else '≥'} {lo}")
            if self.maximum is not None:
                parts.append(f"{'<' if self.below else '≤'} {hi}")
            text = f"{what} {' and '.join(parts)}"
        return text + (f" (or none: {self.none})" if self.none else "")


def _fmt(x) -> str:
    if x is None:
        return ""
    if float(x).is_integer() and abs(x) >= 1:
        return f"{int(x):,}"
    return f"{x:g}"


MODEL_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("order", "int", "n-gram order (n)", "predict from the previous n-1 characters", 1, 10,
           advice="1 is letter frequencies, 2 a bigram, 5 a typical n-gram"),
    Option("smoothing", "float", "add-k smoothing (k)", "every count starts at k; 0 = raw counts", 0, 100),
    Option("interpolate", "bool", "interpolate", "back off to shorter contexts (MacKay & Peto 1995)"),
    Option("context", "int", "context (characters)", "how many previous characters the model sees", 1, 256),
    Option("block_size", "int", "context window (block_size)", "the longest window attention sees", 1, 1024),
    Option("n_embd", "int", "embedding size", "length of the vector that stands for a character", 1, 4096),
    Option("n_hidden", "int", "hidden size", "numbers in the hidden state / hidden layer", 1, 4096),
    Option("n_layer", "int", "layers", "stacked layers", 1, 32),
    Option("n_head", "int", "attention heads", "must divide the embedding size", 1, 64),
    Option("dropout", "float", "dropout", "share of activations zeroed while training (0 = off)", 0, 1,
           below=True, advice="0.1-0.3 is usual; 0 turns it off"),
    Option("onehot", "bool", "one-hot input (no embedding)", "the classic char-rnn input"),
    Option("identity_init", "bool", "identity init of W_hh (IRNN, Le et al. 2015)"),
    Option("nonlinearity", "str", "nonlinearity", choices=("tanh", "relu")),
    Option("combine", "str", "combine input and state", "W_ih x + W_hh h, or W [x; h]", choices=("add", "concat")),
]}

TRAIN_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("time_budget", "float", "time budget (seconds)", "train for this many seconds", 0, 10_000_000,
           above=True, none="no time limit"),
    Option("max_steps", "int", "step limit", "stop after this many steps", 1, 10**12, none="no step limit"),
    Option("batch_size", "int", "batch size", "text pieces learned from at once", 1, 4096),
    Option("seq_len", "int", "sequence length", "characters per piece (backprop through time)", 1, 4096),
    Option("lr", "float", "learning rate", "step size of the optimizer (AdamW)", 0, 10, above=True,
           advice="1e-3 to 5e-3 suits these models"),
    Option("weight_decay", "float", "weight decay", "pulls every weight a little towards 0 each step "
           "(AdamW): less learning by heart", 0, 10),
    Option("warmup_steps", "int", "warm-up steps", "steps of linear learning-rate warm-up", 0, 10**9),
    Option("min_lr_ratio", "float", "final learning-rate ratio", "the cosine decay ends at lr × this", 0, 1),
    Option("grad_clip", "float", "gradient clip", "largest global gradient norm", 0, 1e6, above=True,
           none="no clipping", advice="1 is usual; 'none' turns clipping off"),
    Option("eval_every", "float", "validation every (s)", "seconds between validation estimates (0: every step)",
           0, 1e12),
    Option("eval_chars", "int", "validation characters", "held-out characters per estimate", 1, 10**9),
    Option("sample_every", "float", "sample every (s)", "seconds between samples while training (0: none)", 0, 1e6),
    Option("sample_length", "int", "sample length", "characters per sample while training", 1, 100_000),
    Option("precision", "str", "precision", "fp32, bf16 autocast, or auto", choices=("fp32", "bf16", "auto")),
    Option("threads", "int", "threads", "torch threads while training (0: measure 1 and 2 at warm-up and keep the "
           "faster)", 0, 1024, none="leave as is"),
    Option("seed", "int", "seed", "random seed of the weights, batches and dropout", 0, 2**32 - 1),
    Option("device", "str", "device", "auto, cpu, cuda, cuda:N or mps"),
    Option("final_eval_chars", "int", "final validation characters", "the final validation pass reads the "
           "held-out text's first N characters, the same ones every run", 1, 10**12, none="all of it"),
    Option("clock", "str", "clock", "wall: the budget is time since the start; own: only the trainer's own "
           "compute (a race)", choices=("wall", "own")),
    Option("loss_on", "str", "loss on", "all: a prediction at every position; last: only each window's last "
           "character", choices=("all", "last")),
    Option("stateless", "bool", "stateless", "recurrent models learn from independent windows, each from a "
           "fresh state, instead of carried streams (TBPTT)"),
    Option("stats_every", "int", "gradient statistics every", "steps between per-layer gradient norms and "
           "update ratios (0: never)", 0, 10**9),
]}

RUN_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("val_fraction", "float", "validation fraction", "share of the text held out at its end", 0, 1,
           above=True, below=True, advice="0.1 is usual"),
]}

SAMPLE_OPTIONS: dict[str, Option] = {o.name: o for o in [
    # One range for the page's slider, the API and the CLI (the CLI took 9 where the page stops at 2): at 2 the
    # distribution is already close to a uniform guess, above it a sample is noise
    Option("temperature", "float", "temperature", "0 = always the likeliest · 1 = as learned · 2 = wild", 0, 2,
           advice="above 2 a sample is close to a uniform guess over the vocabulary"),
    Option("top_k", "int", "top-k", "keep the k likeliest characters (0 = all)", 0, 1_000_000),
    Option("length", "int", "length", "characters to write", 0, 1_000_000),
    Option("seed", "int", "seed", "random seed of the sampler", 0, 2**32 - 1, none="random"),
]}

OPTIONS: dict[str, Option] = {**MODEL_OPTIONS, **TRAIN_OPTIONS, **RUN_OPTIONS}


def check(name: str, value, option: Option | None = None):
    """`value` as the type `name` wants, within its range; None stays None where None is allowed.

    Accepts what the doors send: numbers as int/float/str (the CLI), floats that are whole for an int
    (a Gradio Number sends 64.0), "none" for an optional setting. Raises SettingError otherwise.
    """
    opt = option or OPTIONS.get(name)
    if opt is None:
        raise SettingError(name, f"unknown setting {name!r}", value)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
        if opt.none:
            return None
        raise SettingError(name, f"{name} must be {opt.range_text()}; it cannot be left empty", value)
    if opt.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("on", "true", "yes", "1", "off", "false", "no", "0"):
            return value.strip().lower() in ("on", "true", "yes", "1")
        raise SettingError(name, f"{name} must be on or off, not {value!r}", value)
    if opt.kind == "str":
        value = str(value).strip()
        if opt.choices and value not in opt.choices:
            raise SettingError(name, f"{name} must be {opt.range_text()}, not {value!r}", value)
        return value
    number = _number(name, value, opt)
    low_bad = opt.minimum is not None and (number <= opt.minimum if opt.above else number < opt.minimum)
    high_bad = opt.maximum is not None and (number >= opt.maximum if opt.below else number > opt.maximum)
    if low_bad or high_bad:
        raise SettingError(name, f"{name} must be {opt.range_text()}, not {_fmt_value(number)}"
                           + (f": {opt.advice}" if opt.advice else ""), value)
    return number


def _number(name: str, value, opt: Option):
    if isinstance(value, bool):
        raise SettingError(name, f"{name} must be {opt.range_text()}, not {value!r}", value)
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError, OverflowError):
        raise SettingError(name, f"{name} must be {opt.range_text()}, not {value!r}", value) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise SettingError(name, f"{name} must be a finite number ({opt.range_text()}), not {value!r}", value)
    if opt.kind == "int":
        if isinstance(number, float):
            if not number.is_integer():
                raise SettingError(name, f"{name} must be a whole number ({opt.range_text()}), not {value!r}",
                                   value)
            if isinstance(value, str) and abs(number) >= 2**53:  # "1e23": not the integer the user meant
                raise SettingError(name, f"{name} must be {opt.range_text()}, not {value!r}", value)
            number = int(number)
        return int(number)
    return float(number)


def _fmt_value(x) -> str:
    if isinstance(x, int) and abs(x) >= 10**15:
        if x.bit_length() > 1000:  # past a float's range: "{:.3g}" would raise OverflowError
            return f"a {'negative ' if x < 0 else ''}number of about {int(x.bit_length() * math.log10(2)) + 1:,} digits"
        return f"{x:.3g}"
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_all(values: dict, table: dict[str, Option] | None = None) -> dict:
    """Every (name, value) checked with `check`; the same dict with typed values."""
    table = table or OPTIONS
    return {k: check(k, v, table.get(k)) for k, v in values.items()}


def check_sampling(temperature=1.0, top_k=None, length=None, seed=None) -> tuple[float, int | None, int | None,
                                                                                   int | None]:
    """(temperature, top_k or None, length, seed) checked against SAMPLE_OPTIONS. top_k 0 means all."""
    t = check("temperature", temperature, SAMPLE_OPTIONS["temperature"])
    k = check("top_k", top_k if top_k is not None else 0, SAMPLE_OPTIONS["top_k"])
    n = None if length is None else check("length", length, SAMPLE_OPTIONS["length"])
    s = check("seed", seed, SAMPLE_OPTIONS["seed"])
    return t, (k or None), n, s
