"""The diagnosis judged on labelled runs (issue 17): no finding on a healthy run of any model, the teacher's
verdict on each faulty one; update sizes judged against the scheduled learning rate; advice that fits the
model; the CLI printing the same verdicts. The runs are real and tiny (`diagnosis_cases.cases("tiny")`);
`benchmarks/diagnosis.py` runs the realistic set and prints the confusion table."""

from __future__ import annotations

import math

import pytest
from diagnosis_cases import LABELS, TEXTS, cases, judge, train_case

from charrnn import cli
from charrnn.bundle import History
from charrnn.gradstats import update_size
from charrnn.inspect import diagnose, diagnose_run, explain, model_facts
from charrnn.models import MODELS, build_model

TINY = cases("tiny")


@pytest.mark.parametrize("case", TINY, ids=[c.name for c in TINY])
def test_a_labelled_run_gets_the_teachers_verdict(case):
    bundle, stop_reason, text = train_case(case)
    findings = diagnose_run(bundle, text, stop_reason=stop_reason)
    problem = judge(case, [f.kind for f in findings])
    assert problem is None, f"{case.name}: {problem}\n" + "\n".join(explain(f) for f in findings)
    for f in findings:  # every finding says what it rests on and what to do
        assert f.message and f.advice and f.severity in ("problem", "warning", "info")


def test_the_labelled_set_covers_every_model_and_every_fault():
    healthy = [c for c in TINY if c.label == "healthy"]
    assert {c.model for c in healthy} == set(MODELS) and len({c.text for c in healthy}) == 2
    assert {c.label for c in TINY} == set(LABELS)
    real = cases("real", budget=30)
    assert {c.model for c in real if c.label == "healthy"} == set(MODELS) and {c.label for c in real} == set(LABELS)


def annealed(peak=3e-3, steps=400, every=10):
    """Gradient samples of a run whose learning rate is annealed to 0: the update ratio follows the rate."""
    out = []
    for step in range(every, steps + 1, every):
        lr = peak * 0.5 * (1 + math.cos(math.pi * step / steps))
        out.append({"step": step, "lr": lr, "grad_norm": {"head.weight": 0.5, "rnn.weight_hh_l0": 0.1},
                    "update_ratio": {"head.weight": lr / peak * 2e-3, "rnn.weight_hh_l0": lr / peak * 1e-3}})
    return out


def learning_history(n=400):
    h = History()
    h.step = list(range(1, n + 1))
    h.train_loss = [3.4 * math.exp(-i / 60) + 0.5 for i in range(n)]
    h.val_step = h.step[19::20]
    h.val_loss = [h.train_loss[i - 1] + 0.05 for i in h.val_step]
    h.chars, h.val_chars = [s * 100 for s in h.step], [s * 100 for s in h.val_step]
    return h


def test_update_sizes_are_judged_at_the_scheduled_peak_rate_not_in_the_annealed_tail():
    stats = annealed()
    size = update_size(stats)  # the one figure: samples where the scheduled rate is ≥ half its peak
    assert size.ratio > 9e-4 and size.last_step < 400 * 0.6 and size.samples < len(stats)
    assert stats[-1]["update_ratio"]["head.weight"] < 1e-6  # the tail: tiny by design
    assert diagnose(learning_history(), uniform=math.log(30), unigram=2.9, grad_stats=stats, lr=3e-3) == []
    low = [{**s, "lr": s["lr"] * 1e-4, "update_ratio": {k: v * 1e-4 for k, v in s["update_ratio"].items()}}
           for s in stats]  # the whole schedule 10,000x lower: now the steps are too small
    found = diagnose(learning_history(), uniform=math.log(30), unigram=2.9, grad_stats=low, lr=3e-7)
    assert [f.kind for f in found] == ["updates_too_small"]
    assert found[0].evidence["update_ratio"] == update_size(low).ratio  # one figure, quoted as it is
    assert f"{update_size(low).ratio:.1e}" in found[0].message


def test_advice_names_only_what_the_model_lacks():
    facts = {name: model_facts(build_model(name, 20)) for name in MODELS}
    assert {n for n, f in facts.items() if f.gated} == {"gru", "lstm", "gru-scratch", "lstm-scratch"}
    assert {n for n, f in facts.items() if f.counted} == {"ngram"}
    vanishing = [{"step": s, "lr": 1e-3, "grad_norm": {"rnn.weight_hh_l0": 1e-6, "rnn.weight_hh_l1": 0.1},
                  "update_ratio": {"rnn.weight_hh_l0": 1e-3},
                  "layer": {"rnn.weight_hh_l0": "layer 1", "rnn.weight_hh_l1": "layer 2"}} for s in (10, 20, 30)]
    for name in ("gru", "lstm", "rnn", "rnn-scratch"):
        found = diagnose(learning_history(), uniform=math.log(30), unigram=2.9, grad_stats=vanishing,
                         model=facts[name])
        assert [f.kind for f in found] == ["vanishing_gradients"]
        assert ("gated cell" in found[0].advice) == (not facts[name].gated), (name, found[0].advice)
        assert ("identity init" in found[0].advice) == (name == "rnn-scratch"), (name, found[0].advice)


def test_the_cli_prints_no_finding_after_a_healthy_run_and_the_verdict_after_a_faulty_one(tmp_path, capsys):
    corpus = tmp_path / "sanity.txt"
    corpus.write_text(TEXTS["sanity"].read_text())
    common = ["--n-hidden", "32", "--n-layer", "1", "--batch-size", "8", "--seq-len", "16", "--quiet",
              "--out", str(tmp_path / "m.safetensors")]
    assert cli.main(["train", str(corpus), "--model", "rnn", "--lr", "1e-2", "--max-steps", "120", *common]) == 0
    err = capsys.readouterr().err
    assert not any(line.startswith(("problem:", "warning:", "info:")) for line in err.splitlines()), err
    assert cli.main(["train", str(corpus), "--model", "lstm", "--max-steps", "40", "--warmup-steps", "200",
                     *common]) == 0  # a warm-up typed longer than the run
    err = capsys.readouterr().err  # 200 steps of warm-up: 40 are far too few
    assert "warning: The run stopped after 40 steps, inside its 200-step learning-rate warm-up" in err


def test_a_run_of_a_few_steps_inside_its_warm_up_is_warned_not_just_too_short_to_judge():
    """A tester's 8-step page run (time budget 5 s on a slow CPU) ended "Done" at the uniform guess with no
    warning: under 30 steps the diagnosis said only "too few to judge" (info, not shown as a warning). A run that
    stopped inside its warm-up is unfinished however few steps it took: that is a warning."""
    from charrnn.run import plan_run

    text = TEXTS["weather"].read_text()[:20_000]
    plan = plan_run(text, "lstm", {"n_hidden": 32, "n_layer": 1, "seed": 0}, max_steps=8)
    warmup = plan.train_config.warmup_steps
    assert warmup > 8  # 20: the least a budget's warm-up is
    bundle = plan.build()
    stop = [e.stop_reason for e in plan.train(bundle)][-1]
    findings = diagnose_run(bundle, text, stop_reason=stop)
    early = [f for f in findings if f.kind == "too_early"]
    assert early and early[0].severity == "warning"
    assert f"inside its {warmup}-step learning-rate warm-up" in early[0].message
    # a run with no warm-up left unfinished is still only "too few to judge" (info)
    plan = plan_run(text, "lstm", {"n_hidden": 32, "n_layer": 1, "seed": 0, "warmup_steps": 0}, max_steps=8)
    bundle = plan.build()
    stop = [e.stop_reason for e in plan.train(bundle)][-1]
    assert [f.severity for f in diagnose_run(bundle, text, stop_reason=stop) if f.kind == "too_early"] == ["info"]
