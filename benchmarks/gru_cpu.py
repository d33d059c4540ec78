"""Benchmark: why the GRU trains slower than the LSTM on a CPU, and which preset or kernel closes the gap.

    python benchmarks/gru_cpu.py ../shared/data/tinyshakespeare.txt [--steps 60] [--budget 0]

On a CPU PyTorch runs `nn.LSTM` through oneDNN's fused LSTM primitive (forward and backward, one call per
layer); `nn.GRU` has no such path (oneDNN's RNN entry in PyTorch is LSTM-only: `aten::mkldnn_rnn_layer`
builds an LSTM primitive whatever `mode` it is given) and runs the generic loop: per time step and layer
one matrix product and ~10 small element-wise operations forward, and as many again in autograd's
backward. At the preset's batch of 16 those small operations, not the arithmetic, set the speed.

Part 1 times one training step (forward, backward, AdamW) of each variant at one torch thread, in CPU
time (`time.process_time`, steady on a machine shared with other work; the median of `--steps` steps
after 10 warm-up steps), and prints characters per CPU second and the GRU/LSTM ratio. Variants: the
LSTM and GRU presets (H192×2, batch 16, seq 64) in fp32 and bf16 autocast, the GRU with a smaller
hidden size (same speed-per-weight question), a larger batch (amortises the per-operation cost), and
the hand-written GRU (the same maths in Python). Part 2 (`--budget S`, 0: skip) trains the variants that
matter through `plan_run` for S seconds each on the corpus and prints the validation loss, so a faster
preset is also judged by what it learns in the same time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from charrnn import plan_run  # noqa: E402
from charrnn.corpus import Vocab  # noqa: E402
from charrnn.models import build_model, make_config  # noqa: E402
from charrnn.train import _autocast, lm_loss  # noqa: E402

# (label, model, model options, batch_size, precision)
VARIANTS = [
    ("LSTM H192x2 B16 fp32", "lstm", {"n_hidden": 192, "n_layer": 2}, 16, "fp32"),
    ("LSTM H192x2 B16 bf16", "lstm", {"n_hidden": 192, "n_layer": 2}, 16, "bf16"),
    ("GRU  H192x2 B16 fp32", "gru", {"n_hidden": 192, "n_layer": 2}, 16, "fp32"),
    ("GRU  H192x2 B16 bf16", "gru", {"n_hidden": 192, "n_layer": 2}, 16, "bf16"),
    ("GRU  H128x2 B16 fp32", "gru", {"n_hidden": 128, "n_layer": 2}, 16, "fp32"),
    ("GRU  H192x1 B16 fp32", "gru", {"n_hidden": 192, "n_layer": 1}, 16, "fp32"),
    ("GRU  H256x1 B16 fp32", "gru", {"n_hidden": 256, "n_layer": 1}, 16, "fp32"),
    ("GRU  H192x2 B32 fp32", "gru", {"n_hidden": 192, "n_layer": 2}, 32, "fp32"),
    ("GRU  H192x2 B64 fp32", "gru", {"n_hidden": 192, "n_layer": 2}, 64, "fp32"),
    ("LSTM H192x2 B64 fp32", "lstm", {"n_hidden": 192, "n_layer": 2}, 64, "fp32"),
    ("GRU-scratch H192x2 B16 fp32", "gru-scratch", {"n_hidden": 192, "n_layer": 2}, 16, "fp32"),
]
SEQ_LEN = 64


def step_cost(ids: torch.Tensor, vocab_size: int, model_name: str, options: dict, batch: int, precision: str,
              steps: int) -> float:
    """Median CPU seconds of one training step (forward, backward, AdamW) after 10 warm-up steps."""
    model = build_model(model_name, vocab_size, make_config(model_name, **options), seed=0).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + 10):
        starts = torch.randint(0, len(ids) - SEQ_LEN - 1, (batch,), generator=g)
        x = torch.stack([ids[s:s + SEQ_LEN] for s in starts])
        y = torch.stack([ids[s + 1:s + SEQ_LEN + 1] for s in starts])
        t = time.process_time()
        with _autocast(precision, torch.device("cpu")):
            logits, _ = model(x)
        loss = lm_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 10:
            times.append(time.process_time() - t)
    return statistics.median(times)


def speeds(text: str, steps: int) -> dict[str, float]:
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text[:200_000])
    out = {}
    print(f"{'variant':<30} {'ms/step':>8} {'chars/CPU s':>12}")
    for label, name, options, batch, precision in VARIANTS:
        seconds = step_cost(ids, len(vocab), name, options, batch, precision, steps)
        out[label] = batch * SEQ_LEN / seconds
        print(f"{label:<30} {seconds * 1e3:8.1f} {out[label]:12,.0f}", flush=True)
    for precision in ("fp32", "bf16"):
        lstm, gru = out[f"LSTM H192x2 B16 {precision}"], out[f"GRU  H192x2 B16 {precision}"]
        print(f"{precision}: the preset GRU trains at {gru / lstm:.2f}x the LSTM's characters per second "
              f"(the LSTM is {lstm / gru:.1f}x faster)")
    return out


def learned(text: str, budget: float) -> None:
    """Validation loss after `budget` seconds for the presets and the candidate GRU presets."""
    runs = [("lstm preset", "lstm", {}), ("gru preset", "gru", {}), ("gru fp32", "gru", {"precision": "fp32"}),
            ("gru H192x1", "gru", {"n_layer": 1, "precision": "fp32"}),
            ("gru H256x1", "gru", {"n_layer": 1, "n_hidden": 256, "precision": "fp32"}),
            ("gru H128x2", "gru", {"n_hidden": 128, "precision": "fp32"}),
            ("gru B64", "gru", {"batch_size": 64, "precision": "fp32"})]
    print(f"\n{'run':<14} {'steps':>6} {'chars/s':>8} {'val loss':>9}   ({budget:g} s each, one thread)", flush=True)
    for label, name, settings in runs:
        plan = plan_run(text, name, {**settings, "threads": 1, "seed": 0}, time_budget=budget)
        bundle = plan.build()
        last = None
        for ev in plan.train(bundle):
            last = ev
        print(f"{label:<14} {bundle.step:6d} {last.chars_per_sec:8,.0f} {last.val_loss:9.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--steps", type=int, default=60, help="timed steps per variant")
    ap.add_argument("--budget", type=float, default=0.0, help="seconds of training per run in part 2 (0: skip)")
    ap.add_argument("--skip-speeds", action="store_true", help="part 2 only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    text = Path(args.corpus).read_text()
    print(f"torch {torch.__version__}, 1 thread, load {Path('/proc/loadavg').read_text().split()[:3]}")
    if not args.skip_speeds:
        speeds(text, args.steps)
    if args.budget:
        learned(text, args.budget)
    print(f"load after: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
