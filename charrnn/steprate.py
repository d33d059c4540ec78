"""How long one training step takes on this machine, measured: what a time budget buys in updates.

    step_seconds(model_name, options, config, vocab_size) ─► seconds per training step (float)

The presets (`charrnn.presets`) turn a time budget into a number of steps, and steps into passes over the
text, with this figure instead of a table of speeds written down on one machine (this project's own CPU
trained the default LSTM at 43,000 chars/s on two threads when the table was written, at ~97,000 on one
a few weeks later). It times real training steps — forward, backward, gradient clipping and a fused
AdamW step — of the network the preset would build, on random characters, with the run's batch size,
sequence length and precision, on one torch thread (the command line's choice for the recurrent layers
and the app's for every run, `charrnn.threads`), after two untimed steps (oneDNN's and autocast's first
call). The median of `TIMED` steps is kept: one disturbed step does not move it.

Measured once per process for each network and kept (`functools.cache`): the first plan of a process pays
~0.1-0.3 s for the default LSTM, before its run's clock starts (a plan is made before training begins, so
the measurement never comes out of a time budget), and later plans reuse the figure. A step budget
(`max_steps`) needs no measurement at all: its steps are known, so its plan is the same on every machine
and every call (the golden runs, `--plan` with `--max-steps`, tests). A time budget's plan can differ
between machines and, near a boundary of the preset's rows, between two processes on a busy machine:
that is what "what this machine buys in 60 s" means.
"""

from __future__ import annotations

import functools
import math
import statistics
import time

import torch

from .models import build_model, make_config
from .train import TrainConfig, lm_loss, resolve_precision

WARMUP = 2  # untimed steps: the first calls allocate and pick kernels
TIMED = 7  # timed steps; their median is the figure


def step_seconds(model_name: str, options: dict, config: TrainConfig, vocab_size: int = 65) -> float:
    """Seconds one training step of `model_name` with model `options` takes here, at the `config`'s batch
    size, sequence length and precision, on one CPU thread (median of `TIMED` steps; cached per process).

    Raises TypeError or ValueError (from `make_config`) for options the model does not have."""
    key = tuple(sorted(options.items()))
    return _measured(model_name, key, config.batch_size, config.seq_len, config.precision, vocab_size)


@functools.cache
def _measured(model_name: str, options: tuple, batch_size: int, seq_len: int, precision: str,
              vocab_size: int) -> float:
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)  # neither the global stream nor a run's is touched
        state = generator.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model(model_name, vocab_size, make_config(model_name, **dict(options)), seed=0)
        generator.set_state(state)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        ids = torch.randint(vocab_size, (batch_size, seq_len + 1), generator=generator)
        x, y = ids[:, :-1], ids[:, 1:]
        bf16 = resolve_precision(precision, torch.device("cpu")) == "bf16"
        times = []
        for i in range(WARMUP + TIMED):
            t0 = time.perf_counter()
            with torch.random.fork_rng(devices=[]), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits, _ = model(x, None)
            loss = lm_loss(logits, y)
            model.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf)
            opt.step()
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        torch.set_num_threads(old_threads)
