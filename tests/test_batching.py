"""The TBPTT layout: batch k+1 continues batch k in every stream; targets are inputs shifted by one."""

import torch

from charrnn.batching import StreamBatcher, eval_streams, random_windows


def test_stream_batches_continue_each_other():
    data = torch.arange(1000)
    batches = iter(StreamBatcher(data, batch_size=4, seq_len=10, seed=0))
    x0, y0, reset0 = next(batches)
    x1, y1, reset1 = next(batches)
    assert x0.shape == (4, 10) and reset0 and not reset1
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # batch 1 starts where batch 0 stopped, in every stream
    assert torch.equal(y0, x0 + 1) and torch.equal(y1, x1 + 1)  # targets: the next character
    assert torch.equal(y0[:, -1], x1[:, 0])  # the last target of batch k is the first input of k+1


def test_epochs_move_the_cuts_and_reset():
    data = torch.arange(200)
    it = iter(StreamBatcher(data, batch_size=2, seq_len=10, seed=3))
    firsts = [next(it) for _ in range(27)]
    resets = [i for i, (_, _, r) in enumerate(firsts) if r]
    assert resets[:2] == [0, 9]  # 199 // 2 = 99 chars per stream → 9 pieces per epoch
    offsets = {int(firsts[i][0][0, 0]) for i in resets}
    assert len(offsets) > 1  # later epochs start at other offsets


def test_batches_depend_only_on_seed_and_step():
    data = torch.arange(5000)
    full = StreamBatcher(data, 4, 16, seed=7)
    resumed = StreamBatcher(data, 4, 16, seed=7, start_step=100)
    a = [b for _, b in zip(range(105), full, strict=False)][100:]
    b = [b for _, b in zip(range(5), resumed, strict=False)]
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    w1 = next(random_windows(data, 8, 16, seed=1, start_step=5))
    w2 = [w for _, w in zip(range(6), random_windows(data, 8, 16, seed=1), strict=False)][5]
    assert torch.equal(w1[0], w2[0]) and torch.equal(w1[1], w1[0] + 1)


def test_tiny_corpus_still_batches():
    x, y, _ = next(iter(StreamBatcher(torch.arange(50), batch_size=32, seq_len=8)))
    assert x.shape[1] == 8 and 1 <= x.shape[0] < 32


def test_eval_streams_cover_the_data_once():
    data = torch.arange(1001)
    seen = torch.cat([x.flatten() for x, _ in eval_streams(data, 4, 10)])
    assert len(seen) == 1000 and len(set(seen.tolist())) == 1000
