"""Several processes training one model (torchrun + DistributedDataParallel), and the one-process case.

    ranks = join(device)        in a process `torchrun` started, with WORLD_SIZE > 1: joins the process group
    ranks = ONE                 everywhere else (the app, the Python API, a plain `charrnn train`)

A `Ranks` is every point where the processes must agree, as plain values in, plain values out; for
`ONE` each is the identity, so the loop (`charrnn.loop`) reads the same either way:

    x[ranks.rows(B)]                       rank r trains on rows [r·B/N, (r+1)·B/N) of every global batch
    elapsed, reserve, asked = ranks.agree(…)  rank 0's clock decides the budget and the schedule; a stop
                                           asked on any rank (Ctrl-C, SIGTERM) stops them all at one step
    loss = ranks.mean(loss)                the global batch's loss: the same figure (and the same
                                           divergence decision) on every rank
    ranks.wrap(model)                      DDP for forward/backward only: gradients are averaged over the
                                           ranks during backward; everything else uses the raw module
    ranks.gather_state / local_state       the recurrent state of the global batch ⇄ this rank's rows

With equal rows per rank, the mean of the ranks' mean losses is the mean over the global batch and DDP's
averaged gradient is its gradient, so N processes train the same model as one process on the combined
batch (up to the order of floating-point sums). PyTorch: "Getting Started with Distributed Data Parallel"
and `torch.distributed.run` (torchrun) docs.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT = 300.0  # seconds a collective may wait for another rank (PyTorch's default: 30 minutes)


class DistributedError(RuntimeError):
    """The processes could not agree: a rendezvous that never completed, a rank that died or hung, a
    batch that does not split evenly across the ranks."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes training one model (rank 0 of 1: alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # its index on its machine: its GPU is cuda:local_rank

    @property
    def main(self) -> bool:
        """Rank 0: the one that prints, writes the metrics and the checkpoint."""
        return self.rank == 0

    @property
    def joined(self) -> bool:
        return self.world_size > 1

    def device(self, device: torch.device) -> torch.device:
        """Each rank's own GPU (cuda:LOCAL_RANK); a CPU stays a CPU."""
        return torch.device("cuda", self.local_rank) if self.joined and device.type == "cuda" else device

    def check_batch(self, batch_size: int) -> None:
        """DistributedError unless the global batch splits evenly: N processes equal one only then."""
        if batch_size % self.world_size:
            fits = [n for n in range(1, batch_size + 1) if batch_size % n == 0]
            raise DistributedError(f"the batch size {batch_size} does not split across {self.world_size} "
                                   f"processes; use a process count that divides it ({', '.join(map(str, fits))}) "
                                   f"or a batch size that is a multiple of {self.world_size}")

    def rows(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of `batch_size` rows: [r·B/N, (r+1)·B/N)."""
        self.check_batch(batch_size)
        per = batch_size // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)

    def shard(self, batches):
        """This rank's rows of every (x, y, reset) batch: (B, T) → (B/N, T)."""
        if not self.joined:
            yield from batches
            return
        for x, y, reset in batches:
            take = self.rows(len(x))
            yield x[take], y[take], reset

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around `model` for training steps (it broadcasts rank 0's weights now)."""
        if not self.joined:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [model.device.index] if model.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    # ── agreement, one small collective each ─────────────────────────────────────────────────────────

    def agree(self, elapsed: float, reserve: float, asked: bool) -> tuple[float, float, bool]:
        """Rank 0's `elapsed` and `reserve` (seconds), and whether any rank was asked to stop."""
        if not self.joined:
            return elapsed, reserve, asked
        mine = [elapsed, reserve] if self.main else [0.0, 0.0]
        t = self._reduce(torch.tensor(mine + [float(asked)], dtype=torch.float64))
        return float(t[0]), float(t[1]), bool(t[2] > 0)

    def mean(self, value: float) -> float:
        """The mean of `value` over the ranks (NaN on any rank: NaN everywhere)."""
        if not self.joined:
            return value
        return float(self._reduce(torch.tensor([value], dtype=torch.float64))[0]) / self.world_size

    def gather_objects(self, obj) -> list:
        """`obj` of every rank, in rank order (small things: counts of a chunk of text)."""
        if not self.joined:
            return [obj]
        out = [None] * self.world_size
        try:
            dist.all_gather_object(out, obj)
        except (RuntimeError, ValueError) as e:
            raise lost_peer(e) from None
        return out

    def gather_state(self, state, dims: list[int] | None):
        """The global batch's recurrent state from every rank's rows (concatenated along each part's batch
        dimension `dims`), for the checkpoint; None stays None."""
        if not self.joined or state is None or dims is None:
            return state
        parts = [state] if isinstance(state, torch.Tensor) else list(state)
        whole = []
        for part, dim in zip(parts, dims, strict=True):
            pieces = [torch.empty_like(part) for _ in range(self.world_size)]
            try:
                dist.all_gather(pieces, part.contiguous())
            except (RuntimeError, ValueError) as e:
                raise lost_peer(e) from None
            whole.append(torch.cat(pieces, dim))
        return whole[0] if isinstance(state, torch.Tensor) else type(state)(whole)

    def local_state(self, state, dims: list[int] | None):
        """This rank's rows of a saved global-batch state (a checkpoint resumed on any N dividing B)."""
        if not self.joined or state is None or dims is None:
            return state
        parts = [state] if isinstance(state, torch.Tensor) else list(state)
        mine = [p.narrow(d, self.rows(p.shape[d]).start, p.shape[d] // self.world_size).contiguous()
                for p, d in zip(parts, dims, strict=True)]
        return mine[0] if isinstance(state, torch.Tensor) else type(state)(mine)

    def _reduce(self, t: torch.Tensor) -> torch.Tensor:
        # nccl reduces tensors on the GPU; gloo on the CPU
        on = torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
        t = t.to(on)
        try:
            dist.all_reduce(t)
        except (RuntimeError, ValueError) as e:
            raise lost_peer(e) from None
        return t.cpu()


ONE = Ranks()


def launched() -> int:
    """The number of processes torchrun started for this run (WORLD_SIZE), 1 when not started by it."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def join(device: torch.device, timeout: float = DEFAULT_TIMEOUT) -> Ranks:
    """Join the process group torchrun set up (its RANK, WORLD_SIZE, MASTER_ADDR/PORT variables): nccl for
    a CUDA device, gloo for the CPU, each collective waiting at most `timeout` seconds. ONE where this
    process was not started as one of several. Only the CLI calls this: the app never joins a group.
    Raises DistributedError when the other processes do not arrive within `timeout`."""
    if launched() <= 1:
        return ONE
    ranks = Ranks(int(os.environ.get("RANK", "0")), launched(), int(os.environ.get("LOCAL_RANK", "0")))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ranks.local_rank)
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout), rank=ranks.rank,
                                world_size=ranks.world_size)
        dist.barrier()  # everyone arrived: a rendezvous that never completes fails here, within the timeout
    except (RuntimeError, ValueError) as e:
        leave()
        raise DistributedError(f"the {ranks.world_size} processes did not all join within {timeout:g} s "
                               f"({_first_line(e)}); check that every process was started") from None
    return ranks


def leave(together: bool = False) -> None:
    """Leave the process group, if this process joined one. `together`: first wait at a barrier until every
    rank is leaving (a run that ended normally), so no rank tears down its gloo threads while another still
    talks to it (seen: a rank aborting at exit, "terminate called without an active exception"); skipped after
    a failure, where a lost rank would keep the barrier waiting until the group's timeout."""
    if dist.is_available() and dist.is_initialized():
        if together:
            with contextlib.suppress(Exception):
                dist.barrier()
        dist.destroy_process_group()


def state_batch_dims(model: torch.nn.Module, seq_len: int = 1) -> list[int] | None:
    """Which dimension of each part of the model's carried state is the batch (None: it carries none),
    found by running it on a batch of 1 and of 2 (the way `checkpoint_check` recognises a saved state)."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            one = model(torch.zeros(1, 1, dtype=torch.long, device=model.device), None)[1]
            two = model(torch.zeros(2, 1, dtype=torch.long, device=model.device), None)[1]
    finally:
        model.train(was)
    if one is None:
        return None
    ones = [one] if isinstance(one, torch.Tensor) else list(one)
    twos = [two] if isinstance(two, torch.Tensor) else list(two)
    return [next(d for d, (a, b) in enumerate(zip(p.shape, q.shape, strict=True)) if a != b)
            for p, q in zip(ones, twos, strict=True)]


def lost_peer(e: BaseException) -> DistributedError:
    return DistributedError(f"another training process stopped answering ({_first_line(e)})")


def _first_line(e: BaseException) -> str:
    """The gist of a backend's error: its first line without gloo's "[path/to/pair.cc:537] " source prefix."""
    text = str(e).strip().splitlines()
    line = re.sub(r"^\[[^\]]*\]\s*", "", text[0]) if text else type(e).__name__
    return line.split(". ")[0][:200]


__all__ = ["DEFAULT_TIMEOUT", "ONE", "DistributedError", "Ranks", "join", "launched", "leave", "state_batch_dims"]
