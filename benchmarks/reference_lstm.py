"""A textbook character-level LSTM trained for a wall-clock budget: the reference `bench_lstm.py` sets beside
charrnn's default run, so that a figure measured on a noisy machine comes with one from the same minutes.

    python benchmarks/reference_lstm.py CORPUS --budget 60 [--seed 0] [--threads N] [--json out.json]

What a PyTorch user writes from a tutorial, and nothing more:
- model: `nn.Embedding(V, 128)` → `nn.LSTM(128, 128, num_layers=2, batch_first=True)` → `nn.Linear(128, V)`
  (280,897 parameters for tinyshakespeare's 65 characters);
- Adam, lr 2e-3, constant (no warm-up, no decay, no weight decay); the gradient norm clipped at 5, the
  default of Karpathy's char-rnn;
- batches of 32 × 64 characters, truncated BPTT: the training text cut into 32 contiguous streams read 64
  characters at a time, the hidden state carried from one window to the next and detached; at the end of
  the streams it starts again from their beginning with a zero state;
- float32 (no autocast), and torch's threads as a fresh process has them (torch's default: one per physical
  core, 2 on the 2-core machine): what a textbook user gets. `--threads N` pins them. On a busy machine two
  threads can collapse (issue 20: 6 steps where one thread made 576), so the reference is for a quiet
  machine — the ratio then compares recipes on the same minutes; busy-machine behaviour is `bench_lstm.py
  --busy`'s, which runs charrnn's default alone.

The text and split are charrnn's (`open_corpus`: the same reading rules and vocabulary; `split`: the last
10 % held out, `int(0.1 × N)` characters), so the held-out characters are exactly the CLI's. The budget's
clock starts at the first step (the text read, the model built) and stops training once it is spent; the
validation pass comes after it and is not counted in it — charrnn's budget includes its final pass, so this
favours the reference by that pass's seconds (about 1-2 s). Validation: the mean cross-entropy (nats/char)
over all the held-out text, cut into the same 16 contiguous streams of 64-character pieces as charrnn's
`evaluate` (`charrnn.batching.eval_streams`), state carried across pieces: the same characters scored the
same way as the CLI's `--final-eval-chars none`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from charrnn.batching import eval_streams  # noqa: E402
from charrnn.corpus import split  # noqa: E402
from charrnn.textstore import open_corpus  # noqa: E402

WIDTH, LAYERS, LR, CLIP, BATCH, SEQ = 128, 2, 2e-3, 5.0, 32, 64
EVAL_STREAMS = 16  # charrnn.loss.evaluate's


class ReferenceLSTM(nn.Module):
    """Embedding → 2-layer LSTM → linear head. forward: ids (B, T) int64, state → logits (B, T, V), state."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, WIDTH)
        self.lstm = nn.LSTM(WIDTH, WIDTH, num_layers=LAYERS, batch_first=True)
        self.head = nn.Linear(WIDTH, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


@dataclass
class Result:
    val_loss: float  # nats/char over all the held-out text
    val_chars: int  # characters scored
    steps: int
    train_chars: int
    seconds: float  # training, on the budget's clock
    chars_per_sec: float
    eval_seconds: float
    params: int
    threads: int
    precision: str = "fp32"


def train(model: ReferenceLSTM, train_ids: torch.Tensor, budget: float, max_steps: int | None = None
          ) -> tuple[int, float]:
    """Train until `budget` seconds have passed (or `max_steps` steps); returns (steps, seconds)."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n = (len(train_ids) - 1) // BATCH  # characters per stream
    x_all, y_all = train_ids[: BATCH * n].view(BATCH, n), train_ids[1: BATCH * n + 1].view(BATCH, n)
    pos, state, steps = 0, None, 0
    model.train()
    start = time.perf_counter()
    while time.perf_counter() - start < budget and (max_steps is None or steps < max_steps):
        if pos + SEQ > n:  # the end of the streams: from the beginning, with a fresh state
            pos, state = 0, None
        x, y = x_all[:, pos:pos + SEQ], y_all[:, pos:pos + SEQ]
        pos += SEQ
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)  # truncated BPTT: keep the state, not its graph
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        steps += 1
    return steps, time.perf_counter() - start


@torch.no_grad()
def evaluate(model: ReferenceLSTM, val_ids: torch.Tensor) -> tuple[float, int]:
    """Mean cross-entropy (nats/char) over all of `val_ids` (N,), and how many characters it scored."""
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in eval_streams(val_ids, EVAL_STREAMS, SEQ):
        logits, state = model(x, state)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
        count += y.numel()
    return total / max(count, 1), count


def run(corpus: Path, budget: float, seed: int = 0, max_steps: int | None = None) -> Result:
    """Read `corpus` as charrnn does, train the reference for `budget` seconds, score all the held-out text."""
    text = open_corpus(corpus)
    train_ids, val_ids = split(text.ids.long(), 0.1, seq_len=SEQ)
    torch.manual_seed(seed)
    model = ReferenceLSTM(len(text.vocab))
    steps, seconds = train(model, train_ids, budget, max_steps)
    began = time.perf_counter()
    val_loss, val_chars = evaluate(model, val_ids)
    return Result(val_loss, val_chars, steps, steps * BATCH * SEQ, seconds, steps * BATCH * SEQ / max(seconds, 1e-9),
                  time.perf_counter() - began, sum(p.numel() for p in model.parameters()), torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("--budget", type=float, required=True, help="seconds of training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, as a user gets)")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.corpus, args.budget, args.seed)
    if not math.isfinite(result.val_loss):
        print(f"reference: the loss is {result.val_loss}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1))
    print(f"reference LSTM: {result.steps} steps, {result.chars_per_sec:,.0f} chars/s, {result.threads} thread(s), "
          f"fp32, val {result.val_loss:.4f} nats/char on {result.val_chars:,} held-out characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
