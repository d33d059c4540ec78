"""The cache file of a corpus's ids: where it goes, when it is reused, how it is written and mapped.

    .CORPUS.charrnn.ids beside the corpus   (or $XDG_CACHE_HOME/charrnn/, else ~/.cache/charrnn/, where
                                             the corpus's folder is read-only or full)
    ┌────────────┬──────────┬────────────────────────┬─────────┬──────────────────────────────┐
    │ MAGIC (16) │ len (u32)│ header (JSON)          │ padding │ ids (N × 1 or 4 bytes, LE)   │
    └────────────┴──────────┴────────────────────────┴─────────┴──────────────────────────────┘
                                                        ids start at a multiple of 64 bytes

The header holds the key — the corpus's size, modification time and a hash of its first and last
megabyte, the read options and FORMAT — with the vocabulary, each character's count and N. A file is
used only if its key equals the corpus's now and its length is exactly what the header says; anything
else (another version, a truncated or half-written file, a changed corpus) is rebuilt, never trusted.
It is written under another name and renamed into place, so a reader sees a whole file or none; a
lock on the corpus (flock, where the system has it) lets one process build while the others wait and
then map what it built (torchrun starts several at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import CorpusError, _size
from .textstream import Scan

FORMAT = 1  # bump when the layout or the text rules change: older files are then rebuilt
MAGIC = b"charrnn ids\n\x00\x00\x00\x01"
_ALIGN = 64
_KEY_SPAN = 1024**2  # bytes hashed at each end of the corpus
_DISK_SPARE = 64 * 1024**2  # left free on a disk after writing a cache there


@dataclass
class Mapped:
    """A cache file's contents: vocabulary, counts and the ids, memory-mapped (N,) uint8 or int32."""

    chars: str
    counts: list[int]
    ids: np.ndarray
    path: Path
    built: bool = False


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/charrnn, else ~/.cache/charrnn."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~").expanduser() / ".cache")
    return Path(base) / "charrnn"


def places(path: Path, options: dict) -> list[Path]:
    """Where the cache of `path` read with `options` may be, in order of preference."""
    tag = "".join(f"-{k.split('_')[0]}" for k, v in sorted(options.items()) if v)  # -ascii, -latin1
    beside = path.parent / f".{path.name}.charrnn{tag}.ids"
    where = hashlib.blake2b(str(path.resolve()).encode(), digest_size=8).hexdigest()
    return [beside, user_cache_dir() / f"{path.name}-{where}.charrnn{tag}.ids"]


def key(path: Path, options: dict) -> dict:
    st = path.stat()
    with path.open("rb") as f:
        head = f.read(_KEY_SPAN)
        f.seek(max(0, st.st_size - _KEY_SPAN))
        tail = f.read(_KEY_SPAN)
    return {"format": FORMAT, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "head": hashlib.blake2b(head, digest_size=16).hexdigest(),
            "tail": hashlib.blake2b(tail, digest_size=16).hexdigest(), **options}


def cached(path: Path, options: dict, scan: Callable[[], Scan], encode: Callable[[Scan], Iterable[np.ndarray]]
           ) -> Mapped:
    """The ids of `path`: from a valid cache file, or built now (`scan` then `encode`, under a lock).
    Raises CorpusError when no place has room for them, or when the corpus keeps changing."""
    for _ in range(3):
        want = key(path, options)
        for place in places(path, options):
            if (found := load(place, want)) is not None:
                return found
        with _locked(path):
            for place in places(path, options):  # another process may have built it while we waited
                if (found := load(place, want)) is not None:
                    return found
            s = scan()
            need = _data_offset(_header(s, want)) + s.n_chars * _itemsize(s)
            dest = _choose(places(path, options), need, s)
            write(dest, s, want, encode(s))
            if key(path, options) == want:  # unchanged while we read it
                mapped = load(dest, want)
                if mapped is not None:
                    mapped.built = True
                    return mapped
    raise CorpusError(f"{path.name} kept changing while it was read; try again once it is complete.")


def private(dest: Path, scan: Scan, parts: Iterable[np.ndarray]) -> Mapped:
    """A cache file for text that has no file of its own (standard input): written, mapped, removed
    (the mapping stays valid on POSIX systems; elsewhere the file stays in the temporary folder)."""
    _choose([dest], _data_offset(_header(scan, {})) + scan.n_chars * _itemsize(scan), scan)
    write(dest, scan, {}, parts)
    try:
        mapped = load(dest, {})
        if mapped is None:
            raise CorpusError(f"{scan.name}: the ids written to {dest} could not be read back.")
        mapped.built = True
        return mapped
    finally:
        with contextlib.suppress(OSError):
            dest.unlink()


def _itemsize(scan: Scan) -> int:
    return 1 if len(scan.chars) <= 256 else 4


def _header(scan: Scan, want: dict) -> bytes:
    return json.dumps({"key": want, "dtype": "uint8" if _itemsize(scan) == 1 else "int32", "n": scan.n_chars,
                       "chars": scan.chars, "counts": list(scan.char_counts), "encoding": scan.encoding}).encode()


def _data_offset(header: bytes) -> int:
    end = len(MAGIC) + 4 + len(header)
    return -(-end // _ALIGN) * _ALIGN


def write(dest: Path, scan: Scan, want: dict, parts: Iterable[np.ndarray]) -> None:
    """Write the cache file of `scan` with the ids `parts` under a temporary name, then rename it
    into place. Raises CorpusError when the disk fills up or the corpus changed between the passes."""
    header = _header(scan, want)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(MAGIC + len(header).to_bytes(4, "little") + header)
            f.write(b"\0" * (_data_offset(header) - f.tell()))
            n = 0
            for ids in parts:
                n += len(ids)
                if n > scan.n_chars:
                    break
                f.write(ids.astype(ids.dtype.newbyteorder("<"), copy=False).tobytes())
        if n != scan.n_chars:
            raise CorpusError(f"{scan.name} changed while it was read; try again once it is complete.")
        os.replace(tmp, dest)
    except OSError as e:
        raise CorpusError(f"cannot write the ids of {scan.name} to {dest.parent}: {e.strerror or e}. Free some "
                          "space there, or set XDG_CACHE_HOME to a folder on another disk.") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load(place: Path, want: dict) -> Mapped | None:
    """The cache file at `place` mapped, if it is whole and its key is `want`; else None."""
    try:
        with place.open("rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            length = int.from_bytes(f.read(4), "little")
            if length > 64 * 1024**2:
                return None
            raw = f.read(length)
        h = json.loads(raw)
        dtype = {"uint8": np.uint8, "int32": np.dtype("<i4")}[h["dtype"]]
        n, chars, counts = int(h["n"]), str(h["chars"]), [int(c) for c in h["counts"]]
        offset = _data_offset(raw)
        if (h["key"] != want or len(set(chars)) != len(chars) or len(counts) != len(chars) or sum(counts) != n
                or place.stat().st_size != offset + n * np.dtype(dtype).itemsize):
            return None
        # mode "c": a private, copy-on-write mapping (torch wants a writable array; nothing is written)
        ids = np.memmap(place, dtype=dtype, mode="c", offset=offset, shape=(n,)) if n else np.empty(0, dtype)
        return Mapped(chars, counts, ids, place)
    except (OSError, ValueError, KeyError, TypeError):  # unreadable, not JSON, fields missing: not a cache
        return None


def _choose(candidates: list[Path], need: int, scan: Scan) -> Path:
    """The first place whose folder is writable, with room for `need` bytes and the address space to map
    them; else CorpusError with the figures."""
    left = address_space_left()
    if left is not None and need > left:
        raise CorpusError(f"{scan.name} needs {_size(need)} of address space to map its ids ({scan.n_chars:,} "
                          f"characters), more than the {_size(max(left, 0))} this process has left (a 32-bit "
                          "Python, or a `ulimit -v`). Use a smaller excerpt, or raise the limit.")
    reasons = []
    for place in candidates:
        folder = place.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder.stat().st_mode & 0o222 and os.access(folder, os.W_OK)):  # read-only, even for root
                reasons.append(f"{folder} is read-only")
                continue
            free = shutil.disk_usage(folder).free
        except OSError as e:
            reasons.append(f"{folder}: {e.strerror or e}")
            continue
        if free < need + _DISK_SPARE:
            reasons.append(f"{folder} has {_size(free)} free")
            continue
        return place
    raise CorpusError(f"{scan.name} needs {_size(need)} on disk for its ids ({scan.n_chars:,} characters), and "
                      f"{_size(_DISK_SPARE)} left free; "
                      f"{'; '.join(reasons)}. Free some space, or set XDG_CACHE_HOME to a folder on a larger disk.")


def address_space_left() -> int | None:
    """Bytes this process may still map (None: no limit to speak of): RLIMIT_AS less what is mapped now,
    and 2 GB on a 32-bit Python."""
    left = None if sys.maxsize > 2**32 else 2**31
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            left = soft - used if left is None else min(left, soft - used)
    except (ImportError, OSError, ValueError):
        pass
    return left


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on the corpus file while its cache is built (released when the block ends)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the rename into place still keeps every file whole
        yield
        return
    with path.open("rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
