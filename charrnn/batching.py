"""Batches of (B, T) character ids: random windows, or contiguous streams for truncated BPTT.

The ids may be stored compactly (uint8 or int32, memory-mapped: `charrnn.textstore`); every batch
leaves here as int64, the one type that indexes and embeds safely (a uint8 index is a boolean mask,
`nn.Embedding` refuses uint8/int16, and uint16 has no arithmetic in torch 2.13). Only the batch is
cast, never the whole corpus.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def _generator(seed: int, k: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + k)


def random_windows(data: torch.Tensor, batch_size: int, seq_len: int, seed: int = 0, start_step: int = 0
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
    """Endless (x, y, reset) triples of B windows at random offsets; y is x shifted left by one.

    For models without memory across batches (n-gram, MLP, transformer): every window stands alone,
    so `reset` is always True. Batch k depends only on (seed, k): a resumed run sees the same data.
    """
    n = len(data) - seq_len - 1
    span = torch.arange(seq_len)
    step = start_step
    while True:
        starts = torch.randint(0, n + 1, (batch_size, 1), generator=_generator(seed, step))
        idx = starts + span  # (B, T)
        yield data[idx].long(), data[idx + 1].long(), True  # (B, T) int64
        step += 1


class StreamBatcher:
    """B contiguous streams cut into T-long pieces, for truncated back-propagation through time.

    The text is folded into B rows, each row a contiguous stream (here B=4, T=3, text "abcd...x"):

        stream 0 │ a b c │ d e f │
        stream 1 │ g h i │ j k l │
        stream 2 │ m n o │ p q r │
        stream 3 │ s t u │ v w x │
                   batch 0  batch 1

    Batch k+1 continues batch k in every row, so the hidden state a recurrent model ends batch k
    with is the right state to start batch k+1 with: the model remembers across the cut, while
    gradients stop at it (the trainer detaches the state). Targets are the same columns shifted by
    one character. Each pass ("epoch") starts at a new random offset below T so the cuts move, and
    its first batch says `reset` so the trainer starts from a fresh state. Batch k depends only on
    (seed, k): a resumed run sees the same data.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int, seed: int = 0,
                 start_step: int = 0):
        if len(data) < batch_size * (seq_len + 1) + seq_len:
            batch_size = max(1, (len(data) - seq_len) // (seq_len + 1))  # tiny corpora: fewer streams
        self.data, self.batch_size, self.seq_len = data, batch_size, seq_len
        self.seed, self.start_step = seed, start_step

    def _epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        B, T = self.batch_size, self.seq_len
        slack = len(self.data) - 1 - B * T
        high = min(T - 1, slack)
        offset = int(torch.randint(0, high + 1, (1,), generator=_generator(self.seed, epoch))) if epoch else 0
        length = (len(self.data) - 1 - offset) // B  # characters per stream
        x_all = self.data[offset: offset + B * length].view(B, length)  # (B, L)
        y_all = self.data[offset + 1: offset + B * length + 1].view(B, length)  # y_all[b,t] follows x_all[b,t]
        return x_all, y_all, length // T

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
        T = self.seq_len
        epoch, skip = 0, self.start_step
        while True:
            x_all, y_all, n_pieces = self._epoch(epoch)
            if skip >= n_pieces:  # resuming: skip whole epochs without touching the data
                skip -= n_pieces
                epoch += 1
                continue
            for k in range(skip, n_pieces):
                yield x_all[:, k * T:(k + 1) * T].long(), y_all[:, k * T:(k + 1) * T].long(), k == 0  # (B, T)
            skip = 0
            epoch += 1


def eval_streams(data: torch.Tensor, n_streams: int, seq_len: int
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Cover `data` exactly once as contiguous streams (for validation); the tail that does not fill
    a whole piece is dropped, which at most is n_streams * seq_len characters."""
    n_streams = max(1, min(n_streams, (len(data) - 1) // seq_len))
    length = (len(data) - 1) // n_streams
    x_all = data[: n_streams * length].view(n_streams, length)
    y_all = data[1: n_streams * length + 1].view(n_streams, length)
    for t in range(0, length, seq_len):
        yield x_all[:, t:t + seq_len].long(), y_all[:, t:t + seq_len].long()  # (streams, ≤ seq_len) int64
