"""The command line: `python -m charrnn train | sample | models`. The only module that prints.

Model and training flags are generated from the settings table (`charrnn.options`), so a new option
is a new flag without touching this file (`--n-hidden` sets `n_hidden`: one vocabulary everywhere).
A run is planned by `charrnn.run.plan_run`, the door the app and the API use too; every mistake a
user can make is one line on stderr and exit status 2.

Started by `torchrun` as one of several processes (WORLD_SIZE > 1), `train` joins their process group
(`charrnn.distributed`) and they train one model; rank 0 alone prints, writes the metrics and the
checkpoint. A signal stops every rank at the same step; a rank that dies or hangs is one line from rank 0
(its weights of the last whole step saved), exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

from . import checkpoint, steprate
from .bundle import Bundle
from .checkpoint import CheckpointError
from .corpus import CorpusError
from .distributed import DEFAULT_TIMEOUT, ONE, DistributedError, Ranks, join, launched, leave, lost_peer
from .inspect import diagnose_run, explain
from .models import MODELS, UnknownModel, build_model, make_config
from .options import MODEL_OPTIONS, OPTIONS, SettingError, check_sampling
from .presets import preset
from .run import DEFAULT_MODEL, DEFAULT_TIME_BUDGET, VAL_FRACTION, RunPlan, plan_rows, plan_run, prepare_output
from .sample import TEMPERATURE, fit_prompt, next_char_probs, resolve_seed, stream
from .schedule import run_progress
from .textstore import open_corpus
from .threads import default_threads
from .train import TrainConfig, TrainingError, pick_device

# TrainConfig fields set by their own flags or not meant for the command line
_OWN_TRAIN_FLAGS = {"time_budget", "max_steps", "seed", "sample_every", "sample_length"}
_RUN_ERRORS = (CorpusError, CheckpointError, TrainingError, SettingError, UnknownModel, OSError, DistributedError)


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and exit status 2 (not the whole usage text)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_option_flags(parser: argparse.ArgumentParser, names, title: str) -> None:
    """One flag per setting, named like the setting (`--n-hidden` sets n_hidden). Values stay strings
    here: the run plan checks them against `charrnn.options`, so the CLI says what the page says."""
    group = parser.add_argument_group(title)
    for name in names:
        opt = OPTIONS[name]
        flag = "--" + name.replace("_", "-")
        if opt.kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=opt.help or opt.label)
        else:
            allowed = opt.range_text() if opt.kind != "str" or opt.choices else ""
            text = "; ".join(t for t in (opt.help or opt.label, allowed) if t)
            group.add_argument(flag, default=None, metavar=name.upper(), help=text)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="charrnn", description="Train character-level language models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on a text file")
    t.add_argument("corpus", help="a text file (UTF-8) of any size that fits on disk, or - for standard input")
    t.add_argument("--model", choices=list(MODELS), help=f"architecture (default: {DEFAULT_MODEL})")
    limit = t.add_mutually_exclusive_group()
    limit.add_argument("--time-budget", metavar="SEC",
                       help=f"train for this many seconds (default {DEFAULT_TIME_BUDGET:g})")
    limit.add_argument("--max-steps", metavar="N", help="train for this many steps")
    t.add_argument("--out", help="checkpoint to write, or a folder for it (default: CORPUS-MODEL.safetensors here)")
    t.add_argument("--resume", metavar="CHECKPOINT", help="continue training this checkpoint")
    t.add_argument("--seed", default=None, help="random seed of the weights, batches and dropout (default 0)")
    t.add_argument("--metrics-json", metavar="FILE", help="write final figures and the loss history here")
    t.add_argument("--val-fraction", default=None, help=f"held-out share at the end (default {VAL_FRACTION:g})")
    t.add_argument("--ascii-fold", action="store_true", help="transliterate Latin text to ASCII (unidecode)")
    t.add_argument("--latin1", action="store_true", help="read bytes that are not UTF-8 as Windows-1252/Latin-1")
    t.add_argument("--sample-every", default=None, metavar="SEC", help="print a sample this often")
    t.add_argument("--weights-only", action="store_true", help="write a smaller file without optimizer state")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--plan", action="store_true",
                   help="print the resolved plan (every value, where it came from, why it was changed) and exit")
    t.add_argument("--dist-timeout", default=None, metavar="SEC",
                   help=f"under torchrun: how long a process waits for the others (default {DEFAULT_TIMEOUT:g})")
    _add_option_flags(t, list(MODEL_OPTIONS), "model options (each applies to the models that have it)")
    _add_option_flags(t, [f.name for f in fields(TrainConfig) if f.name not in _OWN_TRAIN_FLAGS],
                      "training options (defaults come from the preset for the model and corpus)")

    s = sub.add_parser("sample", help="write text with a trained model")
    s.add_argument("checkpoint")
    s.add_argument("--prompt", default="")
    s.add_argument("--length", default=500, help="characters to write (default 500)")
    s.add_argument("--temperature", default=TEMPERATURE,
                   help=f"0 = always the likeliest character (default {TEMPERATURE:g})")
    s.add_argument("--top-k", default=None)
    s.add_argument("--seed", default=None)
    s.add_argument("--probs", action="store_true", help="print the next-character distribution instead")

    sub.add_parser("models", help="list the architectures")
    return p


def main(argv: list[str] | None = None) -> int:
    _escape_what_the_terminal_cannot_show()
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    code = 1
    try:
        code = {"train": cmd_train, "sample": cmd_sample, "models": cmd_models}[args.command](args)
        return code
    except _RUN_ERRORS as e:
        if _speaks():
            print(f"charrnn: error{_rank_tag()}: {_as_typed(e, argv)}", file=sys.stderr)
        return 2
    finally:
        leave(together=code == 0)


def _as_typed(e: Exception, argv: list[str]) -> str:
    """The error, led by the flag the user typed when it refuses one ("--time-budget: time_budget must be …", as
    argparse leads its own refusals): the check's words are the page's and the API's, which name the setting,
    and a tester typing `--time-budget abc` read only `time_budget`. A setting no flag on the line gave (one
    from a checkpoint) keeps its name alone."""
    if isinstance(e, SettingError):
        flag = "--" + e.setting.replace("_", "-")
        if any(a == flag or a.startswith(flag + "=") for a in argv):
            return f"{flag}: {e}"
    return str(e)


def _speaks() -> bool:
    """Whether this process prints: alone, or rank 0 under torchrun; on another machine, its first process
    says what went wrong there (a missing file), the others are silent (their errors are rank 0's)."""
    return os.environ.get("RANK", "0") == "0" or os.environ.get("LOCAL_RANK", "0") == "0"


def _rank_tag() -> str:
    rank = os.environ.get("RANK", "0")
    return f" (rank {rank})" if launched() > 1 and rank != "0" else ""


def _escape_what_the_terminal_cannot_show() -> None:
    """A character the output's encoding lacks (an emoji on an ASCII terminal, PYTHONIOENCODING=ascii) is
    written as its escape (\\U0001f600) instead of ending the command with a UnicodeEncodeError. An error
    policy the user chose (PYTHONIOENCODING=ascii:ignore) is kept."""
    for out in (sys.stdout, sys.stderr):
        if getattr(out, "errors", None) == "strict" and hasattr(out, "reconfigure"):
            out.reconfigure(errors="backslashreplace")


def cmd_models(args) -> int:
    for name, cls in MODELS.items():
        options, _ = preset(name, 1_000_000)
        model = build_model(name, 65, make_config(name, **options))
        print(f"{name:14} {model.num_params():>10,} params  {cls.title}")
        print(f"{'':14} {cls.description}\n")
    return 0


def cmd_train(args) -> int:
    global _signal_received
    _signal_received = 0  # a signal of an earlier call in this process (main() called twice) is not this run's
    if launched() <= 1 or args.plan:
        return _train(args, ONE)
    # One of several processes torchrun started: one model together. From here on a signal only raises a
    # flag, so that rank 0 still says what went wrong when torchrun stops it because another rank failed.
    timeout = DEFAULT_TIMEOUT if args.dist_timeout is None else _seconds("dist_timeout", args.dist_timeout)
    ranks = join(pick_device(getattr(args, "device", None) or "auto"), timeout)
    with _stop_signals(ranks):
        return _train(args, ranks)


def _train(args, ranks: Ranks) -> int:
    # Read in pieces and kept as ids (memory-mapped, cached beside a large file): no size cap here
    corpus = open_corpus(args.corpus, latin1_fallback=args.latin1, ascii_fold=args.ascii_fold)
    bundle = checkpoint.load(args.resume) if args.resume else None
    name = bundle.model_name if bundle else (args.model or DEFAULT_MODEL)
    stem = "stdin" if args.corpus == "-" else Path(args.corpus).stem
    settings = {k: v for k, v in vars(args).items() if k in OPTIONS and v is not None}
    if args.sample_every is not None:
        settings["sample_every"] = args.sample_every
    default_out = f"{stem}-{name}.safetensors"
    if args.plan:  # nothing is written, not even the output folder (a large corpus's id cache aside)
        plan = plan_run(corpus, args.model, settings, time_budget=args.time_budget, max_steps=args.max_steps,
                        continue_from=bundle)
        _threads_for_the_machine(plan, settings)
        print(_describe_plan(plan, "stdin" if args.corpus == "-" else args.corpus, args.out or default_out))
        return 0
    plan = plan_run(corpus, args.model, settings, time_budget=args.time_budget, max_steps=args.max_steps,
                    continue_from=bundle, out=args.out, default_out=default_out if ranks.main else None,
                    step_seconds=_rank0_step_seconds(ranks) if ranks.joined else None)
    _threads_for_the_machine(plan, settings)
    ranks.check_batch(plan.train_config.batch_size)  # before any step: N processes equal one only then
    # checked now; only rank 0 writes (the others' `out` is None)
    metrics = prepare_output(args.metrics_json, None, "the metrics") if args.metrics_json and ranks.main else None
    say = _err if ranks.main else _silent
    if plan.ignored:
        say(f"note: {name} has no {', '.join(plan.ignored)}; ignored")
    bundle, config, out = plan.build(), plan.train_config, plan.out
    stats = plan.data.corpus.stats()
    verb = "resuming" if plan.resume else "continuing" if plan.continue_from else "training"
    processes = f" on {ranks.world_size} processes" if ranks.joined else ""
    say(f"{verb} {name}{processes}: {plan.n_params:,} params · {stats.n_chars:,} chars, vocabulary "
        f"{stats.vocab_size} · uniform guess {stats.uniform_loss:.2f}, unigram {stats.unigram_entropy:.2f} nats/char")

    last, interrupted, first_step, lost = None, 0, None, None
    progress = None if args.quiet or not ranks.main else Progress(config, sys.stderr)
    events = plan.train(bundle, ranks, _asked)  # alone, a signal raises KeyboardInterrupt before `_asked` is read
    try:
        with _stop_signals(ranks):
            for last in events:
                first_step = first_step if first_step is not None else process_seconds()
                if progress is not None:
                    progress.update(last, bundle)
                if last.sample:
                    say("\n--- sample ---\n" + last.sample + "\n--------------")
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (kill, timeout, a Space restart)
        interrupted = _signal_received or signal.SIGINT
        events.close()  # the model keeps the weights it reached
    except RuntimeError as e:  # under torchrun: another rank died or hung (gloo/nccl), or the batch did not split
        if not ranks.joined:
            raise
        lost = e if isinstance(e, DistributedError) else lost_peer(e)  # e.g. gloo's error raised inside DDP's backward
        bundle.rnn_state = None  # only this rank's rows of it: the streams restart
    finally:
        if progress is not None:
            progress.close()
    if not ranks.main:
        return 1 if lost is not None else 0
    if lost is not None:
        return _save_after_lost(bundle, out, lost, args.weights_only, trained=last is not None)
    if last is not None and last.stop_reason == "interrupted":
        interrupted = _signal_received or signal.SIGINT
    if last is not None and last.message:
        _err(last.message)
    checkpoint.save(out, bundle, weights_only=args.weights_only)
    val = bundle.val_loss
    # the final pass, or (stopped before it) the last periodic estimate: say which text it covered
    final = last is not None and last.done and last.stop_reason != "interrupted"
    val_chars, val_kind = plan.val_figure(final)
    val_text = (f"validation loss {val:.4f} nats/char ({val / math.log(2):.3f} bits/char) on "
                f"{plan.val_coverage(final)}"
                if val is not None else "validation loss not measured yet")
    diverged = last is not None and last.stop_reason == "diverged"
    ended = "stopped" if interrupted else "diverged" if diverged else "done"
    kept = (" (untrained: nothing was learned)" if last.untrained else f" (the weights of step {last.restored_step})"
            ) if diverged else ""
    print(f"{ended}: {bundle.step} steps{kept}, {bundle.chars_seen:,} chars, "
          f"{bundle.seconds:.0f} s, {val_text} → {out}")
    for finding in diagnose_run(bundle, plan.data.text, stop_reason=last.stop_reason if last else None):
        _err(f"{finding.severity}: {explain(finding)}")  # why a loss is flat or wild, with what to try
    if metrics is not None:
        figures = _metrics(bundle, config, stats)
        figures.update(val_chars=val_chars if val is not None else None, val_kind=val_kind if val is not None else None,
                       first_step_seconds=None if first_step is None else round(first_step, 3),
                       world_size=ranks.world_size,
                       stop_reason=None if interrupted or last is None else last.stop_reason, diverged=diverged,
                       restored_step=last.restored_step if diverged else None, untrained=diverged and last.untrained)
        metrics.write_text(json.dumps(figures, indent=1))
    return (128 + interrupted) if interrupted else (1 if diverged else 0)


def _rank0_step_seconds(ranks: Ranks):
    """Each rank measures a step (`charrnn.steprate`) and every rank plans with rank 0's figure: a time
    budget then buys the same network on every rank, however differently busy their cores are."""
    def step_seconds(*network) -> float:
        return ranks.gather_objects(steprate.step_seconds(*network))[0]
    return step_seconds


def _threads_for_the_machine(plan: RunPlan, settings: dict) -> None:
    """Threads unnamed (`--threads`): the command line's choice for this machine (`charrnn.threads`), shown
    in `--plan` with source "machine" and why. The library and the page leave torch's threads as they are."""
    if "threads" in settings:
        return
    threads, why = default_threads(plan.model_name, os.environ, os.cpu_count())
    plan.train_config = replace(plan.train_config, threads=threads)
    plan.sources["threads"], plan.reasons["threads"] = "machine", why


def process_seconds() -> float:
    """Seconds since this process started (Linux: from /proc, so the interpreter's start and the imports
    count; elsewhere from when this module was imported)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()
_signal_received = 0  # the signal that stopped the run: the exit status is 128 + it (130 Ctrl-C, 143 SIGTERM)


def _asked() -> bool:
    return _signal_received != 0


@contextlib.contextmanager
def _stop_signals(ranks: Ranks):
    """While training, SIGTERM stops the run like Ctrl-C does, so the checkpoint is still written. Alone, both
    raise KeyboardInterrupt at once; as one of several ranks, both only raise a flag (`_asked`) that every rank
    sees at the next step — an exception inside a collective would leave the others waiting."""
    def handler(signum, frame):
        global _signal_received
        _signal_received = signum
        if not ranks.joined:
            raise KeyboardInterrupt
    names = (signal.SIGTERM, signal.SIGINT) if ranks.joined else (signal.SIGTERM,)
    try:
        old = {name: signal.signal(name, handler) for name in names}
    except ValueError:  # not the main thread (e.g. main() called from a worker): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for name, before in old.items():
            signal.signal(name, before)


def _save_after_lost(bundle: Bundle, out: Path, lost: BaseException, weights_only: bool, trained: bool) -> int:
    """Rank 0, after another rank stopped answering: its weights and moments are those of the last whole step
    (a failed collective comes before the optimizer's step), so they are saved, if this run made any step;
    one line, exit status 1."""
    text = str(lost).strip().splitlines()[0] if str(lost).strip() else type(lost).__name__
    if not trained:
        _err(f"charrnn: error: {text}; no step was made, nothing was written")
        return 1
    checkpoint.save(out, bundle, weights_only=weights_only)
    _err(f"charrnn: error: {text}; saved the weights of step {bundle.step} (the streams restart) → {out}")
    return 1


def _seconds(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 86_400:
        raise SettingError(name, f"{name} must be a number of seconds from 0 to 86400, not {text!r}", text)
    return value


def _silent(msg: str) -> None:
    pass


def cmd_sample(args) -> int:
    temperature, top_k, length, seed = check_sampling(args.temperature, args.top_k, args.length, args.seed)
    bundle = checkpoint.load(args.checkpoint)
    if args.probs:
        for ch, p in next_char_probs(bundle.model, bundle.vocab, args.prompt, temperature, top_k)[:20]:
            print(f"{ch!r:>6} {p:7.2%} {'█' * round(p * 50)}")
        return 0
    prompt = fit_prompt(bundle.vocab, args.prompt)  # "café" typed precomposed matches a decomposed corpus
    bundle.vocab.encode(prompt)  # unknown characters: a clear error before anything is printed
    if seed is None and temperature > 0:  # "random": say which, so that a good sample can be written again
        seed = resolve_seed(None)
        _err(f"seed {seed} (--seed {seed} writes this text again)")
    sys.stdout.write(prompt)
    for ch in stream(bundle.model, bundle.vocab, prompt, length, temperature, top_k, seed):
        sys.stdout.write(ch)
    sys.stdout.write("\n")
    return 0


def _describe_plan(plan: RunPlan, corpus: str, out: str) -> str:
    """The resolved plan as text: what will run, then every setting with its value, source and reason."""
    n_val = len(plan.data.ids) - plan.data.n_train
    what = ("resume the saved run exactly where it stopped" if plan.resume else
            "continue the saved model with a new run" if plan.continue_from is not None else "train a new model")
    cost = plan.cost
    lines = [f"plan: {what}: {plan.model_name} ({MODELS[plan.model_name].title}), {plan.n_params:,} parameters",
             f"text: {corpus}, {len(plan.data.ids):,} characters, vocabulary {len(plan.vocab)}; the first "
             f"{plan.data.n_train:,} for training, the last {n_val:,} held out",
             f"device: {plan.device}" + (f"; estimated {cost.total_mb:,.0f} MB" if cost is not None else "")
             + (f", {cost.step_seconds:.2g} s a step" if cost is not None and cost.step_seconds is not None else
                "; the step time is measured as it trains (the estimate is calibrated for a CPU)"),
             f"checkpoint: {out} (not written: --plan)", ""]
    rows = [(name, _shown(value), source, why) for name, value, source, why in plan_rows(plan)]
    width = [max(len(r[i]) for r in rows + [("setting", "value", "source", "")]) for i in range(3)]
    lines.append(f"{'setting':{width[0]}}  {'value':{width[1]}}  {'source':{width[2]}}  why")
    lines += [f"{name:{width[0]}}  {value:{width[1]}}  {source:{width[2]}}  {why}".rstrip()
              for name, value, source, why in rows]
    return "\n".join(lines)


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) else str(value)


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
        "history": {"step": h.step, "chars": h.chars,
                    "seconds": _seconds_axis(h.point(i)[2] for i in range(len(h.step))),
                    "train_loss": h.train_loss, "val_step": h.val_step, "val_chars": h.val_chars,
                    "val_seconds": _seconds_axis(h.val_point(i)[2] for i in range(len(h.val_step))),
                    "val_loss": h.val_loss},
    }


def _seconds_axis(values) -> list[float | None]:
    """A curve's seconds axis for JSON: the model's training seconds at each point (`History`: on its run's
    clock, evaluation included), to the millisecond; None where unknown (a checkpoint older than the axis)."""
    return [round(s, 3) if math.isfinite(s) else None for s in values]


class Progress:
    """The run's progress on `stream`: tqdm's bar where `stream` is a terminal; anywhere else (a log file, a
    pipe, CI) one plain line each tenth of the budget and one at the end, because a bar redrawn with \\r
    is one unreadable line in a file."""

    LINES = 10  # plain lines over a whole run

    def __init__(self, config: TrainConfig, stream):
        self.config, self.stream, self.bar, self.next_line, self.last = config, stream, None, 0, None
        if stream.isatty():
            from tqdm import tqdm

            if config.time_budget:
                self.bar = tqdm(total=config.time_budget, unit="s", file=stream, dynamic_ncols=True,
                                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s{postfix}")
            else:
                self.bar = tqdm(total=config.max_steps, unit="step", file=stream, dynamic_ncols=True)

    def update(self, ev, bundle: Bundle) -> None:
        config = self.config
        if self.bar is not None:
            self.bar.n = min(round(ev.elapsed), config.time_budget) if config.time_budget else bundle.run_step
            self.bar.set_postfix_str(_postfix(ev, bundle))
            self.bar.refresh()
            return
        self.last = (ev, bundle)  # not shown yet
        done = run_progress(config, bundle.run_step, ev.elapsed)
        if not ev.done and done < 1 and int(done * self.LINES) > self.next_line:  # the end: `close`
            self.next_line = int(done * self.LINES)
            self._line(ev, bundle, done)
            self.last = None

    def _line(self, ev, bundle: Bundle, done: float) -> None:
        ended = " · diverged" if ev.done and ev.stop_reason == "diverged" else ""
        print(f"{min(done, 1):4.0%} · {ev.elapsed:.0f} s · {_postfix(ev, bundle)}{ended}", file=self.stream,
              flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.last is not None:  # where it ended: the budget used, a stop, or a divergence
            ev, bundle = self.last
            self._line(ev, bundle, run_progress(self.config, bundle.run_step, ev.elapsed))


def _postfix(ev, bundle: Bundle) -> str:
    val = bundle.val_loss
    return (f"step {ev.step} loss {ev.train_loss:.3f} val {val:.3f} {ev.chars_per_sec:,.0f} chars/s"
            if val is not None else f"step {ev.step} loss {ev.train_loss:.3f} {ev.chars_per_sec:,.0f} chars/s")


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
