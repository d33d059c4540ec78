"""Why is my loss flat (or wild)? Plain-language findings from a run's numbers, with what to try.

    diagnose(history, uniform=ln V, unigram=H₁, grad_stats=…, lr=…) ─► [Finding(kind, message, evidence, advice)]

A pure function of numbers the trainer already has (the loss history, the stop reason) plus optional
samples of per-parameter gradient norms and update-to-weight ratios (`grad_stats_now`, taken every
N steps), tanh saturation (`neurons.saturation`) and a gradient-through-time profile (`saliency`).

The checks and their sources: the two reference losses, ln V (a uniform guess) and the unigram
entropy (letter frequencies only), are the plateaus of Karpathy 2015 ("The Unreasonable Effectiveness
of Recurrent Neural Networks"); the update-to-weight ratio of about 1e-3 and tanh saturation at
|a| > 0.97 are from Karpathy's makemore part 3 ("Activations & Gradients"); vanishing gradients in
tanh RNNs from Bengio, Simard & Frasconi 1994 and Pascanu, Mikolov & Bengio 2013, with identity init
(Le, Jaitly & Hinton 2015) and gated cells (Hochreiter & Schmidhuber 1997; Cho et al. 2014) as cures.
Thresholds are rules of thumb, named as keyword arguments so a caller can tune them.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from ..bundle import History
from ..gradstats import grad_stats_now, snapshot  # noqa: F401  (re-exported: the trainer's sampler)


@dataclass
class Finding:
    kind: str  # "diverged" | "too_early" | "worse_than_uniform" | "stuck_uniform" | "stuck_unigram" | "memorising" |
    #            "vanishing_gradients" | "saturated" | "updates_too_small" | "updates_too_large" | "infinite_loss"
    message: str  # what is happening, in plain words, with the numbers
    evidence: dict[str, float] = field(default_factory=dict)  # the numbers the message rests on
    advice: str = ""  # what to try
    severity: str = "problem"  # "problem" | "warning" | "info"


# ---- the trainer's side: sampling gradient statistics ----------------------------------------------

def param_groups(names: list[str], layers: dict[str, str] | None = None) -> dict[str, str]:
    """Parameter name → "input", "layer 1" … "layer L" (bottom to top), "output", or "other" for a name
    the model did not place.

    `layers` is the model's own grouping (`CharModel.param_layers()`), which `grad_stats_now` records in
    every sample under "layer"; without it every name is "other" (nothing is guessed from the names).
    """
    layers = layers or {}
    return {n: layers.get(n, "other") for n in names}


def group_norms(sample: dict) -> dict[str, float]:
    """One grad_stats sample → ‖grad‖₂ of each group of `param_groups` (root of summed squares), grouped
    as the sample's model declared ("layer")."""
    groups = param_groups(list(sample["grad_norm"]), sample.get("layer"))
    out: dict[str, float] = {}
    for name, g in sample["grad_norm"].items():
        out[groups[name]] = out.get(groups[name], 0.0) + g * g
    return {k: math.sqrt(v) for k, v in out.items()}


# ---- the diagnosis ----------------------------------------------------------------------------------

def diagnose_run(bundle, text: str | None = None, *, stop_reason: str | None = None,
                 max_chars: int = 500) -> list[Finding]:
    """`diagnose` for a trained Bundle: what the CLI prints and the page shows after a run.

    The references come from its vocabulary (ln V) and `text` (the run's text: its unigram entropy;
    without it, as after loading a checkpoint, the unigram check is skipped); the learning rate from
    its last run's TrainConfig; its sampled `grad_stats`; and tanh saturation over the first
    `max_chars` characters of `text` (one forward pass), where the model has tanh units.
    """
    from ..corpus import corpus_stats
    from .common import InspectError
    from .neurons import saturation

    uniform = math.log(len(bundle.vocab))
    unigram = corpus_stats(text).unigram_entropy if text else uniform
    shares = None
    if text:
        try:
            shares = saturation(bundle.model, bundle.vocab, text, max_chars=max_chars)
        except InspectError:  # no tanh units, or diverged weights: nothing to add
            shares = None
    return diagnose(bundle.history, uniform=uniform, unigram=unigram, grad_stats=bundle.grad_stats or None,
                    lr=getattr(bundle.train_config, "lr", None), stop_reason=stop_reason, saturation=shares)


def explain(finding: Finding) -> str:
    """One finding as one line of plain text: what is happening, then what to try."""
    return finding.message + (f" Try: {finding.advice}" if finding.advice else "")


def diagnose(history: History, *, uniform: float, unigram: float, grad_stats: list[dict] | None = None,
             lr: float | None = None, stop_reason: str | None = None,
             saturation: dict[str, float] | None = None, time_profile: list[float] | None = None,
             min_steps: int = 30, plateau: float = 0.1, rise: float = 0.05, vanish_ratio: float = 1e-2,
             saturated_share: float = 0.25) -> list[Finding]:
    """Findings about a run, most serious first; an empty list when nothing looks wrong.

    history: the run's loss curves (nats/char). uniform: ln V. unigram: the text's unigram entropy.
    grad_stats: samples from `grad_stats_now`, oldest first. lr: the run's peak learning rate.
    stop_reason: the trainer's (e.g. "diverged"). saturation: {layer: share of |tanh| > 0.97}.
    time_profile: gradient norm of one prediction w.r.t. the input 0, 1, 2 … steps back, e.g.
    `saliency(model, vocab, text, t).raw[::-1]`.
    plateau: how close to a reference line counts as "at" it, as a share of (uniform − unigram).
    rise: how far (nats) validation must climb above its best to count as memorising.
    """
    findings: list[Finding] = []
    train = [x for x in history.train_loss if math.isfinite(x)]
    nonfinite = len(train) < len(history.train_loss) or any(not math.isfinite(v) for v in history.val_loss)
    # +∞ (not NaN) on held-out text while training ran on: a character the model gives probability exactly 0
    impossible = sum(v == math.inf for v in history.val_loss)
    if stop_reason != "diverged" and len(train) == len(history.train_loss) and impossible \
            and not any(math.isnan(v) for v in history.val_loss):
        findings.append(Finding(
            "infinite_loss", "The validation loss is infinite: the model gives probability 0 to a character of "
            "the held-out text after its context, and −ln 0 = ∞. Nothing went wrong in training: counts with no "
            "smoothing (an n-gram with k = 0) say exactly this of every combination they never saw.",
            {"infinite_estimates": impossible},
            "Give unseen combinations a little probability: add-k smoothing above 0 (e.g. 0.1-1), or "
            "interpolation (back off to shorter contexts)."))
    elif stop_reason == "diverged" or nonfinite:
        findings.append(Finding(
            "diverged", "The loss exploded or became NaN, so training stopped"
            + (f" (learning rate {lr:.2g})" if lr else "") + "; the last good weights were kept.",
            {"last_finite_loss": train[-1] if train else math.nan, **({"lr": lr} if lr else {})},
            "Lower the learning rate 3-10x, or the gradient clip (e.g. 0.5); a warm-up of a few hundred "
            "steps also helps a large model start gently."))
    if len(train) < min_steps:
        findings.append(Finding("too_early", f"Only {len(train)} steps so far: too few to judge the loss curve.",
                                {"steps": len(train)}, f"Train for at least {min_steps} steps.", "info"))
        return findings + _gradient_findings(grad_stats, lr, saturation, time_profile, vanish_ratio,
                                             saturated_share, stuck=False)

    w = max(5, len(train) // 10)
    recent = statistics.median(train[-w:])
    gap = max(uniform - unigram, 0.0)
    near = max(plateau * gap, 0.02)
    ev = {"recent_loss": recent, "uniform": uniform, "unigram": unigram, "steps": len(train)}
    stuck = recent >= uniform - near
    if recent > uniform + max(0.1, plateau * gap):
        findings.append(Finding(
            "worse_than_uniform", f"The loss ({recent:.2f} nats) is above the uniform guess ln V = {uniform:.2f}: "
            "the model is confidently wrong, worse than guessing every character equally.", ev,
            "Lower the learning rate 3-10x; a learning rate too high throws the weights far from where "
            "they started."))
    elif stuck:
        findings.append(_stuck_uniform(recent, uniform, len(train), ev, grad_stats, lr))
    elif gap > 0.05 and abs(recent - unigram) <= max(near, 0.05) and _flat(train, w):
        # On a text whose unigram line lies close to ln V, a learning rate too low to move the weights
        # leaves the loss here too: then the rate is what to change.
        tiny = lr is not None and lr < 1e-5
        findings.append(Finding(
            "stuck_unigram", f"The loss has settled at {recent:.2f} nats, the unigram entropy ({unigram:.2f}): "
            "the model has learned how often each character occurs, but does not use the characters "
            "before it yet." + (f" The learning rate {lr:.1g} is far too low to get further." if tiny else ""),
            {**ev, "lr": lr} if tiny else ev,
            "Raise the learning rate to about 1e-3 - 3e-3 (Adam's usual range for these models)." if tiny else
            "Keep training: recurrent models often sit here for a few hundred steps before they find the "
            "context. If it lasts, raise the learning rate, and check the model can see context "
            "(n-gram order ≥ 2, MLP context ≥ 2, sequence length > 1)."))
    memo = _memorising(history, train, rise)
    if memo is not None:
        findings.append(memo)
    return findings + _gradient_findings(grad_stats, lr, saturation, time_profile, vanish_ratio,
                                         saturated_share, stuck)


def _flat(train: list[float], w: int) -> bool:
    """The loss fell less than 0.02 nats over the last third of the run (medians of w steps)."""
    cut = len(train) * 2 // 3
    earlier = statistics.median(train[max(0, cut - w):cut])
    return earlier - statistics.median(train[-w:]) < 0.02


def _median_ratio(grad_stats: list[dict] | None, key: str, last: int = 5) -> float | None:
    values = [v for s in (grad_stats or [])[-last:] for v in s.get(key, {}).values() if math.isfinite(v)]
    return statistics.median(values) if values else None


def _stuck_uniform(recent, uniform, steps, ev, grad_stats, lr) -> Finding:
    ratio = _median_ratio(grad_stats, "update_ratio")
    total = None
    if grad_stats:
        total = statistics.median(math.sqrt(sum(g * g for g in s["grad_norm"].values()))
                                  for s in grad_stats[-5:])
    ev = {**ev, **({"lr": lr} if lr else {}), **({"update_ratio": ratio} if ratio is not None else {}),
          **({"grad_norm": total} if total is not None else {})}
    head = (f"After {steps} steps the loss is still {recent:.2f} nats, the uniform guess ln V = {uniform:.2f}: "
            "the model still gives every character about the same probability.")
    if total is not None and total < 1e-8:
        return Finding("stuck_uniform", head + " No gradient reaches the weights (its norm is "
                       f"{total:.1e}).", ev, "Check that the parameters are trainable and that the loss "
                       "depends on them; a relu network whose units are all off passes back nothing.")
    if (lr is not None and lr < 1e-5) or (ratio is not None and ratio < 1e-6):
        said = f" The learning rate {lr:.1g} is far too low" if lr is not None else " The learning rate is too low"
        said += (f": each step changes the weights by {ratio:.1e} of their size (about 1e-3 is usual)."
                 if ratio is not None else ".")
        return Finding("stuck_uniform", head + said, ev,
                       "Raise the learning rate to about 1e-3 - 3e-3 (Adam's usual range for these models).")
    moving = (f" The weights do move ({ratio:.1e} of their size per step), but not usefully." if ratio is not None
              else " Nothing here says why: sample gradient statistics during the run to see more.")
    return Finding("stuck_uniform", head + moving, ev,
                   "Try a learning rate of 1e-3 - 3e-3, a gated cell (GRU, LSTM), or check that the text has "
                   "some structure (a random text cannot be learned).")


def _memorising(history: History, train: list[float], rise: float) -> Finding | None:
    val, steps = history.val_loss, history.val_step
    if len(val) < 3 or not all(math.isfinite(v) for v in val):
        return None
    best = min(range(len(val)), key=val.__getitem__)
    if best == len(val) - 1 or val[-1] - val[best] < max(rise, 0.03 * val[best]):
        return None
    def train_near(step: int) -> float:  # median training loss of the steps up to `step`
        upto = [loss for s, loss in zip(history.step, history.train_loss, strict=False)
                if s <= step and math.isfinite(loss)]
        return statistics.median(upto[-max(5, len(upto) // 10):]) if upto else math.nan
    then, now = train_near(steps[best]), statistics.median(train[-max(5, len(train) // 10):])
    if not now < then - 0.02:
        return None  # training is not falling: something else (e.g. a noisy estimate)
    ev = {"best_val": val[best], "best_step": steps[best], "last_val": val[-1], "last_step": steps[-1],
          "train_at_best": then, "train_now": now}
    return Finding(
        "memorising", f"Validation loss rose from {val[best]:.2f} (step {steps[best]}) to {val[-1]:.2f} while "
        f"the training loss kept falling ({then:.2f} → {now:.2f}): the model is memorising the training text "
        "instead of learning what generalises to new text.", ev,
        f"Use a smaller model, dropout (0.1-0.3) or weight decay, more text, or stop near step {steps[best]}.")


def _gradient_findings(grad_stats, lr, saturation, time_profile, vanish_ratio, saturated_share,
                       stuck: bool) -> list[Finding]:
    findings = []
    if grad_stats:
        recent = [group_norms(s) for s in grad_stats[-5:]]
        layers = sorted({k for r in recent for k in r if k.startswith("layer ")}, key=lambda k: int(k.split()[1]))
        if len(layers) >= 2:
            low = statistics.median(r.get(layers[0], 0.0) for r in recent)
            high = statistics.median(r.get(layers[-1], 0.0) for r in recent)
            if high > 0 and low / high < vanish_ratio:
                findings.append(Finding(
                    "vanishing_gradients", f"The gradient reaching {layers[0]} is {low / high:.1e} of the one at "
                    f"{layers[-1]}: the lower layers hardly learn (vanishing gradients).",
                    {"grad_low": low, "grad_high": high, "ratio": low / high},
                    "Use a gated cell (GRU, LSTM), fewer layers, or a relu RNN with identity init "
                    "(Le et al. 2015); clipping caps exploding gradients but cannot help vanishing ones."))
        ratio = _median_ratio(grad_stats, "update_ratio")
        if ratio is not None and not stuck and ratio < 1e-5:
            findings.append(Finding("updates_too_small", f"Each step changes the weights by {ratio:.1e} of their "
                                    "size; about 1e-3 is usual, so learning will be very slow.",
                                    {"update_ratio": ratio}, "Raise the learning rate.", "warning"))
        elif ratio is not None and ratio > 1e-1:
            findings.append(Finding("updates_too_large", f"Each step changes the weights by {ratio:.0%} of their "
                                    "size; about 0.1% is usual, so training may jump around or diverge.",
                                    {"update_ratio": ratio}, "Lower the learning rate.", "warning"))
    if time_profile and len(time_profile) > 10 and time_profile[0] > 0:
        far = max(time_profile[10:]) / time_profile[0]
        if far < 1e-3:
            findings.append(Finding(
                "vanishing_gradients", f"A prediction's gradient 10 or more characters back is {far:.1e} of the "
                "one at the last character: the model cannot learn anything that far back.",
                {"ratio_10_back": far}, "Use a gated cell (GRU, LSTM) or a relu RNN with identity init."))
    for layer, share in (saturation or {}).items():
        if share > saturated_share:
            findings.append(Finding(
                "saturated", f"{share:.0%} of the activations in {layer} sit at ±1 (|tanh| > 0.97), where "
                "tanh passes back almost no gradient.", {"share": share},
                "Lower the learning rate or the initial weights, or use a gated cell or normalisation.",
                "warning"))
    return findings
