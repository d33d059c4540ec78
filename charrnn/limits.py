"""A server's bounds on one run, and the check of a run's estimated cost against them.

    check_cost(name, config, vocab_size, train_config, n_chars, limits) ─► Estimate, or a SettingError that
        names the setting to lower and a value that fits
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .estimate import Estimate, estimate
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
