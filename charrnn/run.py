"""The one door for every run: what a user asked for → a checked, complete plan → training.

    plan_run(corpus, model, settings, time_budget=…, max_steps=…, continue_from=…, limits=…, out=…)
        ─► RunPlan: model config, train config, vocabulary, data split, device, output, parameter count
    bundle = plan.build()              the model (new, or the one being continued)
    for event in plan.train(bundle):   charrnn.train with the plan's data and config

The page's /train, the CLI's `train`, the Python API and the benchmarks all go through `plan_run`;
nothing else assembles a run. `settings` holds only what the user chose (None or absent = unset):
presets fill the rest from the actual corpus size, vocabulary and budget (`presets.preset`), so the
same text, model and settings give the same plan from every door. Everything is checked before any
weight is allocated: a bad value raises SettingError naming it and its range, a combination that
cannot train raises TrainingError, unusable text CorpusError — all ValueErrors, whose messages are
what the CLI prints and the page shows.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from .adjust import fit_seq_len, fit_validation
from .bundle import Bundle, Split
from .corpus import VAL_FRACTION, CorpusError, Vocab, split
from .distributed import ONE, Ranks
from .estimate import Estimate, estimate
from .limits import NO_LIMITS, Limits, check_cost
from .models import MODELS, ModelConfig, build_model, make_config, model_class
from .options import MODEL_OPTIONS, OPTIONS, TRAIN_OPTIONS, SettingError, check
from .presets import StepSeconds, explained_preset
from .textstore import Corpus, LazyText
from .train import TrainConfig, TrainEvent, TrainingError, check_config, pick_device, run_progress, train

DEFAULT_MODEL = "lstm"  # the classic char-rnn
DEFAULT_TIME_BUDGET = TrainConfig.time_budget  # seconds, for the CLI and the Python API when none is given

# Settings an exact resume may change: where and how fast it runs, not what it computes.
_RESUME_FREE = {"device", "threads", "sample_every", "sample_length", "eval_every", "eval_chars", "stats_every",
                "final_eval_chars"}
# Settings of a run that depend on its budget; a continued run takes them from the preset again.
_BUDGET_SETTINGS = {"time_budget", "max_steps", "eval_every", "eval_chars"}
_MACHINE = {"device", "threads"}


@dataclass
class Data:
    """The run's corpus as ids, split into a training part and the held-out end.

    ids: (N,) uint8 or int32 over `vocab` (memory-mapped from a cache file for a large corpus:
    `charrnn.textstore`); `train` and `val` are views of it (no copy), cast to int64 a batch at a time.
    `text` is the text itself where it is in memory anyway (the page, `read_text`), else a `LazyText` that
    decodes the slice asked for: nothing holds a large corpus's whole text.
    """

    corpus: Corpus
    n_train: int

    @property
    def vocab(self) -> Vocab:
        return self.corpus.vocab

    @property
    def ids(self) -> torch.Tensor:  # (N,)
        return self.corpus.ids

    @property
    def text(self) -> str | LazyText:
        return self.corpus.text

    @property
    def train(self) -> torch.Tensor:  # (n_train,)
        return self.ids[: self.n_train]

    @property
    def val(self) -> torch.Tensor:  # (N - n_train,)
        return self.ids[self.n_train:]

    @property
    def train_text(self) -> str | LazyText:
        return self.corpus.text_span(0, self.n_train)

    @property
    def val_text(self) -> str | LazyText:
        return self.corpus.text_span(self.n_train)


@dataclass
class Resolved:
    """Settings with every gap filled: what `plan_run` will use, without the text's ids."""

    model_name: str
    model_options: dict  # every field of the model's Config
    train_config: TrainConfig
    sources: dict[str, str]  # setting → "you" | "preset" | "saved run": where its value came from
    ignored: list[str] = field(default_factory=list)  # given, but the model has no such setting
    resume: bool = False  # an exact resume of an interrupted run
    val_fraction: float = VAL_FRACTION  # the held-out share at the end of the text
    reasons: dict[str, str] = field(default_factory=dict)  # setting → why the plan changed its source's value


@dataclass
class RunPlan:
    """A checked, complete run. `build()` makes (or returns) the model; `train(bundle)` runs it."""

    model_name: str
    model_config: ModelConfig
    train_config: TrainConfig
    data: Data
    device: torch.device
    n_params: int
    val_fraction: float
    sources: dict[str, str]
    ignored: list[str]
    continue_from: Bundle | None = None
    resume: bool = False
    out: Path | None = None
    cost: Estimate | None = None  # estimated memory and step time (estimate.py)
    reasons: dict[str, str] = field(default_factory=dict)  # setting → why the plan changed its source's value

    @property
    def vocab(self) -> Vocab:
        return self.data.vocab

    @property
    def split(self) -> Split:
        return Split(self.val_fraction, self.data.n_train, len(self.data.ids))

    def val_figure(self, final: bool = True) -> tuple[int, str]:
        """How much held-out text a validation figure of this run covers: (characters, "full" or "first N
        characters"). final: the final pass (`final_eval_chars`), else a periodic estimate (`eval_chars`)."""
        held_out = len(self.data.val) - 1  # the characters predicted: each from the ones before it
        limit = self.train_config.final_eval_chars if final else self.train_config.eval_chars
        chars = held_out if limit is None else min(held_out, limit)
        return chars, "full" if chars >= held_out else f"first {chars:,} characters"

    def val_coverage(self, final: bool = True) -> str:
        """`val_figure` in words: "the whole held-out text (111,538 characters)" or "the held-out text's first
        200,000 characters (of 10,596,242)" — what the CLI's last line and the page's status say."""
        chars, kind = self.val_figure(final)
        return (f"the whole held-out text ({chars:,} characters)" if kind == "full" else
                f"the held-out text's first {chars:,} characters (of {len(self.data.val) - 1:,})")

    def build(self) -> Bundle:
        """The bundle this run trains: the one continued, or a new model seeded by train_config.seed."""
        if self.continue_from is not None:
            return self.continue_from
        model = build_model(self.model_name, len(self.vocab), self.model_config, seed=self.train_config.seed)
        return Bundle(model, self.vocab, self.model_name)

    def train(self, bundle: Bundle, ranks: Ranks = ONE, asked: Callable[[], bool] = lambda: False
              ) -> Iterator[TrainEvent]:
        """`charrnn.train` on this plan's split with this plan's config (a generator of TrainEvents); the
        bundle keeps the split, so that an exact resume validates on the same text. ranks, asked: see
        `charrnn.train.train` (several processes under torchrun)."""
        bundle.split = self.split
        return train(bundle, self.data.train, self.data.val, self.train_config, resume=self.resume, ranks=ranks,
                     asked=asked)


def resolve(model: str | None, n_chars: int, vocab_size: int, settings: Mapping | None = None, *,
            time_budget: float | None = None, max_steps: int | None = None, continue_from: Bundle | None = None,
            limits: Limits = NO_LIMITS, default_time_budget: float = DEFAULT_TIME_BUDGET,
            step_seconds: StepSeconds | None = None) -> Resolved:
    """Fill the user's choices (`settings`, None = unset) from the preset for this corpus and budget, or
    from the saved run when continuing, then fit them to the text, the model's speed and the server
    (`charrnn.adjust`, each change with its reason). Cheap (no ids, no weights): the page calls it to show
    what an empty field will mean (a time budget's first plan in a process measures a step, ~0.1-0.3 s:
    `charrnn.steprate`). Raises SettingError / TrainingError."""
    given = {k: v for k, v in (settings or {}).items() if v is not None}
    for k in given:
        if k not in OPTIONS:
            raise SettingError(k, f"unknown setting {k!r}", given[k])
    name = _model_name(model, continue_from)
    have = {f.name for f in fields(model_class(name).Config)}
    ignored = sorted(k for k in given if k in MODEL_OPTIONS and k not in have)  # unchecked: not used
    given = {k: check(k, v) for k, v in given.items() if k not in ignored}
    time_budget = check("time_budget", time_budget, TRAIN_OPTIONS["time_budget"])
    max_steps = check("max_steps", max_steps, TRAIN_OPTIONS["max_steps"])
    r = _fill(name, n_chars, vocab_size, given, have, time_budget, max_steps, continue_from, limits,
              default_time_budget, step_seconds)
    r.ignored = ignored
    r.val_fraction = _val_fraction(r, given.get("val_fraction"), continue_from)
    shape = _shape_only(name, vocab_size, make_config(name, **r.model_options))  # raises for impossible sizes
    r.train_config, why = fit_seq_len(r.train_config, r.sources, shape.max_seq_len, n_chars, r.val_fraction,
                                      r.resume)
    r.reasons.update(why)
    cost = estimate(name, make_config(name, **r.model_options), vocab_size, r.train_config.batch_size,
                    r.train_config.seq_len, n_chars)
    r.train_config, why = fit_validation(r.train_config, r.sources, cost, limits)
    r.reasons.update(why)
    return r


def _fill(name: str, n_chars: int, vocab_size: int, given: dict, have: set, time_budget: float | None,
          max_steps: int | None, continue_from: Bundle | None, limits: Limits, default_time_budget: float,
          step_seconds: StepSeconds | None = None) -> Resolved:
    """Every setting's value and source: yours, else the saved run's (continuing), else the preset's."""
    saved = continue_from.train_config if continue_from is not None else None
    resume = (saved is not None and time_budget is None and max_steps is None
              and run_progress(saved, continue_from.run_step, continue_from.run_seconds) < 1)
    budget_source = "you" if time_budget is not None or max_steps is not None else "preset"
    time_budget, reasons = _time_budget(time_budget, max_steps, resume, limits, default_time_budget)
    mine = {k: v for k, v in given.items() if k in have}
    train_given = {k: v for k, v in given.items() if k in TRAIN_OPTIONS}
    options, config, why = explained_preset(name, n_chars, time_budget, max_steps, vocab_size=vocab_size,
                                            step_seconds=step_seconds)
    if continue_from is None:  # why the preset left a family's own value (yours, typed below, needs no reason)
        reasons.update({k: v for k, v in why.items() if k not in mine})
    sources = {}
    if continue_from is not None:
        old = continue_from.model.config.to_dict()
        changed = [f"{k} {old[k]} → {v}" for k, v in mine.items() if old[k] != v]
        if changed:
            raise TrainingError(f"the model being continued has other settings ({', '.join(changed)}); a trained "
                                "model's settings cannot change. Leave them unset to continue it, or start a "
                                "new model")
        options, sources = old, dict.fromkeys(old, "saved run")
        if saved is not None:
            # the machine it ran on (device, threads) is not part of a run: it runs where it is now
            kept = {k: v for k, v in asdict(saved).items() if k not in _BUDGET_SETTINGS | _MACHINE}
            if resume:
                fixed = [f"{k} {kept[k]} → {v}" for k, v in train_given.items()
                         if k not in _RESUME_FREE and kept.get(k) != v]
                if fixed:
                    raise TrainingError("an exact resume continues the saved run's schedule and batches, so "
                                        f"these cannot change: {', '.join(fixed)}. Leave them out, or give a new "
                                        "time budget or step limit: that starts a new run from the saved weights "
                                        "with your settings")
                config = replace(saved, **{k: getattr(config, k) for k in _MACHINE})
                kept = {k: v for k, v in asdict(saved).items() if k not in _MACHINE}  # its budget too
            else:
                config = replace(config, **{k: v for k, v in kept.items() if k in TRAIN_OPTIONS})
            sources.update(dict.fromkeys(kept, "saved run"))
    else:
        options = {**make_config(name, **options).to_dict()}
        sources = dict.fromkeys(options, "preset")
    options.update(mine)
    if not resume:
        config = replace(config, time_budget=time_budget, max_steps=max_steps)
        sources.update(time_budget=budget_source, max_steps=budget_source)
    config = replace(config, **train_given)
    sources.update(dict.fromkeys(list(mine) + list(train_given), "you"))
    sources.update({k: "preset" for k in asdict(config) if k not in sources})
    return Resolved(name, options, config, sources, resume=resume, reasons=reasons)


def _time_budget(time_budget: float | None, max_steps: int | None, resume: bool, limits: Limits,
                 default_time_budget: float) -> tuple[float | None, dict[str, str]]:
    """The run's time budget (None: only its step limit, or the saved run's when resuming) and, where the server
    set it, why. Raises SettingError over the server's limit."""
    if time_budget is None and not resume:
        time_budget = None if max_steps else default_time_budget
    if limits.max_seconds is None:
        return time_budget, {}
    if time_budget is not None and time_budget > limits.max_seconds:
        raise SettingError("time_budget", f"time_budget {time_budget:g} s is over this server's limit of "
                           f"{limits.max_seconds:g} s per run; choose {limits.max_seconds:g} or less", time_budget)
    if time_budget is None and not resume:  # a step limit, and the server's clock as well
        return limits.max_seconds, {"time_budget": "this server's limit per run, which bounds a step limit too"}
    return time_budget, {}


def _val_fraction(r: Resolved, given: float | None, continue_from: Bundle | None) -> float:
    """Yours, else the saved run's (continuing), else VAL_FRACTION. An exact resume keeps the saved split: a
    different fraction would move text it trained on into the validation part, or the other way round."""
    split = continue_from.split if continue_from is not None else None
    saved = split.val_fraction if split is not None else VAL_FRACTION
    if given is not None:
        value, r.sources["val_fraction"] = given, "you"
    elif split is not None:
        value, r.sources["val_fraction"] = saved, "saved run"
    else:
        value, r.sources["val_fraction"] = VAL_FRACTION, "preset"
        if continue_from is not None:
            r.reasons["val_fraction"] = (f"the default {VAL_FRACTION:g}: this checkpoint was saved before "
                                         "checkpoints kept their split")
    if r.resume and value != saved:
        old = "the saved run's" if split is not None else "the default, as this older checkpoint does not say"
        raise TrainingError(f"an exact resume continues the saved run on the same split, so val_fraction cannot "
                            f"change ({value:g} given; {old} is {saved:g}). Leave it out, or give a new time "
                            "budget or step limit: that starts a new run from the saved weights")
    return value


def plan_run(corpus: str | Corpus, model: str | None = None, settings: Mapping | None = None, *,
             time_budget: float | None = None, max_steps: int | None = None, continue_from: Bundle | None = None,
             limits: Limits = NO_LIMITS, out: str | Path | None = None, default_out: str | None = None,
             default_time_budget: float = DEFAULT_TIME_BUDGET, same_text: Data | None = None,
             step_seconds: StepSeconds | None = None) -> RunPlan:
    """The complete, checked plan for training `model` on `corpus`.

    corpus: the text (a str, already read and cleaned: `read_text`), or a `Corpus` (`open_corpus`: the
        ids of a file of any size, memory-mapped, or `Corpus.from_text`).
    settings: the user's explicit choices by name (model options, TrainConfig fields, `val_fraction`);
        None or absent means "the preset's value" (or the saved run's, when continuing).
    time_budget / max_steps: the run's budget; neither = `default_time_budget` seconds (when
        continuing an interrupted run, neither = resume it exactly where it stopped, on its saved split).
    continue_from: a trained Bundle to train further (its vocabulary must cover the text).
    limits: the server's bounds. out / default_out: a checkpoint path to check writable now (a folder
        means `default_out` inside it); None = no output.
    same_text: the `data` of another plan of this very text (a race plans one text for several models):
        its vocabulary and ids are reused instead of encoding the text again.
    step_seconds: what a time budget buys in steps (`charrnn.presets.preset`; None: measured here).
    Raises SettingError, TrainingError, CorpusError (ValueErrors) or OSError for an unwritable output.
    """
    if isinstance(corpus, str):
        if not corpus.strip():
            raise CorpusError("the text is empty (or only white space). Give the model some text to learn from.")
        reuse = same_text is not None and same_text.text is corpus
        corpus = same_text.corpus if reuse else Corpus.from_text(corpus)
    if continue_from is not None:
        vocab = continue_from.vocab
        unknown = [c for c in corpus.vocab.chars if c not in vocab.stoi]
        if unknown:
            raise CorpusError("the text has characters the model being continued never saw: "
                              f"{''.join(unknown[:10])!r}; continue it on text with the same characters, or "
                              "start a new model")
        corpus = corpus.over(vocab)  # its ids over the model's vocabulary
    vocab = corpus.vocab
    r = resolve(model, len(corpus), len(vocab), settings, time_budget=time_budget, max_steps=max_steps,
                continue_from=continue_from, limits=limits, default_time_budget=default_time_budget,
                step_seconds=step_seconds)
    config = make_config(r.model_name, **r.model_options)
    shape = _shape_only(r.model_name, len(vocab), config)  # raises for sizes that cannot build
    n_params = shape.num_params() if continue_from is None else continue_from.model.num_params()
    if limits.max_params is not None and continue_from is None and n_params > limits.max_params:
        raise SettingError("n_hidden", f"this model would have {n_params:,} parameters; this server allows at "
                           f"most {limits.max_params:,}. Use a smaller hidden size, embedding or fewer layers",
                           n_params)
    train_config = r.train_config
    train_ids, val_ids = split(corpus.ids, r.val_fraction, seq_len=train_config.seq_len)
    if r.resume:
        _check_same_split(continue_from.split, len(train_ids), len(corpus))
    check_config(train_config, shape, len(train_ids), len(val_ids))
    cost = check_cost(r.model_name, config, len(vocab), train_config, len(corpus), limits)  # before any weight
    device = pick_device(train_config.device)
    path = prepare_output(out, default_out) if (out is not None or default_out is not None) else None
    return RunPlan(r.model_name, config, train_config, Data(corpus, len(train_ids)), device, n_params,
                   r.val_fraction, r.sources, r.ignored, continue_from, r.resume, path, cost, r.reasons)


def _check_same_split(saved: Split | None, n_train: int, n_chars: int) -> None:
    """An exact resume trains on the very characters the saved run did (unknown for older checkpoints)."""
    if saved is not None and (saved.n_train, saved.n_chars) != (n_train, n_chars):
        raise TrainingError(f"an exact resume continues the saved run on the same split: it trained on the first "
                            f"{saved.n_train:,} of {saved.n_chars:,} characters, and this text has {n_chars:,}. "
                            "Resume it on the same text, or give a new time budget or step limit: that starts a "
                            "new run from the saved weights on this text")


def _model_name(model: str | None, continue_from: Bundle | None) -> str:
    if continue_from is not None:
        if model and model != continue_from.model_name:
            raise TrainingError(f"the model being continued is {MODELS[continue_from.model_name].title} "
                                f"({continue_from.model_name!r}), not {model!r}; choose it, or start a new model")
        return continue_from.model_name
    name = model or DEFAULT_MODEL
    model_class(name)  # UnknownModel (a ValueError) naming the registry
    return name


def _shape_only(name: str, vocab_size: int, config: ModelConfig):
    """The model built on PyTorch's "meta" device: shapes and parameter count, no memory."""
    cls = model_class(name)
    try:
        with torch.device("meta"):
            return cls(vocab_size, config)
    except (NotImplementedError, RuntimeError):  # a constructor that needs real numbers
        return cls(vocab_size, config)


def prepare_output(out: str | Path | None, default_name: str | None, what: str = "the checkpoint") -> Path:
    """Where a checkpoint will go, checked before training: parent folders are created, an existing
    folder means `default_name` inside it, and the folder must be writable (probed with a temporary
    file that is removed). Raises OSError (PermissionError, NotADirectoryError …) saying which path."""
    path = Path(out) if out is not None else Path(default_name or "model.safetensors")
    if path.is_dir() or (out is not None and str(out).endswith(os.sep)):
        path = path / (default_name or "model.safetensors")
    if path.is_dir():
        raise IsADirectoryError(f"the output {path} is a folder; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise type(e)(f"cannot write {what} to {path}: {e.strerror or e}") from None
    return path


def plan_rows(r: Resolved | RunPlan) -> list[tuple[str, object, str, str]]:
    """Every value a run will use: (setting, value, source, reason) — the model's options, the training
    settings and `val_fraction`; source "you" | "preset" | "saved run"; reason: why the plan changed the
    value its source gave ("" where it did not)."""
    values = {**(r.model_options if isinstance(r, Resolved) else r.model_config.to_dict()),
              **asdict(r.train_config), "val_fraction": r.val_fraction}
    return [(k, v, r.sources.get(k, "preset"), r.reasons.get(k, "")) for k, v in values.items()]


def describe_sources(r: Resolved | RunPlan, names: list[str] | None = None) -> str:
    """One line: the values a run will use, where each came from and why the plan changed it
    ("n_hidden 192 (preset), seq_len 7 (preset; shortened from 64: the held-out text has 8 characters)")."""
    rows = {k: (v, source, why) for k, v, source, why in plan_rows(r)}
    names = names or [k for k in rows if k in r.sources]
    return ", ".join(f"{k} {_short(rows[k][0])} ({rows[k][1]}{'; ' + rows[k][2] if rows[k][2] else ''})"
                     for k in names if k in rows)


def _short(v) -> str:
    return f"{v:g}" if isinstance(v, float) and math.isfinite(v) else str(v)


__all__ = ["DEFAULT_MODEL", "DEFAULT_TIME_BUDGET", "VAL_FRACTION", "Data", "Limits", "Resolved", "RunPlan",
           "describe_sources", "plan_rows", "plan_run", "prepare_output", "resolve"]
