"""One self-contained `.safetensors` file per model: weights, vocabulary, configs, history.

    save(path, bundle) ⇄ load(path)

safetensors holds only tensors and a string→string metadata table, so loading a file can never
run code from it (unlike `pickle` / `torch.load` of arbitrary files): safe for user uploads.
Layout of a file:
    model.<name>           weights (the model's state_dict)
    optim.<i>.<key>        Adam moments per parameter       (full checkpoints only)
    rnn_state.<j>          recurrent state at the last batch (full checkpoints only)
    rng.state              (N,) uint8: the run's own random stream there (dropout masks; full checkpoints
                           only; absent in older files: a resume then draws from the seed)
    history.train          (N, 3) float64: step, chars seen, train loss
    history.val            (M, 3) float64: step, chars seen, validation loss
    history.train_seconds  (N,) float64: the model's own training seconds at each point (absent in older
    history.val_seconds    (M,) float64  files: read as NaN, unknown)
    metadata               format, format_version, model_name, model_config, train_config (JSON),
                           vocab, step, chars_seen, seconds, run_step, run_seconds,
                           world_size (processes the last run trained on; absent in older files: 1),
                           split (JSON: val_fraction, n_train, n_chars; absent in files written before it
                           was kept, and for models never trained through a plan)
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from . import checkpoint_check as checked
from .bundle import Bundle
from .checkpoint_check import MAX_HISTORY_ROWS, CheckpointError
from .corpus import Vocab
from .estimate import count_params
from .models import MODELS, build_model, make_config

FORMAT = "charrnn"
FORMAT_VERSION = 1
MAX_CHECKPOINT_BYTES = 200_000_000


def to_bytes(bundle: Bundle, *, weights_only: bool = False) -> bytes:
    """The checkpoint as bytes. weights_only leaves out what only resuming needs (Adam moments,
    recurrent state): about a third of the size, still enough to sample and to fine-tune."""
    tensors = {f"model.{k}": v.detach().cpu().clone().contiguous()
               for k, v in bundle.model.state_dict().items()}
    h = bundle.history
    tensors["history.train"] = torch.tensor(list(zip(h.step, h.chars, h.train_loss, strict=True)),
                                            dtype=torch.float64).reshape(-1, 3)
    tensors["history.val"] = torch.tensor(list(zip(h.val_step, h.val_chars, h.val_loss, strict=True)),
                                          dtype=torch.float64).reshape(-1, 3)
    tensors["history.train_seconds"] = torch.tensor([h.point(i)[2] for i in range(len(h.step))], dtype=torch.float64)
    tensors["history.val_seconds"] = torch.tensor([h.val_point(i)[2] for i in range(len(h.val_step))],
                                                  dtype=torch.float64)
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_name": bundle.model_name,
        "model_config": json.dumps(bundle.model.config.to_dict()),
        "train_config": json.dumps(asdict(bundle.train_config) if bundle.train_config else None),
        "vocab": json.dumps(bundle.vocab.chars),
        "step": str(bundle.step),
        "chars_seen": str(bundle.chars_seen),
        "seconds": repr(bundle.seconds),
        "run_step": str(bundle.run_step),
        "run_seconds": repr(bundle.run_seconds),
        "world_size": str(bundle.world_size),
        "rnn_state": "none",
        "optim_groups": "null",
    }
    if bundle.split is not None:
        meta["split"] = json.dumps(asdict(bundle.split))
    if not weights_only:
        if bundle.optimizer_state is not None:
            for i, st in bundle.optimizer_state["state"].items():
                for key, value in st.items():
                    tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
            meta["optim_groups"] = json.dumps(bundle.optimizer_state["param_groups"])
        state = bundle.rnn_state
        if state is not None:
            parts = [state] if isinstance(state, torch.Tensor) else list(state)
            for j, t in enumerate(parts):
                tensors[f"rnn_state.{j}"] = t.detach().cpu().contiguous()
            meta["rnn_state"] = "tensor" if isinstance(state, torch.Tensor) else "tuple"
        if bundle.rng_state is not None:
            tensors["rng.state"] = bundle.rng_state.detach().cpu().clone()
    return save_bytes(tensors, metadata=meta)


def save(path: str | Path, bundle: Bundle, *, weights_only: bool = False) -> Path:
    """Write the checkpoint to `path` (a file name; the folder must exist) and return `path`.

    Atomic: the bytes go to a temporary file of a unique name in the same folder, which then replaces
    `path` in one step, so a crash, a full disk or Ctrl-C leaves the old file (or none), never half
    of one, and the temporary file is removed on any error. Raises CheckpointError when `path` is a
    folder, its folder does not exist, or writing fails (the OSError is its __cause__).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; name a file in it, such as {path / 'model.safetensors'}")
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot save {path.name}: the folder {path.parent} does not exist")
    data = to_bytes(bundle, weights_only=weights_only)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    created = False
    try:
        # O_EXCL: a file of our own; mode 0o666 lets the umask decide, as for any other file
        # (mkstemp would make checkpoints readable by their owner only)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        created = True
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException as e:
        if created:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise CheckpointError(f"cannot save {path}: {e.strerror or e}") from e
        raise
    return path


def load(source: str | Path | bytes, *, max_bytes: int = MAX_CHECKPOINT_BYTES, max_params: int | None = None,
         max_history_rows: int | None = MAX_HISTORY_ROWS) -> Bundle:
    """A Bundle from a checkpoint path or its bytes, its tensors on the CPU.

    The saved train_config's device (e.g. "cuda") is kept as information only; moving the model is
    the caller's choice, so a checkpoint from a GPU loads on a CPU-only machine. Raises
    CheckpointError for a file that is not a charrnn checkpoint, is damaged or inconsistent, is
    larger than `max_bytes`, holds NaN/inf weights (training diverged, or the file was edited), or (with
    `max_params`, a server's limit) describes a larger model — decided from the header alone, before
    any tensor is read or any weight allocated. Every tensor and counter is checked against what the
    model config implies before anything runs on it (`checkpoint_check`: Adam moments, recurrent state,
    loss history of at most `max_history_rows` rows, None: no bound).
    """
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder, not a checkpoint file")
        if not path.is_file():
            raise CheckpointError(f"no such file: {path}")
        if path.stat().st_size > max_bytes:
            raise CheckpointError(f"{path.name} is larger than {max_bytes / 1024**2:.0f} MB: not a charrnn checkpoint")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise CheckpointError(f"the file is larger than {max_bytes / 1024**2:.0f} MB: not a charrnn checkpoint")
    try:
        meta = _metadata(data)
    except (ValueError, json.JSONDecodeError) as e:
        raise CheckpointError(f"not a readable .safetensors checkpoint (corrupt or truncated?): {e}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError("this .safetensors file was not written by charrnn (no charrnn metadata)")
    if max_params is not None:
        _check_size(meta, max_params)
    try:
        tensors = load_bytes(data)
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"not a readable .safetensors checkpoint (corrupt or truncated?): {e}") from None
    try:
        version = int(meta["format_version"])
        if version > FORMAT_VERSION:
            raise CheckpointError(f"checkpoint format {version} is newer than this charrnn "
                                  f"understands ({FORMAT_VERSION}); upgrade charrnn")
        name = meta["model_name"]
        if name not in MODELS:
            raise CheckpointError(f"unknown model {name!r} in the checkpoint")
        checked.check_tensor_names(tensors)
        vocab = Vocab(checked.check_vocab(json.loads(meta["vocab"])))
        config = make_config(name, **json.loads(meta["model_config"]))
        checked.check_fits(name, config, len(vocab), len(data))  # before the weights are allocated
        model = build_model(name, len(vocab), config)
        weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        checked.check_weights(model, weights)
        model.load_state_dict(weights, strict=True)
        train_config = checked.check_train_config(json.loads(meta["train_config"]))
        bundle = Bundle(model, vocab, name, train_config, checked.check_history(tensors, max_history_rows),
                        **checked.check_counters(meta), split=checked.check_split(meta))
        # NaN/inf Adam moments would diverge at the first step: the check keeps the weights, drops them
        bundle.optimizer_state = checked.check_optimizer(model, tensors, json.loads(meta["optim_groups"]))
        bundle.rnn_state = checked.check_state(model, tensors, meta["rnn_state"], train_config)
        bundle.rng_state = checked.check_rng(tensors)
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError, json.JSONDecodeError) as e:
        raise CheckpointError(f"the checkpoint is damaged or inconsistent: {str(e).splitlines()[0]}") from None
    return bundle


def _check_size(meta: dict[str, str], max_params: int) -> None:
    """Refuse, from the header alone, a model larger than `max_params` (counted on the "meta" device)."""
    try:
        name = meta["model_name"]
        options = json.loads(meta["model_config"])
        n = count_params(name, make_config(name, **options), len(json.loads(meta["vocab"])))
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"the checkpoint's header is damaged or describes an impossible model: "
                              f"{str(e).splitlines()[0]}") from None
    if n > max_params:
        sizes = ", ".join(f"{k}={v}" for k, v in options.items() if k in ("n_hidden", "n_layer", "n_embd"))
        raise CheckpointError(f"this checkpoint holds a {name} model with {n:,} parameters ({sizes}); this "
                              f"server allows at most {max_params:,}")


def _metadata(data: bytes) -> dict[str, str]:
    # the header is a little-endian u64 length, then that many bytes of JSON
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or n > len(data) - 8:
        raise ValueError("bad header length")
    header = json.loads(data[8:8 + n])
    return header.get("__metadata__") or {}


__all__ = ["CheckpointError", "load", "save", "to_bytes"]
