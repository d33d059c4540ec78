"""Step-count proxy for tuning the LSTM preset: train for a fixed number of steps, print the loss.

    python benchmarks/proxy_lstm.py CORPUS --steps 4200 --n-hidden 256 --dropout 0.1 [--lr 3e-3 ...]

Loss after N steps does not depend on how busy the machine is, so candidates can be compared on a
shared machine by giving each the number of steps it manages in the budget on a quiet one (the
cosine schedule then anneals by steps exactly as a time-budgeted run anneals by seconds). The same
data split, seeds and model construction as the CLI; the final validation loss is over all of the
held-out 10%. Also prints ms/step (meaningful only on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from charrnn import Bundle, TrainConfig, Vocab, build_model, make_config, read_text, split, train  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--n-hidden", type=int, default=256)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default="")
    p.add_argument("--out-dropout", type=float, default=0.0, help="experiment: dropout before the readout")
    p.add_argument("--json", type=Path, help="append the result as one JSON line here")
    for f in fields(TrainConfig):  # --lr, --batch-size, --min-lr-ratio, --threads, ...
        if f.name in ("max_steps", "time_budget", "seed", "device") or f.type not in ("int", "float", "str",
                                                                                         "int | None"):
            continue
        kind = {"int": int, "float": float, "str": str, "int | None": int}[f.type]
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None)
    args = p.parse_args(argv)

    base = TrainConfig(time_budget=None, max_steps=args.steps, batch_size=16, seq_len=64, lr=3e-3,
                       precision="auto", eval_every=1e9, seed=args.seed)
    config = replace(base, **{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                              if getattr(args, f.name, None) is not None and f.name not in ("seed",)})
    text = read_text(args.corpus)
    vocab = Vocab.from_text(text)
    options = {"n_hidden": args.n_hidden, "n_layer": args.n_layer, "n_embd": args.n_embd, "dropout": args.dropout}
    bundle = Bundle(build_model("lstm", len(vocab), make_config("lstm", **options), seed=args.seed), vocab, "lstm")
    if args.out_dropout:
        bundle.model.head = torch.nn.Sequential(torch.nn.Dropout(args.out_dropout), bundle.model.head)
        options["out_dropout"] = args.out_dropout
    train_ids, val_ids = split(vocab.encode(text), 0.1, seq_len=config.seq_len)
    t0 = time.perf_counter()
    last, train_seconds = None, 0.0
    for last in train(bundle, train_ids, val_ids, config):
        if not last.done:
            train_seconds = last.elapsed  # the final evaluation is not part of the budget
    total = time.perf_counter() - t0
    result = {"label": args.label, "seed": args.seed, "steps": args.steps, **options, "val_loss": last.val_loss,
              "ms_per_step": 1000 * train_seconds / args.steps, "total_s": total,
              "config": {k: v for k, v in vars(config).items() if v != getattr(base, k, None) or k in
                         ("lr", "batch_size", "seq_len")}}
    print(json.dumps(result), flush=True)
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
