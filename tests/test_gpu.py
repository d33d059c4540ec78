"""The CUDA path: a few bf16-autocast steps of each gradient-trained family, a run moved CPU → GPU → CPU,
sampling on the GPU equal to the CPU's for the same weights, and DDP with nccl on two GPUs.

Marked `gpu`; skipped (saying why) where there is no CUDA device: `pytest -m gpu` on a GPU machine runs them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from charrnn import checkpoint
from charrnn.run import plan_run
from charrnn.sample import generate, next_char_probs

ROOT = Path(__file__).resolve().parents[1]
SANITY = ROOT / "examples_corpora" / "sanity.txt"
TEXT = SANITY.read_text()

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]


def trained(model: str, steps: int, **settings):
    plan = plan_run(TEXT, model, {"n_hidden": 64, "batch_size": 8, "dropout": 0, **settings}, max_steps=steps)
    bundle = plan.build()
    events = list(plan.train(bundle))
    return bundle, events


@pytest.mark.parametrize("model", ["lstm", "gru", "transformer"])
def test_a_few_bf16_autocast_steps_on_the_gpu(model):
    bundle, events = trained(model, 5, device="cuda", precision="bf16")
    assert bundle.model.device.type == "cuda"
    assert events[-1].done and events[-1].stop_reason == "max_steps"
    assert all(torch.isfinite(torch.tensor(e.train_loss)) for e in events)
    assert events[-1].val_loss is not None and events[-1].val_loss < 4.0  # a 20-character vocabulary: ln 20 ≈ 3.0


def test_a_run_moves_from_the_cpu_to_the_gpu_and_back(tmp_path):
    """An exact resume may change only where it runs: its state and moments follow it to each device."""
    plan = plan_run(TEXT, "lstm", {"n_hidden": 32, "batch_size": 8, "precision": "fp32", "device": "cpu"},
                    max_steps=9)
    bundle = plan.build()
    for leg, (where, stop) in enumerate([("cpu", 3), ("cuda", 6), ("cpu", None)]):
        if leg:  # the saved run, continued exactly where it stopped, on another device
            bundle = checkpoint.load(tmp_path / "run.safetensors")
            plan = plan_run(TEXT, None, {"device": where}, continue_from=bundle)
            assert plan.resume
        events = plan.train(bundle)
        for ev in events:
            assert bundle.model.device.type == where
            if ev.step == stop:
                break
        events.close()
        checkpoint.save(tmp_path / "run.safetensors", bundle)
    done = checkpoint.load(tmp_path / "run.safetensors")
    assert done.step == 9 and len(done.history.train_loss) == 9
    assert all(torch.isfinite(torch.tensor(done.history.train_loss)))


def test_sampling_on_the_gpu_equals_the_cpu_for_the_same_weights():
    bundle, _ = trained("lstm", 20, device="cpu", precision="fp32")
    cpu = bundle.model
    gpu = checkpoint.load(checkpoint.to_bytes(bundle)).model.to("cuda")
    for prompt in ("", "the ", TEXT[:50]):
        p_cpu = dict(next_char_probs(cpu, bundle.vocab, prompt, 1.0, None))
        p_gpu = dict(next_char_probs(gpu, bundle.vocab, prompt, 1.0, None))
        assert p_cpu.keys() == p_gpu.keys()
        assert max(abs(p_cpu[c] - p_gpu[c]) for c in p_cpu) < 1e-4
    # the draws use a CPU generator: equal probabilities (to ~1e-6) give the same characters
    assert generate(gpu, bundle.vocab, "the ", 100, 0.8, seed=7) == generate(cpu, bundle.vocab, "the ", 100, 0.8,
                                                                              seed=7)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP with nccl needs at least 2 GPUs")
def test_two_gpus_with_nccl_train_the_model_one_gpu_trains_on_the_combined_batch(tmp_path):
    args = [str(SANITY), "--max-steps", "4", "--batch-size", "8", "--n-hidden", "48", "--precision", "fp32",
            "--dropout", "0", "--device", "cuda", "--quiet"]
    torchrun = Path(sys.executable).parent / "torchrun"
    two = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "charrnn", "train", *args,
                          "--out", "two.safetensors"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    one = subprocess.run([sys.executable, "-m", "charrnn", "train", *args, "--out", "one.safetensors"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0 and one.returncode == 0, two.stderr + one.stderr
    a, b = checkpoint.load(tmp_path / "one.safetensors"), checkpoint.load(tmp_path / "two.safetensors")
    assert b.world_size == 2 and two.stdout.count("done:") == 1
    for name, w in a.model.state_dict().items():  # cuDNN's kernels differ with the batch: a looser tolerance
        torch.testing.assert_close(b.model.state_dict()[name], w, rtol=1e-3, atol=1e-4, msg=name)
