"""Seeded fp32 runs whose every number is kept, so that a change to the training loop can be checked to
compute exactly what it computed before.

    python tests/golden.py            writes tests/data/golden_runs.json with the code as it is now
    python tests/golden.py --old-checkpoint   writes tests/data/old_checkpoint.safetensors (+ .json): a
                                      stopped run's checkpoint, kept so that files written by older code
                                      stay loadable (made once, by the code before the split was saved;
                                      do not regenerate it)
    tests/test_golden.py              runs the same scenarios and compares them with the file, bit for bit

Each scenario is planned through `charrnn.run.plan_run` (the one door) with every setting given, so no
preset or estimate decides a value, on one thread, fp32, with a step limit. Kept per scenario: every
training event's step, characters, loss, validation loss, learning rate, gradient norm, sample, stop
reason, message and gradient statistics (exact float repr); the loss history; a sha256 of every weight
and of every tensor of the checkpoint (`checkpoint.to_bytes`); and the checkpoint's metadata but its
wall-clock seconds. Timing never decides anything here: validation runs at every step (eval_every 0),
samples at every step (sample_every 1e-9), and the final validation's progress events (timed) are left
out. What differs between machines is recorded with the numbers (torch version, CPU capability): the
test compares only where those are the same and otherwise skips, saying why.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes

from charrnn import checkpoint
from charrnn.run import plan_run

FIXTURE = Path(__file__).parent / "data" / "golden_runs.json"
TEXT = ("the cat sat on the mat.\na dog ran in the fog.\nshe sells sea shells by the sea shore.\n"
        "a stitch in time saves nine; the early bird catches the worm.\n") * 16
WALL_CLOCK = {"seconds", "run_seconds"}  # checkpoint metadata that is wall-clock time
WALL_CLOCK_TENSORS = {"history.train_seconds", "history.val_seconds"}  # the curves' seconds axis: wall-clock too

# Every setting given: timing decides nothing (evaluate and sample at every step), one thread, fp32.
COMMON = {"batch_size": 4, "seq_len": 16, "eval_every": 0.0, "eval_chars": 200, "final_eval_chars": 500,
          "sample_every": 1e-9, "sample_length": 24, "precision": "fp32", "threads": 1, "device": "cpu",
          "stats_every": 5, "warmup_steps": 5, "min_lr_ratio": 0.1, "lr": 3e-3, "weight_decay": 0.0,
          "grad_clip": 1.0, "clock": "wall", "loss_on": "all", "stateless": False, "seed": 3}
SCENARIOS: dict[str, tuple[str, dict]] = {
    # the default family: TBPTT streams, two layers, dropout between them (the seeded dropout masks)
    "lstm": ("lstm", {"n_hidden": 32, "n_layer": 2, "n_embd": 16, "dropout": 0.1, "weight_decay": 0.05}),
    # independent windows from a fresh state (random_windows, reset every batch)
    "gru": ("gru", {"n_hidden": 32, "n_layer": 1, "stateless": True}),
    # the hand-written cell, loss on the window's last character only, no clipping
    "rnn-scratch": ("rnn-scratch", {"n_hidden": 24, "n_layer": 1, "loss_on": "last", "grad_clip": None}),
    "transformer": ("transformer", {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16}),
    "mlp": ("mlp", {"context": 4, "n_embd": 8, "n_hidden": 32, "n_layer": 1}),
    # fitted by counting: one 'step' per chunk of text
    "ngram": ("ngram", {"order": 3}),
    # the divergence guard: a huge learning rate, no clipping: it explodes at step 12 (in the warm-up), and
    # the last weights with a validation loss below ln V (step 1's) come back, with the step count and curve
    "gru-diverges": ("gru", {"n_hidden": 32, "n_layer": 1, "lr": 1.0, "grad_clip": None}),
}
MAX_STEPS = 20
RESUME_AT = 8  # "lstm-resumed": the lstm scenario stopped here, saved, loaded and resumed exactly


def environment() -> dict:
    """What makes float results differ from machine to machine."""
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine(), "python": platform.python_version()}


def _sha(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    raw = t.reshape(-1).view(torch.uint8) if t.numel() else t.to(torch.uint8)  # the bytes, whatever the dtype
    return f"{t.dtype} {tuple(t.shape)} " + hashlib.sha256(raw.numpy().tobytes()).hexdigest()


STATS_MEASURED = ("step", "grad_norm", "update_ratio")  # the numbers; a sample also names each parameter's layer


def _stats(stats: dict | None) -> str | None:
    if stats is None:
        return None
    measured = {k: stats[k] for k in STATS_MEASURED}
    return hashlib.sha256(json.dumps(measured, sort_keys=True).encode()).hexdigest()


def _events(events) -> list[list]:
    """The timing-free part of each training event (the final validation's progress events are timed)."""
    return [[e.step, e.chars_seen, e.train_loss, e.val_loss, e.lr, e.grad_norm, e.sample, e.done, e.stop_reason,
             e.message, _stats(e.stats)] for e in events if e.phase == "training"]


def _outcome(bundle, events: list) -> dict:
    data = checkpoint.to_bytes(bundle)
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + n]).get("__metadata__", {})
    h = bundle.history
    return {
        "events": _events(events),
        "history": {"step": h.step, "chars": h.chars, "train_loss": h.train_loss, "val_step": h.val_step,
                    "val_chars": h.val_chars, "val_loss": h.val_loss},
        "weights": {k: _sha(v) for k, v in bundle.model.state_dict().items()},
        "checkpoint_tensors": {k: _sha(v) for k, v in sorted(load_bytes(data).items()) if k not in WALL_CLOCK_TENSORS},
        "checkpoint_metadata": {k: v for k, v in sorted(meta.items()) if k not in WALL_CLOCK},
        "step": bundle.step, "chars_seen": bundle.chars_seen, "run_step": bundle.run_step,
    }


def run_scenario(name: str) -> dict:
    """Train one scenario from scratch (or, "lstm-resumed", stop, save, load and resume) and keep its numbers."""
    base = "lstm" if name == "lstm-resumed" else name
    model, settings = SCENARIOS[base]
    settings = {**COMMON, **settings}
    plan = plan_run(TEXT, model, settings, max_steps=MAX_STEPS)
    bundle = plan.build()
    if name != "lstm-resumed":
        events = list(plan.train(bundle))
        return _outcome(bundle, events)
    events, first = [], plan.train(bundle)
    for ev in first:
        events.append(ev)
        if ev.step == RESUME_AT:
            break
    first.close()
    loaded = checkpoint.load(checkpoint.to_bytes(bundle))
    again = plan_run(TEXT, None, {}, continue_from=loaded)  # no budget given: an exact resume
    assert again.resume, "the stopped run should resume exactly"
    events += list(again.train(loaded))
    return _outcome(loaded, events)


def names() -> list[str]:
    return [*SCENARIOS, "lstm-resumed"]


OLD_CHECKPOINT = Path(__file__).parent / "data" / "old_checkpoint.safetensors"
OLD_SETTINGS = {**COMMON, "n_hidden": 16, "n_layer": 1, "n_embd": 8, "sample_every": 0.0, "stats_every": 0}
OLD_STOP, OLD_SAMPLE = 8, {"prompt": "the ", "length": 40, "temperature": 0.8, "seed": 0}


def old_checkpoint_run(bundle=None):
    """The run the old checkpoint was stopped in: its plan, and (bundle=None) a new bundle trained to OLD_STOP."""
    plan = plan_run(TEXT, "lstm", OLD_SETTINGS, max_steps=MAX_STEPS)
    if bundle is None:
        bundle = plan.build()
        events = plan.train(bundle)
        for ev in events:
            if ev.step == OLD_STOP:
                break
        events.close()
    return plan, bundle


def write_old_checkpoint() -> None:
    """The stopped run's full checkpoint, and what the code of the day computed from it: a sample, and the
    losses of the exact resume to MAX_STEPS (compared only on the same machine)."""
    from charrnn.sample import generate

    _, bundle = old_checkpoint_run()
    checkpoint.save(OLD_CHECKPOINT, bundle)
    loaded = checkpoint.load(OLD_CHECKPOINT)
    sample = generate(loaded.model, loaded.vocab, **OLD_SAMPLE)
    plan = plan_run(TEXT, None, {}, continue_from=loaded)
    events = [e for e in plan.train(loaded) if e.phase == "training"]
    facts = {"environment": environment(), "sample": sample, "events": _events(events),
             "val_loss": loaded.val_loss, "weights": {k: _sha(v) for k, v in loaded.model.state_dict().items()}}
    OLD_CHECKPOINT.with_suffix(".json").write_text(json.dumps(facts, indent=1) + "\n")


def main() -> int:
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--old-checkpoint"]:
        write_old_checkpoint()
        print(f"wrote {OLD_CHECKPOINT}")
        return 0
    runs = {name: run_scenario(name) for name in names()}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({"environment": environment(), "runs": runs}, indent=1) + "\n")
    print(f"wrote {FIXTURE} ({len(runs)} runs) with {environment()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
