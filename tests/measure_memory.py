"""Peak memory of training one model, measured in a fresh process (run by tests/test_estimate.py).

    python tests/measure_memory.py '{"model": "lstm", "options": {...}, "vocab_size": 65, "batch_size": 32,
        "seq_len": 128, "n_train": 0, "register": {"causal-conv": "causal_conv:CausalConv"}}'

prints {"base_mb": RSS before the model exists, "peak_mb": the highest RSS after, "seconds": per step}.
What it runs is what `charrnn.estimate` accounts for: for a gradient-trained model, steps of forward,
cross-entropy, backward and AdamW (the second step holds the weights, their gradients, AdamW's two moments
and the activations at once); for a model fitted by counting, its text counted in chunks as the trainer
does, then a validation pass. The peak is Linux's VmHWM, reset (/proc/self/clear_refs) once imports, a
warm-up run of a tiny model of the same kind and the data are in memory, so only the model's own memory
is measured.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import torch


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _train(model, x, y, steps: int) -> None:
    from charrnn.train import evaluate, lm_loss

    if model.fitted_by_counting:
        text = torch.cat([x.flatten(), y[-1:, -1]])
        chunk = max(1, len(text) // 10)
        model.reset_counts()
        for begin in range(0, len(text) - 1, chunk):  # as the trainer counts: chunk by chunk, merged
            start = max(0, begin - model.context + 1)
            model.fit_counts(text[start:begin + chunk + 1], skip=begin - start)
        evaluate(model, text[: 200_000], 64)
        return
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        logits, _ = model(x, None)
        loss = lm_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main(spec: dict) -> dict:
    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).parent))
    from charrnn.models import MODELS, build_model, make_config

    for name, where in spec.get("register", {}).items():  # models written in the tests, not registered
        module, _, cls = where.partition(":")
        MODELS[name] = getattr(importlib.import_module(module), cls)
    name, V = spec["model"], spec["vocab_size"]
    g = torch.Generator().manual_seed(0)
    if spec.get("n_train"):  # a counted model reads a text: n_train characters, as (1, n_train) streams
        ids = torch.randint(0, V, (1, spec["n_train"] + 1), generator=g)
    else:
        ids = torch.randint(0, V, (spec["batch_size"], spec["seq_len"] + 1), generator=g)
    x, y = ids[:, :-1], ids[:, 1:]
    tiny = {k: min(v, 8) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in spec["options"].items()}  # every lazy initialisation of torch happens here
    _train(build_model(name, V, make_config(name, **{**tiny, "n_head": 2, "block_size": 8, "order": 2})),
           x[:2, :8], y[:2, :8], 2)
    base = _status_mb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the warm-up's peak is forgotten
    except OSError:
        pass
    model = build_model(name, V, make_config(name, **spec["options"]))
    start = time.perf_counter()
    _train(model, x, y, spec.get("steps", 2))
    seconds = (time.perf_counter() - start) / spec.get("steps", 2)
    return {"base_mb": base, "peak_mb": max(_status_mb("VmHWM"), _status_mb("VmRSS")), "seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
