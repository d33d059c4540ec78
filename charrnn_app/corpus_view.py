"""Step 1 of the page: read the text a user gives, describe it, refuse what cannot be trained on.

Handlers are plain functions (values in, values out); every problem becomes a message that says what
to do, shown in the statistics panel or raised as `gr.Error`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

import charrnn
from charrnn import CorpusError
from charrnn.corpus import fold_ascii, min_chars
from charrnn.run import VAL_FRACTION

from . import plots, user_error

PREVIEW_CHARS = 2000


def load_corpus(corpus: str | None, text: str | None, example: str | None, ascii_fold: bool, *,
                examples: dict[str, Path], max_bytes: int, latin1: bool = False) -> tuple[str, str]:
    """(text, where it came from): the uploaded file, else the pasted text, else the example.
    `latin1` reads an uploaded file that is not UTF-8 as Latin-1. Raises CorpusError with advice."""
    if corpus:
        source = f"the uploaded file `{Path(corpus).name}`"
        if not Path(corpus).is_file():  # the page still names it; the server's cache cleanup has removed it
            raise CorpusError(f"the uploaded file {Path(corpus).name} is no longer on the server (it keeps "
                              "uploads for a limited time): upload it again, or clear the file to use the "
                              "pasted text or an example.")
        out = charrnn.read_text(corpus, ascii_fold=ascii_fold, max_bytes=max_bytes, latin1_fallback=bool(latin1))
    elif text and text.strip():
        source = "the pasted text"
        out = charrnn.read_text(text.encode("utf-8"), ascii_fold=ascii_fold, max_bytes=max_bytes)
    elif example:
        if example not in examples:
            raise CorpusError(f"there is no example called {example!r}; choose one of: {', '.join(examples)}")
        source = f"the example `{example}`"
        out = charrnn.read_text(examples[example], ascii_fold=ascii_fold, max_bytes=max_bytes)
    else:
        raise CorpusError("there is no text yet: upload a .txt file, paste some text, or pick an example.")
    return out, source


def corpus_name(source: str) -> str:
    """A text's name in the runs table and the chart's note: `load_corpus`'s source without its Markdown
    ("the example `weather`" -> "example weather"), one form for a Train run and a race's."""
    return source.replace("`", "").removeprefix("the ")


def instead_of_upload(corpus, text, example) -> str:
    """The way out of an uploaded file that cannot be trained on while the page also shows another text: the
    upload is read first (`load_corpus`), so the file has to leave its box. "" when there is no upload or
    nothing else to use."""
    if not corpus:
        return ""
    other = "the pasted text" if text and text.strip() else f"the example `{example}`" if example else None
    return (f" To use {other} instead, clear the uploaded file {Path(corpus).name} (× in its box: the upload is "
            "read first).") if other else ""


def chars(characters) -> str:
    """Characters as inline code, with space, newline and tab made visible."""
    return " ".join(f"`{plots.shown(c)}`" for c in characters)


def _fold_note(raw: str, folded: str | None, fold_error: str | None, ascii_fold: bool) -> str:
    """What folding to ASCII does (or would do) to this text's vocabulary."""
    if raw.isascii():
        return "The text is plain ASCII, so folding to ASCII would change nothing."
    if fold_error:
        return f"Folding to ASCII is not possible here: {fold_error}"
    gone = sorted(set(raw) - set(folded))
    before, after = len(set(raw)), len(set(folded))
    shown = chars(gone[:12]) + (" …" if len(gone) > 12 else "")
    if ascii_fold:
        return (f"**Folded to ASCII**: the vocabulary shrank from {before} to {after} characters; "
                f"{shown} became plain ASCII (é → e, “ → \").")
    return (f"Tick *Fold to ASCII* to turn the {len(gone)} non-ASCII characters ({shown}) into plain "
            f"ASCII: the vocabulary would shrink from {before} to {after} characters.")


def describe_corpus(corpus=None, text=None, example=None, ascii_fold=False, latin1=False, *, examples, max_bytes,
                    notes=None) -> tuple[str, str, dict | None]:
    """(statistics Markdown, preview, info) of the text Train would use; info = {n_chars, vocab_size,
    uniform, unigram} (the last two the reference losses in nats/char).
    Problems are shown in the Markdown (`check_upload` raises them as an error for an upload)."""
    try:
        raw, source = load_corpus(corpus, text, example, False, examples=examples, max_bytes=max_bytes,
                                  latin1=latin1)
    except CorpusError as e:
        return f"⚠️ {e}", "", None
    folded, fold_error = raw, None
    if not raw.isascii():
        try:
            folded = fold_ascii(raw)
        except CorpusError as e:
            fold_error = str(e)
    if ascii_fold and fold_error:
        return f"⚠️ {fold_error} Untick *Fold to ASCII*.", raw[:PREVIEW_CHARS], None
    used = folded if ascii_fold else raw
    s = charrnn.corpus_stats(used)
    bits = plots.BITS_PER_NAT
    top = " · ".join(f"`{plots.shown(c)}` {n / s.n_chars:.1%}" for c, n in s.top_chars)
    need, full = min_chars(1, VAL_FRACTION), min_chars(charrnn.TrainConfig().seq_len, VAL_FRACTION)
    note = (notes or {}).get(example) if source.startswith("the example") else None
    lines = [
        f"**Using {source}**: {s.n_chars:,} characters, a vocabulary of **V = {s.vocab_size}** "
        "distinct characters." + (f" {note}" if note else ""),
        "",
        "| for comparison | nats/char | bits/char |",
        "|---|---|---|",
        f"| uniform guess: ln(V) | {s.uniform_loss:.2f} | {s.uniform_loss * bits:.2f} |",
        f"| letter frequencies only: unigram entropy | {s.unigram_entropy:.2f} | "
        f"{s.unigram_entropy * bits:.2f} |",
        "",
        f"Most common: {top}",
        "",
        _fold_note(raw, folded, fold_error, ascii_fold),
    ]
    if s.n_chars < need:
        lines += ["", f"⚠️ This is too short to train on: it needs at least {need:,} characters (a tenth is held "
                      "out to measure the validation loss). Add more text."]
    elif s.n_chars < full:
        lines += ["", f"A short text: the sequence length will be shortened to fit it (from {full:,} characters "
                      "on, the preset's full length fits)."]
    preview = used[:PREVIEW_CHARS] + ("\n[…]" if len(used) > PREVIEW_CHARS else "")
    info = {"n_chars": s.n_chars, "vocab_size": s.vocab_size, "uniform": s.uniform_loss,
            "unigram": s.unigram_entropy}
    return "\n".join(lines), preview, info


def check_upload(corpus, ascii_fold=False, latin1=False, session=None, text=None, example=None, *, max_bytes) -> None:
    """Note the upload in the app's ledger as this tab's (so that another tab closing does not remove a file
    with the same bytes), then raise gr.Error if the file cannot be read as text (a toast with what to do, and
    what Train uses instead: the page then takes the file out of the box, `refused_upload`, so that a later
    Train or lesson does not read it again). Folding to ASCII is not checked here: unticking it fixes that
    without a new upload, and the statistics say so."""
    if not corpus:
        return
    if hasattr(session, "claim"):
        session.claim(corpus)
    try:
        load_corpus(corpus, None, None, False, examples={}, max_bytes=max_bytes, latin1=latin1)
    except CorpusError as e:
        instead = ("the pasted text" if text and text.strip() else f"the example `{example}`" if example
                   else "nothing yet: pick an example or paste text")
        raise user_error(f"{str(e).rstrip('.')}. The file was taken out of the upload box, so Train uses "
                         f"{instead}; to train on the file, fix it and upload it again.") from None


def refused_upload():
    """After `check_upload` refused a file: empty the upload box (the statistics then describe what is used)."""
    return None


def example_chosen(example):
    """Picking an example replaces the upload and the pasted text (they would take precedence)."""
    return (None, "") if example else (gr.skip(), gr.skip())
