"""A server's bounds on one run, and the check of a run's estimated cost against them.

    check_cost(name, config, vocab_size, train_config, n_chars, limits) ─► Estimate, or a SettingError that
        names the setting to lower and a value that fits
    fit_view(view, model, name, n_chars, limits) ─► ViewFit: the characters an inspection view may read
        within the view budget (all, or the first k: a sample), or a SettingError when none fit
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .estimate import Estimate, estimate
from .inspect.cost import ViewCost, cheapest_chars, view_cost
from .models import ModelConfig
from .options import SettingError
from .train import TrainConfig, pick_device


@dataclass(frozen=True)
class Limits:
    """A server's bounds on one run (None: no bound). Checked by `plan_run` before anything is built."""

    max_seconds: float | None = None  # the longest time budget
    max_params: int | None = None  # the largest model
    max_run_mb: float | None = None  # the most memory one run may take (estimate.py), MB of 1024²
    max_step_seconds: float | None = None  # the longest one training step may take (Stop answers after it)
    # Validation on a shared server: the held-out text's first N characters (the same N for every run, so
    # runs compare), fewer where the model is too slow to read them in about a second.
    final_eval_chars: int | None = None
    # One inspection view (`charrnn.inspect.cost`): the most memory it may take and the longest it may compute.
    max_view_mb: float | None = None
    max_view_seconds: float | None = None


NO_LIMITS = Limits()  # the CLI and the Python API: no server bounds


# What to lower, by the part of a run that costs most: (setting, where it lives: model config or train config)
_LOWER = {"logits": [("batch_size", "t"), ("seq_len", "t")], "attention": [("seq_len", "t"), ("batch_size", "t")],
          "activations": [("batch_size", "t"), ("seq_len", "t"), ("n_hidden", "m"), ("n_layer", "m")],
          "parameters": [("n_hidden", "m"), ("n_embd", "m"), ("n_layer", "m")]}


def check_cost(name: str, config: ModelConfig, vocab_size: int, train_config: TrainConfig, n_chars: int,
               limits: Limits) -> Estimate:
    """The run's estimated memory and step time (`estimate.py`) within the server's limits, or a
    SettingError that names the setting to lower and a value that fits."""
    def cost(cfg, tc):
        return estimate(name, cfg, vocab_size, tc.batch_size, tc.seq_len, n_chars, pick_device(tc.device).type)

    est = cost(config, train_config)
    for over, what in ((limits.max_run_mb is not None and est.total_mb > limits.max_run_mb, "memory"),
                       (limits.max_step_seconds is not None and est.step_seconds is not None
                        and est.step_seconds > limits.max_step_seconds, "time")):
        if not over:
            continue
        def fits(e, what=what):
            return e.total_mb <= limits.max_run_mb if what == "memory" else e.step_seconds <= limits.max_step_seconds
        advice = []
        for setting, where in _LOWER[est.largest() if what == "memory" else "activations"]:
            obj = train_config if where == "t" else config
            value = getattr(obj, setting, None)
            while isinstance(value, int) and value > 1:
                value //= 2
                changed = replace(obj, **{setting: value})
                if fits(cost(changed, train_config) if where == "m" else cost(config, changed)):
                    advice.append(f"{setting} to {value} (now {getattr(obj, setting)})")
                    break
        need = (f"about {est.total_mb:,.0f} MB of memory, mostly for its {est.largest()}" if what == "memory" else
                f"about {est.step_seconds:.1f} s per training step")
        allowed = (f"{limits.max_run_mb:,.0f} MB per run" if what == "memory" else
                   f"{limits.max_step_seconds:g} s per step, so that Stop and the time budget answer in time")
        raise SettingError(advice[0].split()[0] if advice else "n_hidden",
                           f"this run would need {need}; this server allows {allowed}. Lower "
                           + (", or ".join(advice[:2]) if advice else "the model's size"), None)
    return est


@dataclass(frozen=True)
class ViewFit:
    """How much of its text a view may read: `chars` of the `asked`; `cost` at that length, and `whole`, the
    cost of the whole text (the same when nothing was cut)."""

    chars: int
    asked: int
    cost: ViewCost
    whole: ViewCost

    @property
    def cut(self) -> bool:
        return self.chars < self.asked


def _within(cost: ViewCost, limits: Limits) -> bool:
    return ((limits.max_view_mb is None or cost.mb <= limits.max_view_mb)
            and (limits.max_view_seconds is None or cost.seconds <= limits.max_view_seconds))


def view_budget(limits: Limits) -> str:
    """The view budget in words: "300 MB and 5 s a view"."""
    parts = ([f"{limits.max_view_mb:,.0f} MB"] if limits.max_view_mb is not None else []) + \
            ([f"{limits.max_view_seconds:g} s"] if limits.max_view_seconds is not None else [])
    return " and ".join(parts) + " a view"


def fit_view(view: str, model, model_name: str, n_chars: int, limits: Limits) -> ViewFit:
    """The longest start of an `n_chars`-character text `view` may read with `model` within the server's
    view budget (`Limits.max_view_mb`, `max_view_seconds`): all of it, or its first k characters. A view's
    cost grows with the text, so the longest start that fits is found by bisection. SettingError
    (setting "max_view_mb") where not even the shortest text fits: the model is too large for the view here."""
    whole = view_cost(view, model, model_name, n_chars)
    if _within(whole, limits):
        return ViewFit(n_chars, n_chars, whole, whole)
    low = cheapest_chars(view)
    least = view_cost(view, model, model_name, low)
    if low >= n_chars or not _within(least, limits):
        raise SettingError("max_view_mb", f"this view of this model would need about {least.mb:,.0f} MB and "
                           f"{least.seconds:.1f} s even on {low} characters (the model's vocabulary of "
                           f"{model.vocab_size:,} characters and its size set that); this server allows "
                           f"{view_budget(limits)}", None)
    high = n_chars  # low fits, high does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if _within(view_cost(view, model, model_name, mid), limits) else (low, mid)
    return ViewFit(low, n_chars, view_cost(view, model, model_name, low), whole)
