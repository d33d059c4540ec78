"""Install torch into this Python's environment: the CPU build unless an NVIDIA GPU is visible.

    .venv/bin/python scripts/install_torch.py            # run by scripts/start.sh and scripts/test.sh
    .venv/bin/python scripts/install_torch.py --dry-run  # print the pip command it would run; install nothing

Why: on Linux a plain `pip install torch` takes PyPI's CUDA build (about 6 GB with its nvidia-* packages)
even on a machine that has no GPU. PyTorch publishes CPU-only wheels on its own index; use it where it
answers, and never let a dead index stall an install (pip would wait up to 180 s per try, six tries).

    torch already installed           -> nothing (re-running start.sh stays fast; a build you chose stays)
    an NVIDIA GPU visible, or not
      Linux (PyPI's builds there are
      CPU/MPS builds already)         -> pip install "torch>=2.4"                  (PyPI: the CUDA build)
    PyTorch's CPU index answers in 3 s -> pip install "torch>=2.4" --index-url CPU_INDEX
    otherwise                         -> pip install torch==2.13.0  (what this machine's pip can reach;
                                         on this project's machines and CI a CPU wheel on local disk)

Installing requirements.txt afterwards keeps this torch: pip leaves an installed package that satisfies
the requirement's range. Environment: CHARRNN_GPU=1 / 0 overrides the GPU check; CHARRNN_TORCH_INDEX
replaces the CPU index ("none" skips it); CHARRNN_TORCH_FALLBACK replaces the fallback requirement.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

TORCH = "torch>=2.4"  # the same range as requirements.txt (a test checks)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FALLBACK = "torch==2.13.0"
PROBE_TIMEOUT = 3.0  # seconds; an index that has not answered by then is treated as unreachable


@dataclass(frozen=True)
class Plan:
    requirement: str
    index_url: str | None  # None: the pip configuration's own indexes (PyPI unless configured otherwise)
    reason: str

    def pip_args(self, python: str = sys.executable) -> list[str]:
        args = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", self.requirement]
        return args + (["--index-url", self.index_url] if self.index_url else [])


def gpu_visible(env: Mapping[str, str], proc_nvidia: Path = Path("/proc/driver/nvidia"),
                nvidia_smi: str | None = None) -> bool:
    """An NVIDIA GPU with a loaded driver: CHARRNN_GPU=1/0 if set, else /proc/driver/nvidia exists or
    `nvidia-smi -L` succeeds (a CUDA toolkit alone, e.g. nvcc, is not a GPU)."""
    flag = env.get("CHARRNN_GPU", "").strip()
    if flag in ("0", "1"):
        return flag == "1"
    if proc_nvidia.exists():
        return True
    smi = nvidia_smi or shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def index_answers(index_url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if the index's page for torch answers within `timeout` seconds (one try, no retries)."""
    try:
        with urllib.request.urlopen(f"{index_url.rstrip('/')}/torch/", timeout=timeout) as response:
            return response.status < 400
    except (OSError, ValueError):  # URLError, HTTPError, refused, DNS failure, time-out, bad URL
        return False


def plan(env: Mapping[str, str], *, gpu: bool, platform: str = sys.platform) -> Plan:
    """What to install, probing the CPU index only when it matters."""
    if gpu:
        return Plan(TORCH, None, "an NVIDIA GPU is visible: the CUDA build from PyPI")
    if not platform.startswith("linux"):
        return Plan(TORCH, None, f"{platform}: PyPI's torch is already a CPU build here")
    index = env.get("CHARRNN_TORCH_INDEX", CPU_INDEX).strip()
    if index and index != "none":
        started = time.monotonic()
        if index_answers(index):
            return Plan(TORCH, index, f"no NVIDIA GPU visible: the CPU build from {index}")
        why = f"{index} did not answer ({time.monotonic() - started:.1f} s)"
    else:
        why = "CHARRNN_TORCH_INDEX=none"
    fallback = fallback_requirement(env)
    return Plan(fallback, None, f"no NVIDIA GPU visible and {why}: {fallback} from pip's own indexes")


def fallback_requirement(env: Mapping[str, str]) -> str:
    return env.get("CHARRNN_TORCH_FALLBACK", "").strip() or FALLBACK


def installed_torch() -> str | None:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the pip command it would run, and why")
    args = parser.parse_args(argv)
    have = installed_torch()
    if have and not args.dry_run:
        return 0
    env = os.environ
    chosen = plan(env, gpu=gpu_visible(env))
    if args.dry_run:
        print(shlex.join(chosen.pip_args()))
        print(f"# {chosen.reason}" + (f"; torch {have} is already installed, so a real run does nothing" if have
                                       else ""))
        return 0
    print(f"installing torch: {chosen.reason}", file=sys.stderr)
    if subprocess.run(chosen.pip_args()).returncode == 0:
        return 0
    if chosen.index_url:  # the index answered the probe but the install failed: try pip's own indexes
        fallback = fallback_requirement(env)
        print(f"that failed; trying {fallback}", file=sys.stderr)
        return subprocess.run(Plan(fallback, None, "").pip_args()).returncode
    return 1


if __name__ == "__main__":
    sys.exit(main())
