"""The training loop computes exactly what it computed when tests/data/golden_runs.json was written.

A seeded fp32 run with a step limit gives bit-identical losses, learning rates, gradient norms, samples,
stop reasons, weights and checkpoint tensors (see tests/golden.py, which wrote the file and runs the
same scenarios here). Floats differ across torch versions and CPU instruction sets, so the comparison
runs only where they match the fixture's and skips, saying which differs, elsewhere; regenerate the file
there with `python tests/golden.py` from a commit whose loop is trusted.
"""

from __future__ import annotations

import json

import golden
import pytest
import torch

FIXTURE = json.loads(golden.FIXTURE.read_text())


def _same_machine() -> str | None:
    here, there = golden.environment(), FIXTURE["environment"]
    differ = [f"{k} {there[k]} (fixture) vs {here[k]} (here)" for k in ("torch", "cpu_capability", "machine")
              if here[k] != there[k]]
    return "floats differ across machines: " + "; ".join(differ) if differ else None


@pytest.mark.parametrize("name", golden.names())
def test_a_seeded_run_is_bit_identical_to_the_golden_fixture(name):
    reason = _same_machine()
    if reason:
        pytest.skip(reason)
    torch.set_num_threads(1)
    want, got = FIXTURE["runs"][name], golden.run_scenario(name)
    assert got["events"] == want["events"]
    assert got["history"] == want["history"]
    assert got["weights"] == want["weights"]
    # everything the file held then is still there, unchanged (new entries may be added)
    assert {k: got["checkpoint_tensors"].get(k) for k in want["checkpoint_tensors"]} == want["checkpoint_tensors"]
    assert {k: got["checkpoint_metadata"].get(k) for k in want["checkpoint_metadata"]} == want["checkpoint_metadata"]
    assert (got["step"], got["chars_seen"], got["run_step"]) == (want["step"], want["chars_seen"], want["run_step"])
