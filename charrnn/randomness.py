"""Randomness owned by one run, never torch's process-wide generator shared with every other tab.

    RunRandom.seeded(seed)             a run's own generator, seeded: `TrainConfig.seed`
    RunRandom.from_state(state)        …where a saved run left it (`Bundle.rng_state`, in the checkpoint)
    with run_random.drawing(device):   code that can only draw from torch's global generator draws from the run's
    run_random.state()                 (N,) uint8: what a checkpoint keeps so that a resume draws the same
    seeded_globally(seed)              construction (weight init) under the global generator seeded, then put back
    draws_at_random(model)             whether training it draws at all (any dropout above 0)

Sampling and batching take a `torch.Generator` of their own (`sample.generate`, `batching`). Dropout cannot:
`nn.Dropout`, the dropout between `nn.LSTM` layers and attention's `dropout_p` draw from the default
generator, which every thread of a server shares. Two runs (or a run and another tab's `build_model`) would
interleave their draws: neither run would be repeatable, and a resumed run would not continue exactly.
`drawing` swaps the run's state in for the block, under one process-wide lock, and takes the advanced state
back. On the CPU that is the state itself: `RunRandom.seeded(s)` draws exactly what `torch.manual_seed(s)`
before the run drew, so seeded runs keep their numbers. On another device the device's generator is
seeded from the run's at every block: the run's state alone still decides every mask.

Code that draws from the global generator without this lock while a run's block runs would take numbers from
that run; nothing in charrnn does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

_GLOBAL = threading.RLock()  # held while torch's global generator holds a run's state (or a construction's seed)


class RunRandom:
    """One run's random stream (CPU mt19937, as torch's default generator)."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    @classmethod
    def seeded(cls, seed: int) -> RunRandom:
        return cls(torch.Generator().manual_seed(seed))

    @classmethod
    def from_state(cls, state: torch.Tensor) -> RunRandom:
        """ValueError for a state torch's generator cannot take (wrong size or dtype)."""
        g = torch.Generator()
        try:
            g.set_state(state.to(torch.uint8).cpu())
        except RuntimeError as e:
            raise ValueError(f"not a random generator's state: {str(e).splitlines()[0]}") from None
        return cls(g)

    def state(self) -> torch.Tensor:
        """(5056,) uint8 for torch's mt19937: the whole stream's position."""
        return self.generator.get_state()

    @contextlib.contextmanager
    def drawing(self, device: torch.device | str = "cpu") -> Iterator[None]:
        """Within the block, torch's global generator (for `device`) is this run's; other runs wait."""
        device = torch.device(device)
        on_cpu = device.type == "cpu"
        with _GLOBAL, torch.random.fork_rng(devices=[] if on_cpu else [device],
                                            device_type="cuda" if on_cpu else device.type):
            if on_cpu:
                torch.set_rng_state(self.generator.get_state())
            else:  # the device's own generator, seeded from the run's: one draw of the run's per block
                seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
                getattr(torch, device.type).manual_seed(seed)
            try:
                yield
            finally:
                if on_cpu:
                    self.generator.set_state(torch.get_rng_state())


@contextlib.contextmanager
def seeded_globally(seed: int) -> Iterator[None]:
    """Torch's global generator seeded for the block (a model's constructor draws its initial weights from it),
    the caller's state put back after; never while a run's `drawing` block holds it."""
    with _GLOBAL, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def draws_at_random(model: torch.nn.Module) -> bool:
    """Whether training `model` draws from torch's global generator: any dropout above 0 — an `nn.Dropout`,
    the dropout between `nn.RNN`/`GRU`/`LSTM` layers, or a module's own `dropout` rate (attention's dropout_p).
    A run of a model that draws nothing need not take the lock."""
    for m in model.modules():
        rate = m.p if isinstance(m, torch.nn.Dropout) else getattr(m, "dropout", 0)
        if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0:
            return True
    return False
