"""The command line: `python -m charrnn train | sample | models`. The only module that prints.

Model and training flags are generated from the config dataclasses, so a new model option is a
new flag without touching this file (`--n-hidden` sets `n_hidden`: one vocabulary everywhere).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path

from . import checkpoint
from .bundle import Bundle
from .checkpoint import CheckpointError
from .corpus import CorpusError, Vocab, corpus_stats, read_text, split
from .models import MODELS, UnknownModel, build_model, make_config
from .presets import preset
from .sample import next_char_probs, stream
from .train import TrainConfig, TrainingError, run_progress, train

# TrainConfig fields set by their own flags or not meant for the command line
_OWN_TRAIN_FLAGS = {"time_budget", "max_steps", "seed", "sample_every", "sample_length"}


def _model_fields() -> dict[str, object]:
    """Every option of every registered model, with an example default (for the flag's type)."""
    out: dict[str, object] = {}
    for cls in MODELS.values():
        for f in fields(cls.Config):
            out.setdefault(f.name, f.default if f.default is not MISSING else None)
    return out


def _add_dataclass_flags(parser: argparse.ArgumentParser, items: dict[str, object], title: str) -> None:
    group = parser.add_argument_group(title)
    for name, default in items.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = type(default) if isinstance(default, int | float | str) else str
            if name in ("time_budget", "threads", "max_steps"):
                kind = float if name == "time_budget" else int
            group.add_argument(flag, type=kind, default=None, metavar=name.upper())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="charrnn", description="Train character-level language models.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a text file")
    t.add_argument("corpus", help="a UTF-8 text file")
    t.add_argument("--model", choices=list(MODELS), help="architecture (default: lstm)")
    limit = t.add_mutually_exclusive_group()
    limit.add_argument("--time-budget", type=float, metavar="SEC", help="train for this many seconds (default 60)")
    limit.add_argument("--max-steps", type=int, metavar="N", help="train for this many steps")
    t.add_argument("--out", help="checkpoint to write (default: CORPUS-MODEL.safetensors here)")
    t.add_argument("--resume", metavar="CHECKPOINT", help="continue training this checkpoint")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--metrics-json", metavar="FILE", help="write final figures and the loss history here")
    t.add_argument("--val-fraction", type=float, default=0.1, help="held-out share at the end (default 0.1)")
    t.add_argument("--ascii-fold", action="store_true", help="transliterate Latin text to ASCII (unidecode)")
    t.add_argument("--latin1", action="store_true", help="read bytes that are not UTF-8 as Latin-1")
    t.add_argument("--sample-every", type=float, default=0.0, metavar="SEC", help="print a sample this often")
    t.add_argument("--weights-only", action="store_true", help="write a smaller file without optimizer state")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dataclass_flags(t, _model_fields(), "model options (each applies to the models that have it)")
    _add_dataclass_flags(t, {f.name: f.default for f in fields(TrainConfig) if f.name not in _OWN_TRAIN_FLAGS},
                         "training options (defaults come from the preset for the model and corpus)")

    s = sub.add_parser("sample", help="write text with a trained model")
    s.add_argument("checkpoint")
    s.add_argument("--prompt", default="")
    s.add_argument("--length", type=int, default=500)
    s.add_argument("--temperature", type=float, default=0.8, help="0 = always the likeliest character")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--probs", action="store_true", help="print the next-character distribution instead")

    sub.add_parser("models", help="list the architectures")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "models": cmd_models}[args.command](args)
    except (CorpusError, CheckpointError, TrainingError, UnknownModel, OSError) as e:
        print(f"charrnn: error: {e}", file=sys.stderr)
        return 2


def cmd_models(args) -> int:
    for name, cls in MODELS.items():
        options, _ = preset(name, 1_000_000)
        model = build_model(name, 65, make_config(name, **options))
        print(f"{name:14} {model.num_params():>10,} params  {cls.title}")
        print(f"{'':14} {cls.description}\n")
    return 0


def cmd_train(args) -> int:
    text = read_text(args.corpus, latin1_fallback=args.latin1, ascii_fold=args.ascii_fold)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    if args.resume:
        bundle = checkpoint.load(args.resume)
        if args.model and args.model != bundle.model_name:
            raise TrainingError(f"--resume holds a {bundle.model_name!r} model, not {args.model!r}")
        vocab = bundle.vocab
        missing = vocab.unknown(text)
        if missing:
            raise CorpusError("the corpus has characters the checkpoint's vocabulary lacks: "
                              f"{''.join(missing[:10])!r}")
        name = bundle.model_name
    else:
        vocab, name = Vocab.from_text(text), args.model or "lstm"
    budget = None if args.max_steps else (args.time_budget or 60.0)
    options, config = preset(name, len(text), budget, args.max_steps)
    config = TrainConfig(**{**asdict(config), **{k: v for k, v in overrides.items() if k in asdict(config)},
                            "time_budget": budget, "max_steps": args.max_steps,
                            "sample_every": args.sample_every})
    # --resume without a new budget continues the interrupted run exactly (same schedule and data);
    # with one, or when the last run had finished, a new run starts from the weights and moments.
    saved = bundle.train_config if args.resume else None
    resume = (saved is not None and args.time_budget is None and args.max_steps is None
              and run_progress(saved, bundle.run_step, bundle.run_seconds) < 1)
    if resume:
        config = replace(saved, sample_every=args.sample_every)
    if not args.resume:
        model_config = make_config(name, **{**options, **overrides})
        bundle = Bundle(build_model(name, len(vocab), model_config, seed=args.seed), vocab, name)
    train_ids, val_ids = split(vocab.encode(text), args.val_fraction, seq_len=config.seq_len)
    out = Path(args.out or f"{Path(args.corpus).stem}-{name}.safetensors")
    stats = corpus_stats(text)
    _err(f"{name}: {bundle.model.num_params():,} params · {stats.n_chars:,} chars, vocabulary {stats.vocab_size} · "
         f"uniform guess {stats.uniform_loss:.2f}, unigram {stats.unigram_entropy:.2f} nats/char")

    last, interrupted = None, False
    bar = _progress_bar(config, args.quiet)
    events = train(bundle, train_ids, val_ids, config, resume=resume)
    try:
        for last in events:
            if bar is not None:
                bar.n = min(round(last.elapsed), config.time_budget) if config.time_budget else bundle.run_step
                bar.set_postfix_str(_postfix(last, bundle))
                bar.refresh()
            if last.sample:
                _err("\n--- sample ---\n" + last.sample + "\n--------------")
    except KeyboardInterrupt:
        interrupted = True
        events.close()  # the model keeps the weights it reached
    finally:
        if bar is not None:
            bar.close()
    if last is not None and last.message:
        _err(last.message)
    checkpoint.save(out, bundle, weights_only=args.weights_only)
    val = bundle.val_loss
    val_text = (f"validation loss {val:.4f} nats/char ({val / math.log(2):.3f} bits/char)" if val is not None
                else "validation loss not measured yet")
    print(f"{'stopped' if interrupted else 'done'}: {bundle.step} steps, {bundle.chars_seen:,} chars, "
          f"{bundle.seconds:.0f} s, {val_text} → {out}")
    if args.metrics_json:
        Path(args.metrics_json).write_text(json.dumps(_metrics(bundle, config, stats), indent=1))
    return 130 if interrupted else (1 if last is not None and last.stop_reason == "diverged" else 0)


def cmd_sample(args) -> int:
    bundle = checkpoint.load(args.checkpoint)
    if args.length < 0 or args.length > 1_000_000:
        raise TrainingError("--length must be between 0 and 1,000,000")
    if args.probs:
        for ch, p in next_char_probs(bundle.model, bundle.vocab, args.prompt, args.temperature, args.top_k)[:20]:
            print(f"{ch!r:>6} {p:7.2%} {'█' * round(p * 50)}")
        return 0
    bundle.vocab.encode(args.prompt)  # unknown characters: a clear error before anything is printed
    sys.stdout.write(args.prompt)
    for ch in stream(bundle.model, bundle.vocab, args.prompt, args.length, args.temperature, args.top_k, args.seed):
        sys.stdout.write(ch)
    sys.stdout.write("\n")
    return 0


def _metrics(bundle: Bundle, config: TrainConfig, stats) -> dict:
    h = bundle.history
    return {
        "model": bundle.model_name,
        "params": bundle.model.num_params(),
        "steps": bundle.step,
        "train_chars": bundle.chars_seen,
        "seconds": round(bundle.seconds, 3),
        "chars_per_sec": round(bundle.chars_seen / max(bundle.seconds, 1e-9), 1),
        "val_loss": bundle.val_loss,
        "train_loss": h.train_loss[-1] if h.train_loss else None,
        "vocab_size": stats.vocab_size,
        "corpus_chars": stats.n_chars,
        "unigram_entropy": stats.unigram_entropy,
        "model_config": bundle.model.config.to_dict(),
        "train_config": asdict(config),
        "history": {"step": h.step, "chars": h.chars, "train_loss": h.train_loss,
                    "val_step": h.val_step, "val_chars": h.val_chars, "val_loss": h.val_loss},
    }


def _progress_bar(config: TrainConfig, quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    if config.time_budget:
        return tqdm(total=config.time_budget, unit="s", file=sys.stderr, dynamic_ncols=True,
                    bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s{postfix}")
    return tqdm(total=config.max_steps, unit="step", file=sys.stderr, dynamic_ncols=True)


def _postfix(ev, bundle: Bundle) -> str:
    val = bundle.val_loss
    return (f"step {ev.step} loss {ev.train_loss:.3f} val {val:.3f} {ev.chars_per_sec:,.0f} chars/s"
            if val is not None else f"step {ev.step} loss {ev.train_loss:.3f} {ev.chars_per_sec:,.0f} chars/s")


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
