"""A run whose loss explodes is a failed run, and says so (issue 17 part 2, issue 18's low row): the model goes
back to the last weights with a finite validation loss below the uniform guess ln V, and its step count,
characters and loss curve go back with them, so that a checkpoint says the step of the weights it holds;
where no weights ever scored below ln V, the run says nothing was learned and keeps its initial weights as
"untrained". The CLI ends with "diverged:" and exit status 1, and its metrics say which weights it kept."""

from __future__ import annotations

import json
import math

import torch

from charrnn import Bundle, TrainConfig, Vocab, build_model, checkpoint, cli, make_config, split, train
from charrnn.inspect import diagnose_run

TEXT = "the cat sat on the mat.\na dog ran in the fog.\n" * 60


def setup(seed=0):
    torch.manual_seed(seed)
    vocab = Vocab.from_text(TEXT)
    tr, va = split(vocab.encode(TEXT), seq_len=16)
    model = build_model("lstm", len(vocab), make_config("lstm", n_hidden=32, n_layer=1))
    return Bundle(model, vocab, "lstm"), tr, va


def config(**kw):
    return TrainConfig(**{"max_steps": 20, "time_budget": None, "batch_size": 4, "seq_len": 16, "lr": 1e-2,
                          "warmup_steps": 0, "eval_every": 1e9, "threads": 1, **kw})


def logits(bundle, tr):
    with torch.no_grad():
        return bundle.model(tr[:40][None])[0]


EXPLODE = {"lr": 10.0, "grad_clip": None, "max_steps": 50}  # Adam at 10 throws the weights far in a step or two


def test_after_learning_a_divergence_restores_the_last_good_weights_with_their_step_and_curve():
    bundle, tr, va = setup()
    for _ in train(bundle, tr, va, config()):
        pass
    uniform = math.log(len(bundle.vocab))
    assert bundle.step == 20 and bundle.val_loss < uniform  # learned: these are good weights
    good, good_history = logits(bundle, tr), (list(bundle.history.step), list(bundle.history.val_step))
    events = list(train(bundle, tr, va, config(**EXPLODE)))  # no estimate in this run: step 20's are the last
    last = events[-1]
    failed = int(last.message.split("at step ")[1].split()[0])
    assert last.done and last.stop_reason == "diverged" and not last.untrained
    assert failed > 21, last.message  # steps were taken after the good weights …
    assert max(e.step for e in events) >= 21
    # … and undone: the model, its counters and its curve are those of step 20
    assert last.restored_step == bundle.step == bundle.run_step + 20 == 20
    assert bundle.chars_seen == 20 * 4 * 16
    # … while the last event says how far the run got (the steps before the one that exploded) and its rate
    assert (last.step, last.chars_seen) == (failed - 1, (failed - 1) * 4 * 16) and last.chars_per_sec > 0
    assert (bundle.history.step, bundle.history.val_step) == good_history
    assert "The weights from step 20 were restored" in last.message
    torch.testing.assert_close(logits(bundle, tr), good)
    saved = checkpoint.load(checkpoint.to_bytes(bundle))  # the file says the step of the weights it holds
    assert (saved.step, saved.chars_seen, saved.history.step[-1]) == (20, 20 * 4 * 16, 20)
    torch.testing.assert_close(logits(saved, tr), good)
    finding = diagnose_run(bundle, TEXT, stop_reason=last.stop_reason)[0]
    assert finding.kind == "diverged" and "The weights kept are from step 20" in finding.message


def test_weights_never_below_the_uniform_guess_are_not_good_and_the_run_says_nothing_was_learned():
    bundle, tr, va = setup()
    initial = logits(bundle, tr)
    events = list(train(bundle, tr, va, config(**EXPLODE, eval_every=0.0)))  # an estimate after every step
    last = events[-1]
    uniform = math.log(len(bundle.vocab))
    measured = [e.val_loss for e in events if not e.done and e.val_loss is not None]
    assert measured and all(not v < uniform for v in measured)  # estimated, but never below ln V: not good
    assert last.stop_reason == "diverged" and last.untrained and last.restored_step == 0
    assert "nothing was learned" in last.message and "initial weights were restored, untrained" in last.message
    assert (bundle.step, bundle.run_step, bundle.chars_seen, bundle.history.step) == (0, 0, 0, [])
    torch.testing.assert_close(logits(bundle, tr), initial)
    assert checkpoint.load(checkpoint.to_bytes(bundle)).step == 0
    finding = diagnose_run(bundle, TEXT, stop_reason=last.stop_reason)[0]
    assert finding.kind == "diverged" and "nothing was learned" in finding.message


def test_the_cli_reports_a_diverged_run_as_diverged(tmp_path, capsys):
    corpus, out, metrics = tmp_path / "t.txt", tmp_path / "m.safetensors", tmp_path / "m.json"
    corpus.write_text(TEXT)
    code = cli.main(["train", str(corpus), "--model", "lstm", "--n-hidden", "32", "--n-layer", "1", "--batch-size",
                     "4", "--seq-len", "16", "--lr", "10", "--grad-clip", "none", "--warmup-steps", "0",
                     "--eval-every", "0", "--max-steps", "50", "--quiet", "--out", str(out),
                     "--metrics-json", str(metrics)])
    printed = capsys.readouterr()
    assert code == 1
    assert printed.out.startswith("diverged: 0 steps (untrained: nothing was learned), 0 chars"), printed.out
    assert "done:" not in printed.out and "nothing was learned" in printed.err
    figures = json.loads(metrics.read_text())
    assert figures["stop_reason"] == "diverged" and figures["diverged"] and figures["untrained"]
    assert (figures["restored_step"], figures["steps"]) == (0, 0)
    assert checkpoint.load(out).step == 0


def test_the_diagnosis_calls_initial_weights_untrained_even_a_hair_below_the_uniform_guess():
    from charrnn.bundle import History
    from charrnn.inspect import diagnose

    history = History()
    history.add_val(0, 0, 0.0, math.log(27) - 1e-4)  # an untrained MLP's first estimate (measured: 3.296 < 3.2958+)
    found = diagnose(history, uniform=math.log(27), unigram=2.9, lr=1.0, stop_reason="diverged")
    assert found[0].kind == "diverged" and "nothing was learned" in found[0].message


def test_the_cli_quotes_the_typed_learning_rate_and_advises_the_presets_rate(tmp_path, capsys):
    """`--lr 10` on a GRU explodes inside the warm-up: the message names the 10 that was typed (and the warm-up's
    rate at that step beside it), and advises the rate the preset uses for this model, not "3-10x lower" (from
    10 still far too high); the diagnosis line advises the same rate."""
    from charrnn.presets import preset

    corpus, out = tmp_path / "t.txt", tmp_path / "m.safetensors"
    corpus.write_text(TEXT)
    code = cli.main(["train", str(corpus), "--model", "gru", "--n-hidden", "32", "--n-layer", "1", "--batch-size",
                     "4", "--seq-len", "16", "--lr", "10", "--grad-clip", "none", "--eval-every", "0",
                     "--max-steps", "50", "--quiet", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 1
    default = preset("gru", len(TEXT), None, 50)[1].lr
    assert default < 1  # the advice is a rate that trains, far below the typed 10
    assert "(learning rate 10, still warming up: " in printed.err, printed.err
    assert f"Try a learning rate of {default:.2g} (the default for this model)" in printed.err
    assert f"Lower the learning rate to {default:.2g} (the default for this model)" in printed.err  # the diagnosis
    assert "3-10x" not in printed.err


def test_a_divergence_at_the_presets_own_rate_advises_a_tenth_of_it():
    """Where the run already used a rate at or below the preset's, the advice is a tenth of that rate; a rate that
    was the schedule's peak is quoted alone."""
    from charrnn.loop import divergence_advice, rate_words

    config = TrainConfig(lr=3e-3, warmup_steps=20, max_steps=100, time_budget=None)
    assert divergence_advice("gru", config) == "Try a learning rate of 0.0003 (a tenth of 0.003), or a smaller " \
                                               "gradient clip."
    assert rate_words(3e-3, config, 50) == "learning rate 0.003"
    assert rate_words(1.5e-3, config, 9) == "learning rate 0.003, still warming up: 0.0015 at that step"
    assert rate_words(1e-3, config, 80) == "learning rate 0.003, decaying: 0.001 at that step"


def test_a_run_record_of_a_diverged_run_keeps_its_steps_and_never_draws_back_to_the_restored_step():
    """The run's record (what Compare and, after a divergence, the Train chart draw) keeps the steps the run made
    and its estimates in order: the final pass over the restored (here initial) weights is measured at their step,
    0, which on the run's curve drew the validation line back from step 12 to 0 (a tester's screenshot)."""
    from charrnn.record import RunRecord
    from charrnn.run import plan_run

    plan = plan_run(TEXT, "lstm", {"n_hidden": 32, "n_layer": 1, "batch_size": 4, "seq_len": 16, "lr": 10.0,
                                   "grad_clip": None, "warmup_steps": 0, "eval_every": 0.0}, max_steps=50)
    bundle = plan.build()
    record = RunRecord.begin(plan, bundle, 1, "test")
    for ev in plan.train(bundle):
        record.observe(ev)
    record.close()
    assert record.diverged and bundle.step == 0 and record.steps == record.curve.step[-1] > 0
    assert record.curve.val_step and record.curve.val_step == sorted(record.curve.val_step)
