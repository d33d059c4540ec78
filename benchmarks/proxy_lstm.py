"""Step-count proxy for tuning the LSTM preset: train for a fixed number of steps, print the loss.

    python benchmarks/proxy_lstm.py CORPUS --steps 4200 --n-hidden 256 --dropout 0.1 [--lr 3e-3 ...]

Loss after N steps does not depend on how busy the machine is, so candidates can be compared on a
shared machine by giving each the number of steps it manages in the budget on a quiet one (the
cosine schedule then anneals by steps exactly as a time-budgeted run anneals by seconds). It plans
its run through `charrnn.run.plan_run` like the CLI (the LSTM preset for that many steps; flags
override it), so the split, seeds and model construction are the CLI's; the final validation loss is
over all of the held-out 10%. Also prints ms/step (meaningful only on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from charrnn import TrainConfig, plan_run, read_text  # noqa: E402
from charrnn.options import MODEL_OPTIONS  # noqa: E402

# The proxy's fixed choices: no validation estimates during the run (they would cost steps' time).
FIXED = {"eval_every": 1e9}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--label", default="")
    p.add_argument("--out-dropout", type=float, default=0.0, help="experiment: dropout before the readout")
    p.add_argument("--ema", type=float, default=0.0,
                   help="experiment: evaluate an exponential moving average of the weights with this decay")
    p.add_argument("--decay-groups", action="store_true",
                   help="experiment: AdamW's weight decay on the weight matrices only, not biases or embeddings")
    p.add_argument("--json", type=Path, help="append the result as one JSON line here")
    for name in [*(f.name for f in fields(TrainConfig)), *MODEL_OPTIONS]:  # --lr, --n-hidden, --seed, ...
        flag = "--" + name.replace("_", "-")
        if name not in ("max_steps", "time_budget", "device") and flag not in p._option_string_actions:
            p.add_argument(flag, default=None)
    args = p.parse_args(argv)

    chosen = {k: v for k, v in vars(args).items() if k in MODEL_OPTIONS or k in TrainConfig.__dataclass_fields__}
    settings = {**FIXED, **{k: v for k, v in chosen.items() if v is not None}}
    # The one door: the LSTM preset for a run of this many steps, with the flags on top.
    plan = plan_run(read_text(args.corpus), "lstm", settings, max_steps=args.steps)
    bundle, config = plan.build(), plan.train_config
    options = plan.model_config.to_dict()
    if args.out_dropout:
        bundle.model.head = torch.nn.Sequential(torch.nn.Dropout(args.out_dropout), bundle.model.head)
        options["out_dropout"] = args.out_dropout
    if args.ema:
        _average_weights(bundle.model, args.ema, args.steps)
        options["ema"] = args.ema
    if args.decay_groups:
        _decay_weight_matrices_only()
        options["decay_groups"] = True
    t0 = time.perf_counter()
    last, train_seconds = None, 0.0
    for last in plan.train(bundle):
        if not last.done:
            train_seconds = last.elapsed  # the final evaluation is not part of the budget
    total = time.perf_counter() - t0
    result = {"label": args.label, "seed": config.seed, "steps": args.steps, **options, "val_loss": last.val_loss,
              "ms_per_step": 1000 * train_seconds / args.steps, "total_s": total,
              "config": {k: v for k, v in vars(config).items()
                         if k in settings or k in ("lr", "batch_size", "seq_len")}}
    print(json.dumps(result), flush=True)
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


def _average_weights(model: torch.nn.Module, decay: float, steps: int) -> None:
    """After every optimizer step, average ← decay × average + (1 − decay) × weights; after the last step the
    model takes the average, so the run's final validation pass scores it (Polyak & Juditsky 1992)."""
    from charrnn import loop

    average = [p.detach().clone() for p in model.parameters()]
    done, step = [0], loop.optimizer_step

    def step_and_average(opt, m, lr, stats_step):
        out = step(opt, m, lr, stats_step)
        done[0] += 1
        with torch.no_grad():
            for a, p in zip(average, model.parameters(), strict=True):
                a.lerp_(p.detach(), 1 - decay)
            if done[0] == steps:
                for a, p in zip(average, model.parameters(), strict=True):
                    p.copy_(a)
        return out

    loop.optimizer_step = step_and_average


def _decay_weight_matrices_only() -> None:
    """AdamW with two parameter groups: decay on the matrices a layer multiplies by, none on biases and the
    character embedding (Loshchilov & Hutter 2019; nanoGPT's `configure_optimizers`)."""
    train = sys.modules["charrnn.train"]  # the module (the package's `train` is the function)

    def optimizer(model, config, device, saved):
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
        rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
        groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99), fused=True)

    train.optimizer = optimizer


if __name__ == "__main__":
    sys.exit(main())
