"""The labelled runs the diagnosis is judged on: healthy runs of every model, and runs with one known fault.

    for case in cases("tiny"):            # fast: tiny models and step limits (tests/test_diagnosis.py)
        bundle, stop_reason, text = train_case(case)
        kinds = [f.kind for f in diagnose_run(bundle, text, stop_reason=stop_reason)]
        judge(case, kinds)                # None when the diagnosis is right, else what is wrong

Each case carries the verdict a teacher would give (`LABELS`): the finding that must appear, and the
findings that may appear beside it because they are also true of such a run (a learning rate that is
far too high also makes the updates too large). A healthy run must get no finding at all.
`benchmarks/diagnosis.py` trains the "real" scale (the presets' models, realistic budgets) and prints
the confusion table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from charrnn.models import MODELS
from charrnn.run import plan_run

ROOT = Path(__file__).resolve().parent.parent
TEXTS = {"weather": ROOT / "examples_corpora" / "weather.txt", "sanity": ROOT / "examples_corpora" / "sanity.txt",
         "arithmetic": ROOT / "examples_corpora" / "arithmetic.txt",
         "names": ROOT.parent / "shared" / "data" / "names.txt"}


@dataclass(frozen=True)
class Label:
    name: str
    verdict: str  # what a teacher would say
    expect: tuple[str, ...]  # at least one of these findings must appear (empty: none may appear)
    also: tuple[str, ...] = ()  # findings that are also true of such a run


LABELS = {label.name: label for label in [
    Label("healthy", "nothing is wrong", ()),
    Label("lr too low", "the learning rate is far too low: raise it", ("stuck_uniform", "stuck_unigram", "slow"),
          ("updates_too_small",)),
    Label("lr too high", "the learning rate is too high: lower it", ("diverged", "unstable", "worse_than_uniform"),
          ("updates_too_large", "saturated", "memorising")),
    Label("vanishing", "the gradient fades on its way down the layers: fewer layers or gated cells",
          ("vanishing_gradients",), ("stuck_unigram", "stuck_uniform", "slow", "saturated")),
    Label("saturated", "the tanh units are stuck at ±1: smaller initial weights", ("saturated",),
          ("stuck_uniform", "worse_than_uniform", "stuck_unigram", "slow", "vanishing_gradients")),
    Label("memorising", "it learns the training text by heart: a smaller model, more text or regularise",
          ("memorising",)),
    Label("text too short", "the text is too short to learn from or to validate on", ("text_too_short",),
          ("memorising",)),
    Label("stopped too early", "it stopped before it had learned what it can: train longer", ("too_early",)),
]}


@dataclass(frozen=True)
class Case:
    label: str  # a key of LABELS
    model: str
    text: str  # a key of TEXTS
    settings: dict = field(default_factory=dict)
    max_steps: int | None = None
    time_budget: float | None = None
    max_chars: int | None = None  # only the text's first N characters
    init_scale: float | None = None  # multiply the recurrent layers' weights after building (a bad init)

    @property
    def name(self) -> str:
        parts = [f"{self.max_steps} steps" if self.max_steps else f"{self.time_budget:g} s" if self.time_budget
                 else "the default budget"]
        parts += [f"{k} {v}" for k, v in self.settings.items() if TINY.get(k, not v) != v]
        parts += [f"weights x{self.init_scale:g}"] if self.init_scale else []
        parts += [f"first {self.max_chars:,} chars"] if self.max_chars else []
        return f"{self.label}: {self.model} on {self.text} ({', '.join(parts)})"


# Tiny models for the fast scale: the same families, a fraction of the size.
TINY = {"n_hidden": 32, "n_embd": 16, "batch_size": 8, "seq_len": 16, "lr": 1e-2, "warmup_steps": 10,
        "eval_every": 0.0, "eval_chars": 1_000, "final_eval_chars": 2_000}
TINY_STEPS = {"ngram": 50, "mlp": 200, "transformer": 200}  # per family; others: 120


def cases(scale: str = "tiny", budget: float = 30.0) -> list[Case]:
    """The labelled set at `scale`: "tiny" (a few seconds per case, for the tests) or "real" (the presets'
    models for `budget` seconds, the faults with realistic settings, for the benchmark)."""
    if scale == "tiny":
        healthy = [Case("healthy", m, t, dict(TINY), max_steps=TINY_STEPS.get(m, 120), max_chars=20_000)
                   for t in ("sanity", "weather") for m in MODELS]
        faults = [
            Case("lr too low", "gru", "weather", {**TINY, "lr": 1e-6}, max_steps=60, max_chars=20_000),
            Case("lr too high", "lstm", "weather", {**TINY, "lr": 10.0}, max_steps=60, max_chars=20_000),
            Case("vanishing", "rnn", "weather", {**TINY, "n_layer": 12}, max_steps=60, max_chars=20_000),
            Case("saturated", "rnn", "weather", dict(TINY), max_steps=60, max_chars=20_000, init_scale=10.0),
            Case("memorising", "lstm", "weather", {**TINY, "n_hidden": 256, "n_layer": 1, "batch_size": 32,
                                                    "seq_len": 32, "min_lr_ratio": 1.0}, max_steps=150,
                 max_chars=2_500),
            Case("text too short", "lstm", "weather", {k: v for k, v in TINY.items() if k != "seq_len"}, max_steps=100,
                 max_chars=300),
            Case("stopped too early", "lstm", "weather", {**TINY, "warmup_steps": 200}, max_steps=40,
                 max_chars=20_000),
        ]
        return healthy + faults
    healthy = [Case("healthy", m, t, time_budget=budget) for t in ("weather", "names") for m in MODELS]
    faults = [
        Case("lr too low", "lstm", "weather", {"lr": 1e-6}, max_steps=400),
        Case("lr too low", "mlp", "names", {"lr": 1e-6}, max_steps=400),
        Case("lr too high", "lstm", "weather", {"lr": 10.0}, max_steps=300),
        Case("lr too high", "rnn", "weather", {"lr": 0.1}, max_steps=300),
        Case("lr too high", "mlp", "names", {"lr": 1.0}, max_steps=300),
        Case("vanishing", "rnn", "weather", {"n_layer": 12, "n_hidden": 64}, max_steps=100),
        Case("saturated", "rnn", "weather", {}, max_steps=300, init_scale=10.0),
        Case("saturated", "rnn", "names", {}, max_steps=300, init_scale=10.0),
        Case("memorising", "lstm", "weather", {"n_hidden": 256, "n_layer": 2, "dropout": 0.0, "lr": 5e-3,
                                               "min_lr_ratio": 1.0, "warmup_steps": 20}, max_steps=500,
             max_chars=3_000),
        Case("text too short", "lstm", "weather", {}, max_steps=300, max_chars=400),
        Case("text too short", "gru", "names", {}, max_steps=300, max_chars=600),
        Case("stopped too early", "lstm", "weather", {}, max_steps=60),
        Case("stopped too early", "transformer", "names", {}, max_steps=20),
    ]
    return healthy + faults


def case_text(case: Case) -> str:
    text = TEXTS[case.text].read_text()
    return text[:case.max_chars] if case.max_chars else text


def train_case(case: Case):
    """Train one case through `plan_run`, as every door does: (bundle, stop_reason, text)."""
    text = case_text(case)
    plan = plan_run(text, case.model, {**case.settings, "seed": 0}, time_budget=case.time_budget,
                    max_steps=case.max_steps)
    bundle = plan.build()
    if case.init_scale:
        with torch.no_grad():
            for name, p in bundle.model.named_parameters():
                if "weight_hh" in name or "weight_ih" in name:
                    p.mul_(case.init_scale)
    stop_reason = None
    for event in plan.train(bundle):
        stop_reason = event.stop_reason
    return bundle, stop_reason, text


def judge(case: Case, kinds: list[str]) -> str | None:
    """None if the findings are the case's verdict, else what is wrong with them."""
    label = LABELS[case.label]
    if not label.expect:
        return f"a healthy run got {kinds}" if kinds else None
    if not set(kinds) & set(label.expect):
        return f"expected one of {list(label.expect)}, got {kinds}"
    wrong = [k for k in kinds if k not in label.expect + label.also]
    return f"also said {wrong}, which is not true of this run" if wrong else None
