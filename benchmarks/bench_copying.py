"""Benchmark: memory and speed of the copied-span detector (`charrnn/copying.py`) on a corpus.

    python benchmarks/bench_copying.py ../shared/data/tinyshakespeare.txt [--min-len 12] [--compare]

Builds a `CopyIndex` of the whole text and prints its size (bytes per training character), the build
time and the build's peak memory (growth of the process's maximum resident set), then times queries
of 2,000-character samples: half copied from the text in pieces of 10-60 characters, half random
letters. `--compare` also measures the alternatives the module's docstring weighs: a Python set of the
window strings, a Python set of their `hash()` values, and (if `pydivsufsort` is installed) a suffix
array of the UTF-8 bytes.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from charrnn.copying import CopyIndex  # noqa: E402


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def make_sample(text: str, length: int, rng: random.Random) -> str:
    """`length` characters alternating pieces of `text` (10-60 chars) and random letters."""
    out: list[str] = []
    while sum(map(len, out)) < length:
        size = rng.randint(10, 60)
        if len(out) % 2 == 0:
            start = rng.randrange(len(text) - size)
            out.append(text[start : start + size])
        else:
            out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(size)))
    return "".join(out)[:length]


def _python_set_bytes(text: str, k: int, of_hashes: bool) -> int:
    tracemalloc.start()
    windows = (text[i : i + k] for i in range(len(text) - k + 1))
    index = {hash(w) for w in windows} if of_hashes else set(windows)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del index
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--min-len", type=int, default=12)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app on 2 cores uses 1)")
    parser.add_argument("--compare", action="store_true", help="also measure the alternatives")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = args.corpus.read_text(encoding="utf-8")
    n = len(text)

    rss_before = _max_rss_mb()
    start = time.perf_counter()
    index = CopyIndex(text, args.min_len)
    build_s = time.perf_counter() - start
    peak_mb = _max_rss_mb() - rss_before
    print(f"text: {n:,} chars; {index.nbytes // 8:,} distinct {args.min_len}-char windows")
    print(f"index: {index.nbytes / 2**20:.1f} MiB = {index.nbytes / n:.2f} bytes/char; "
          f"build {build_s:.2f} s, peak memory growth {peak_mb:.0f} MiB = {peak_mb * 2**20 / n:.1f} bytes/char")

    rng = random.Random(0)
    samples = [make_sample(text, 2_000, rng) for _ in range(args.queries)]
    times, shares = [], []
    for sample in samples:
        start = time.perf_counter()
        shares.append(index.copied_share(sample))
        times.append(time.perf_counter() - start)
    print(f"query of 2,000 chars: median {statistics.median(times) * 1e3:.2f} ms, "
          f"max {max(times) * 1e3:.2f} ms over {len(times)}; copied share median {statistics.median(shares):.2f}")

    if args.compare:
        for name, of_hashes in (("set of window strings", False), ("set of hash(window)", True)):
            size = _python_set_bytes(text, args.min_len, of_hashes)
            print(f"{name}: {size / 2**20:.0f} MiB = {size / n:.0f} bytes/char")
        try:
            import numpy as np
            from pydivsufsort import divsufsort
        except ImportError:
            print("suffix array: pydivsufsort not installed")
            return
        data = np.frombuffer(bytearray(text.encode("utf-8")), dtype=np.uint8)
        start = time.perf_counter()
        sa = divsufsort(data)
        print(f"suffix array (pydivsufsort): {(sa.nbytes + data.nbytes) / n:.1f} bytes/char with the UTF-8 text, "
              f"build {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
