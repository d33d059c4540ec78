"""Large corpora from the command line: how fast they are encoded, how soon training starts, how much
memory it takes, and whether a 60 s run ends on time.

    .venv/bin/python benchmarks/bench_corpus.py                    # 100 MB and 1 GB (≈ 6 min, ≈ 2.5 GB of disk)
    .venv/bin/python benchmarks/bench_corpus.py --sizes 100 --skip-60s

Each corpus is generated from ../shared/data/tinyshakespeare.txt (its lines shuffled, a new seed for every
1.1 MB block) into a temporary folder (--workdir; never the repository), and deleted at the end with its
cache file. For each size it prints:
- encode: the first pass (vocabulary) and the whole build (both passes, written to the cache file), MB/s
  of text, in this process;
- cold: `python -m charrnn train CORPUS --max-steps 5` with no cache yet — seconds from the command to the
  first training step (the metrics' first_step_seconds, from the process start) and the peak RSS;
- warm: the same with the cache in place;
- 60 s: `python -m charrnn train CORPUS --time-budget 60`, seconds from the command to its exit, and peak RSS.
Targets on the project's 2-core machine: 100 MB — first step ≤ 10 s, peak RSS ≤ 1.0 GB; 1 GB — trains,
peak RSS ≤ 1.5 GB; a 60 s run ≤ 65 s end to end. The load average is printed with the figures: on a shared
machine they are provisional.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import torch  # noqa: E402

from charrnn import textcache, textstore, textstream  # noqa: E402

SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def generate(path: Path, size_mb: int, seed: int = 0) -> int:
    """A text of about `size_mb` MB (1024²): tinyshakespeare's lines, shuffled anew for every block."""
    lines = SHAKESPEARE.read_bytes().splitlines(keepends=True)
    rng, n = np.random.default_rng(seed), 0
    with path.open("wb") as f:
        while n < size_mb * 1024**2:
            block = b"".join(lines[i] for i in rng.permutation(len(lines)))
            f.write(block)
            n += len(block)
    return n


def run(args: list[str], cwd: Path) -> dict:
    """One command: its wall-clock seconds, exit status, peak RSS (MB) and the tail of its output."""
    start = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "charrnn", *args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = p.stdout.read().decode()
    _, status, usage = os.wait4(p.pid, 0)  # this child's own peak RSS
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - start, "rc": p.returncode, "rss_mb": usage.ru_maxrss / 1024,
            "out": out.strip().splitlines()[-3:]}


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def bench(size_mb: int, workdir: Path, sixty: bool) -> None:
    corpus = workdir / f"shakespeare-{size_mb}mb.txt"
    t = time.perf_counter()
    n_bytes = generate(corpus, size_mb)
    print(f"\n== {size_mb} MB corpus: {n_bytes:,} bytes, generated in {time.perf_counter() - t:.1f} s · load {load()}")

    torch.set_num_threads(1)  # as open_corpus counts: memory-bound work, and a shared machine
    t = time.perf_counter()
    scan = textstream.scan(corpus)
    first = time.perf_counter() - t
    t = time.perf_counter()
    n = sum(len(ids) for ids in textstore._encoded(corpus, scan, textstream.CHUNK_BYTES))
    second = time.perf_counter() - t
    t = time.perf_counter()
    c = textstore.open_corpus(corpus, cache=True)
    build = time.perf_counter() - t
    print(f"encode: first pass (vocabulary) {n_bytes / first / 1e6:.0f} MB/s, second pass (ids through the lookup "
          f"table) {n_bytes / second / 1e6:.0f} MB/s; the whole build with the cache file written {build:.1f} s = "
          f"{n_bytes / build / 1e6:.0f} MB/s; {n:,} chars, vocabulary {len(scan.chars)}, ids {c.ids.dtype}")
    cache = c.cache
    del c
    cache.unlink()  # the CLI's first run builds it again: a cold start

    metrics = workdir / "m.json"
    for label in ("cold", "warm"):
        r = run(["train", str(corpus), "--max-steps", "5", "--quiet", "--out", str(workdir / "m.safetensors"),
                 "--metrics-json", str(metrics)], workdir)
        m = json.loads(metrics.read_text()) if r["rc"] == 0 else {}
        print(f"{label}: exit {r['rc']}, first step {m.get('first_step_seconds')} s from the command, "
              f"whole command {r['seconds']:.1f} s, peak RSS {r['rss_mb']:.0f} MB · load {load()}")
        if r["rc"]:
            print("\n".join(r["out"]))
    if sixty:
        r = run(["train", str(corpus), "--time-budget", "60", "--quiet", "--out", str(workdir / "m.safetensors"),
                 "--metrics-json", str(metrics)], workdir)
        m = json.loads(metrics.read_text()) if r["rc"] == 0 else {}
        print(f"60 s run: exit {r['rc']}, {r['seconds']:.1f} s end to end, first step {m.get('first_step_seconds')} s, "
              f"{m.get('steps')} steps, val_loss {m.get('val_loss')} ({m.get('val_kind')}), "
              f"peak RSS {r['rss_mb']:.0f} MB · load {load()}")
        print("\n".join(r["out"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1024], help="corpus sizes, MB (default 100 1024)")
    ap.add_argument("--workdir", type=Path, default=None, help="where to generate (default: a temporary folder)")
    ap.add_argument("--skip-60s", action="store_true", help="leave out the 60 s runs")
    args = ap.parse_args()
    if not SHAKESPEARE.is_file():
        sys.exit(f"{SHAKESPEARE} is missing (the shared data lives beside the repository)")
    workdir = Path(tempfile.mkdtemp(prefix="charrnn-bench-corpus-", dir=args.workdir))
    print(f"machine: {os.cpu_count()} CPUs · python {sys.version.split()[0]} · generated in {workdir} · "
          f"cache format {textcache.FORMAT}")
    try:
        for size in args.sizes:
            bench(size, workdir, not args.skip_60s)
            for p in workdir.iterdir():  # the corpus, its cache file and the outputs: gone before the next
                p.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
