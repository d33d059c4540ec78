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
Thresholds are rules of thumb, named as keyword arguments so a caller can tune them; they are judged
on labelled runs (`tests/diagnosis_cases.py`, `benchmarks/diagnosis.py`): no finding on any healthy
run of any model, the teacher's verdict on each faulty one.

Findings come in two kinds. Symptoms, read from the loss curves (`findings.py`): diverged, unstable
(the loss jumped back up), worse than uniform, stuck at uniform or at the unigram line, slow (still
above the unigram line), too early (stopped in its warm-up, or after too few steps to judge), memorising,
text too short. Causes, read from the gradients and activations: updates too small or too large (the
`gradstats.update_size` figure, judged at the scheduled peak rate), vanishing gradients, saturated
tanh units (only as the cause of a symptom, and never for gated cells, whose state does not pass
through tanh at every step). A symptom with a cause takes the cause's advice, and advice names only
what this model lacks (`ModelFacts`): a GRU is never told to use a gated cell.
"""

from __future__ import annotations

import math
import statistics

from ..bundle import History
from ..gradstats import UpdateSize, grad_stats_now, main_phase, snapshot, update_size  # noqa: F401  (re-exported)
from .findings import (
    RAISE_LR,
    Finding,
    ModelFacts,
    architecture_cures,
    context_advice,
    is_flat,
    memorising_finding,
    short_text_finding,
    too_early_finding,
    unstable_finding,
)

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


# ---- what the advice may suggest ---------------------------------------------------------------------

def model_facts(model) -> ModelFacts:
    """The facts of a `CharModel`: its declared `recurrent` and `fitted_by_counting` flags and config
    fields, its layers from its own `param_layers`, and gating from its recurrent weights: a hidden-to-hidden
    matrix (`weight_hh…`, the layout PyTorch's layers and the hand-written cells share) with 3H (GRU) or
    4H (LSTM) rows for H columns holds gates; an Elman cell's is H × H. (When the models declare these
    themselves, issue 16, this reads the declaration instead.)"""
    params = dict(model.named_parameters())
    gated = any(p.dim() == 2 and p.shape[0] in (3 * p.shape[1], 4 * p.shape[1])
                for name, p in params.items() if "weight_hh" in name)
    layers = {g for g in model.param_layers().values() if g.startswith("layer ")}
    config = model.config.to_dict() if hasattr(model.config, "to_dict") else {}
    return ModelFacts(gated, bool(model.recurrent), bool(model.fitted_by_counting), max(1, len(layers)),
                      frozenset(config), bool(config.get("identity_init")))


# ---- the diagnosis ----------------------------------------------------------------------------------

def diagnose_run(bundle, text: str | None = None, *, stop_reason: str | None = None,
                 max_chars: int = 500) -> list[Finding]:
    """`diagnose` for a trained Bundle: what the CLI prints and the page shows after a run.

    The references come from its vocabulary (ln V) and `text` (the run's text: its unigram entropy and
    length; without it, as after loading a checkpoint, those checks are skipped); the peak learning
    rate and warm-up from its last run's TrainConfig; its sampled `grad_stats`; the model's facts
    (`model_facts`); and tanh saturation over the first `max_chars` characters of `text` (one forward
    pass), where the model has tanh units.
    """
    from ..corpus import corpus_stats
    from ..presets import advised_lr
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
    config = bundle.train_config
    peak = getattr(config, "lr", None)
    # the run's own step time where it has one: measuring a step again for the advice took ~1.5 s of every CLI
    # run's end on a slow CPU (~8 s on a busy one), whether or not a finding used it
    step, _, seconds, _ = bundle.history.point(len(bundle.history.step) - 1) if bundle.history.step else (0, 0, 0, 0)
    own = seconds / step if step > 0 and math.isfinite(seconds) and seconds > 0 else None  # NaN: an old checkpoint
    advised = advised_lr(bundle.model_name, peak, config.time_budget, config.max_steps,
                         (lambda *network: own) if own else None) if peak else None
    return diagnose(bundle.history, uniform=uniform, unigram=unigram, grad_stats=bundle.grad_stats or None,
                    lr=getattr(config, "lr", None), stop_reason=stop_reason, saturation=shares,
                    model=model_facts(bundle.model), n_chars=len(text) if text else None,
                    warmup_steps=getattr(config, "warmup_steps", None), run_steps=bundle.run_step,
                    advised_lr=advised)


def explain(finding: Finding) -> str:
    """One finding as one line of plain text: what is happening, then what to try."""
    return finding.message + (f" Try: {finding.advice}" if finding.advice else "")


def diagnose(history: History, *, uniform: float, unigram: float, grad_stats: list[dict] | None = None,
             lr: float | None = None, stop_reason: str | None = None,
             saturation: dict[str, float] | None = None, time_profile: list[float] | None = None,
             model: ModelFacts | None = None, n_chars: int | None = None, warmup_steps: int | None = None,
             run_steps: int | None = None, advised_lr: tuple[float, str] | None = None, min_steps: int = 30,
             plateau: float = 0.1, rise: float = 0.05,
             vanish_ratio: float = 1e-2, saturated_share: float = 0.5, min_text: int = 2_000,
             jump: float = 0.3) -> list[Finding]:
    """Findings about a run, most serious first; an empty list when nothing looks wrong.

    history: the run's loss curves (nats/char). uniform: ln V. unigram: the text's unigram entropy.
    grad_stats: samples from `grad_stats_now`, oldest first, each with the learning rate scheduled at
    its step ("lr"). lr: the run's peak learning rate. stop_reason: the trainer's (e.g. "diverged").
    saturation: {layer: share of |tanh| > 0.97}. time_profile: gradient norm of one prediction w.r.t.
    the input 0, 1, 2 … steps back, e.g. `saliency(model, vocab, text, t).raw[::-1]`. model: what the
    advice may suggest (None: suggest as for any model). n_chars: the length of the run's text.
    warmup_steps, run_steps: the last run's warm-up and how many steps it took. advised_lr: (a learning rate
    to try, why) after a divergence (`charrnn.presets.advised_lr`; None: a tenth of `lr`).
    plateau: how close to a reference line counts as "at" it, as a share of (uniform − unigram).
    rise: how far (nats) validation must climb above its best to count as memorising.
    saturated_share: the share of saturated tanh units that explains a stuck or unstable loss (on a run
    that learns, saturated units are no fault: trained tanh networks hold many confident units at ±1,
    up to 70 % on the example texts). jump: how far (nats, at least) the training loss must climb back
    above its best to count as unstable.
    """
    facts = model or ModelFacts()
    known = model is not None
    train = [x for x in history.train_loss if math.isfinite(x)]
    nonfinite = len(train) < len(history.train_loss) or any(not math.isfinite(v) for v in history.val_loss)
    update = update_size(grad_stats)
    infinite = _infinite_loss(history, train, stop_reason)
    if infinite is not None:
        return [infinite]
    if stop_reason == "diverged" or nonfinite:
        return [_diverged(history, train, uniform, lr, advised_lr)] + _update_findings(update, stuck=True)
    findings: list[Finding] = []
    short = short_text_finding(n_chars, min_text)
    if facts.counted and (stop_reason == "exhausted" or len(train) >= min_steps):
        return [short] if short else []  # a table of counts: complete once the text is counted
    if len(train) < min_steps:
        # a run that stopped inside its warm-up is known to be unfinished however few steps it took: the page
        # once said "Done" to an 8-step run at the uniform guess with no warning (a tester's finding)
        early = None if facts.counted else too_early_finding(warmup_steps, run_steps)  # counting has no rate
        findings.append(early or Finding(
            "too_early", f"Only {len(train)} steps so far: too few to judge the loss curve.", {"steps": len(train)},
            f"Train for at least {min_steps} steps.", "info"))
        return findings + ([short] if short else []) + _gradient_findings(
            grad_stats, update, facts, known, saturation, time_profile, vanish_ratio, None)

    w = max(5, len(train) // 10)
    recent = statistics.median(train[-w:])
    gap = max(uniform - unigram, 0.0)
    near = max(plateau * gap, 0.02)
    ev = {"recent_loss": recent, "uniform": uniform, "unigram": unigram, "steps": len(train)}
    tiny = lr is not None and lr < 1e-5
    early = too_early_finding(warmup_steps, run_steps)
    unstable = unstable_finding(train, jump)
    if unstable is not None:
        findings.append(unstable)
    if recent > uniform + max(0.1, plateau * gap):
        findings.append(Finding(
            "worse_than_uniform", f"The loss ({recent:.2f} nats) is above the uniform guess ln V = {uniform:.2f}: "
            "the model is confidently wrong, worse than guessing every character equally.", ev,
            "Lower the learning rate 3-10x; a learning rate too high throws the weights far from where "
            "they started."))
    elif recent >= uniform - near and (early is None or tiny):
        findings.append(_stuck_uniform(recent, uniform, len(train), ev, grad_stats, update, lr, facts, known))
    elif (early is None or tiny) and gap > 0.05 and abs(recent - unigram) <= max(near, 0.05) and is_flat(train, w):
        # On a text whose unigram line lies close to ln V, a learning rate too low to move the weights
        # leaves the loss here too: then the rate is what to change.
        findings.append(Finding(
            "stuck_unigram", f"The loss has settled at {recent:.2f} nats, the unigram entropy ({unigram:.2f}): "
            "the model has learned how often each character occurs, but does not use the characters "
            "before it yet." + (f" The learning rate {lr:.1g} is far too low to get further." if tiny else ""),
            {**ev, "lr": lr} if tiny else ev, RAISE_LR if tiny else context_advice(facts, known)))
    elif early is None and len(train) >= 2 * (warmup_steps or 0) and recent > unigram + max(near, 0.1):
        findings.append(Finding(
            "slow", f"After {len(train)} steps the loss ({recent:.2f} nats) is still above the unigram entropy "
            f"({unigram:.2f}): the model has not yet learned even how often each character occurs, which "
            "takes a healthy model a few dozen steps.", ev,
            RAISE_LR if tiny else "Check the learning rate (1e-3 - 3e-3 is usual for Adam) and train longer."))
    if early is not None:
        findings.append(early)
    memo = memorising_finding(history, train, rise, facts, known) if unstable is None else None
    if memo is not None:
        findings.append(memo)
    if short is not None:
        findings.append(short)
    symptom = next((f for f in findings if f.kind in _EXPLAINABLE), None)
    causes = _gradient_findings(grad_stats, update, facts, known, saturation, time_profile, vanish_ratio,
                                saturated_share if symptom is not None else None,
                                stuck=any(f.kind in ("stuck_uniform", "stuck_unigram") for f in findings))
    cause = next((c for c in causes if c.kind in ("saturated", "vanishing_gradients")), None)
    if symptom is not None and cause is not None:  # the cause's advice, not the symptom's generic one
        symptom.message += f" The finding \"{cause.kind.replace('_', ' ')}\" below says why."
        symptom.advice = cause.advice
        cause.severity = "problem"
    return findings + causes


def _diverged(history: History, train: list[float], uniform: float, lr: float | None,
              advised: tuple[float, str] | None = None) -> Finding:
    """The loss exploded: which weights the model holds now, as the loop kept them (`charrnn.loop`): the last
    with a finite validation loss below ln V, the last point of its curve; where there are none, untrained."""
    val = history.val_loss[-1] if history.val_loss else math.nan
    # step 0's weights are the initial ones, whatever they score (a uniform-ish start can sit a hair below ln V)
    learned = math.isfinite(val) and val < uniform and history.val_step[-1] > 0
    ev = {"last_finite_loss": train[-1] if train else math.nan, "uniform": uniform, **({"lr": lr} if lr else {})}
    said = "The loss exploded or became NaN, so training stopped" + (f" (learning rate {lr:.2g})." if lr else ".")
    if learned:
        ev.update(kept_step=history.val_step[-1], kept_val_loss=val)
        said += (f" The weights kept are from step {history.val_step[-1]}: the last with a validation loss below "
                 f"the uniform guess ({val:.2f} < ln V = {uniform:.2f} nats/char).")
    else:
        said += (f" No weights had a validation loss below the uniform guess (ln V = {uniform:.2f} nats/char): "
                 "nothing was learned, and the model holds its untrained starting weights.")
    advised = advised or ((lr / 10, f"a tenth of {lr:.2g}") if lr else None)
    lower = f"to {advised[0]:.2g} ({advised[1]})" if advised else "10x"
    return Finding("diverged", said, ev, f"Lower the learning rate {lower}, or the gradient clip (e.g. 0.5); a "
                   "warm-up of a few hundred steps also helps a large model start gently.")


def _infinite_loss(history: History, train: list[float], stop_reason: str | None) -> Finding | None:
    """+∞ (not NaN) on held-out text while training ran on: a character the model gives probability exactly 0."""
    impossible = sum(v == math.inf for v in history.val_loss)
    if stop_reason == "diverged" or len(train) < len(history.train_loss) or not impossible \
            or any(math.isnan(v) for v in history.val_loss):
        return None
    return Finding(
        "infinite_loss", "The validation loss is infinite: the model gives probability 0 to a character of "
        "the held-out text after its context, and −ln 0 = ∞. Nothing went wrong in training: counts with no "
        "smoothing (an n-gram with k = 0) say exactly this of every combination they never saw.",
        {"infinite_estimates": impossible},
        "Give unseen combinations a little probability: add-k smoothing above 0 (e.g. 0.1-1), or "
        "interpolation (back off to shorter contexts).")


_EXPLAINABLE = ("unstable", "worse_than_uniform", "stuck_uniform", "stuck_unigram", "slow")


def _stuck_uniform(recent, uniform, steps, ev, grad_stats, update, lr, facts, known) -> Finding:
    ratio = update.ratio if update is not None else None
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
        said += (f": each step changes the weights by {update.describe()} of their size (about 1e-3 is usual)."
                 if update is not None else ".")
        return Finding("stuck_uniform", head + said, ev, RAISE_LR)
    moving = (f" The weights do move ({ratio:.1e} of their size per step), but not usefully." if ratio is not None
              else " Nothing here says why: sample gradient statistics during the run to see more.")
    cures = architecture_cures(facts, known)
    return Finding("stuck_uniform", head + moving, ev,
                   "Try a learning rate of 1e-3 - 3e-3" + "".join(f", {c}" for c in cures)
                   + ", or check that the text has some structure (a random text cannot be learned).")


def _update_findings(update: UpdateSize | None, stuck: bool) -> list[Finding]:
    if update is None:
        return []
    if update.ratio < 1e-5 and not stuck:
        return [Finding("updates_too_small", f"Each step changes the weights by {update.describe()} of their size; "
                        "about 1e-3 is usual, so learning will be very slow.",
                        {"update_ratio": update.ratio}, "Raise the learning rate.", "warning")]
    if update.ratio > 1e-1:
        return [Finding("updates_too_large", f"Each step changes the weights by {update.ratio:.0%} of their size, "
                        f"{update.describe()}; about 0.1% is usual, so training may jump around or diverge.",
                        {"update_ratio": update.ratio}, "Lower the learning rate.", "warning")]
    return []


def _gradient_findings(grad_stats, update, facts: ModelFacts, known: bool, saturation, time_profile,
                       vanish_ratio, saturated_share, stuck: bool = False) -> list[Finding]:
    """Causes read from the gradients and activations. `saturated_share`: the share of saturated tanh
    units that explains the loss's symptom (None: the loss shows none, and saturation is no fault)."""
    findings = []
    phase = main_phase(grad_stats)
    cures = architecture_cures(facts, known)
    if phase:
        norms = [group_norms(s) for s in phase]
        layers = sorted({k for r in norms for k in r if k.startswith("layer ")}, key=lambda k: int(k.split()[1]))
        if len(layers) >= 2:
            low = statistics.median(r.get(layers[0], 0.0) for r in norms)
            high = statistics.median(r.get(layers[-1], 0.0) for r in norms)
            if high > 0 and low / high < vanish_ratio:
                findings.append(Finding(
                    "vanishing_gradients", f"The gradient reaching {layers[0]} is {low / high:.1e} of the one at "
                    f"{layers[-1]} (median over {len(norms)} samples): the lower layers hardly learn "
                    "(vanishing gradients).", {"grad_low": low, "grad_high": high, "ratio": low / high},
                    "Use fewer layers" + "".join(f", or {c}" for c in cures)
                    + "; clipping caps exploding gradients but cannot help vanishing ones.", "problem"))
    findings += _update_findings(update, stuck)
    if time_profile and len(time_profile) > 10 and time_profile[0] > 0:
        far = max(time_profile[10:]) / time_profile[0]
        if far < 1e-3:
            findings.append(Finding(
                "vanishing_gradients", f"A prediction's gradient 10 or more characters back is {far:.1e} of the "
                "one at the last character: the model cannot learn anything that far back.",
                {"ratio_10_back": far}, "Use " + (" or ".join(cures) if cures else "a model with a shorter path "
                                                  "back in time (an LSTM, or attention)") + "."))
    if facts.gated or saturated_share is None:  # a gated cell's state does not pass through tanh at every step
        return findings
    hot = {layer: share for layer, share in (saturation or {}).items() if share > saturated_share}
    if hot:
        where = " and ".join(f"{share:.0%} in {layer}" for layer, share in hot.items())
        findings.append(Finding(
            "saturated", f"The tanh units sit at ±1 (|tanh| > 0.97: {where}), where tanh passes back almost no "
            "gradient.", {"share": max(hot.values()), **{f"share {k}": v for k, v in hot.items()}},
            "Lower the learning rate; if you changed the initialisation, start from smaller weights "
            "(PyTorch's default is U(-1/√H, 1/√H))" + "".join(f", or use {c}" for c in cures) + ".",
            "warning"))
    return findings
