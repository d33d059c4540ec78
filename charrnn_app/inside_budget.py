"""Each Inside view within the server's view budget (issue 18, item 2), decided before it computes.

    within_budget(session, view, text)        ─► (the text the view reads, a note saying what was cut)
    frequent_ids(session, vocab, k)           ─► the k characters a map draws: the tab's text's most frequent

A view's cost grows with the model's vocabulary, its size and the text (`charrnn.inspect.cost`, built on the
estimate that guards training). Over the server's budget (`CHARRNN_MAX_VIEW_MB`, `CHARRNN_MAX_VIEW_SECONDS`:
`Settings.limits`, which every tab's Session keeps as `view_limits`) a view over a text is computed on a
sample — the longest start of the text that fits — and says so above its picture and in its data; a view
that cannot fit even two characters is refused with a message. The maps draw at most `MAP_CHARS`
characters, the most frequent ones, and say which share of the text they cover. Views run in their own
concurrency group ("inspect"), so they never take a training slot.
"""

from __future__ import annotations

from collections import Counter

from charrnn.inspect.cost import MAP_CHARS
from charrnn.limits import Limits, fit_view, view_budget
from charrnn.options import SettingError

from . import user_error

SCAN_CHARS = 1_000_000  # characters of the tab's text counted to find the most frequent (a fraction of a second)


def within_budget(session, view: str, text: str, bundle=None) -> tuple[str, str]:
    """(the text `view` reads — `text`, or its longest start that fits the server's view budget (the tab's
    `Session.view_limits`) —, a note for the view saying what was cut and why, or ""). `bundle`: the model
    looked at (default: the tab's). gr.Error when the view does not fit even on two characters."""
    bundle = bundle or getattr(session, "bundle", None)
    limits = getattr(session, "view_limits", None)
    if limits is None or bundle is None:
        return text, ""
    try:
        fit = fit_view(view, bundle.model, bundle.model_name, len(text), limits)
    except SettingError as e:
        raise user_error(f"Not computed: {str(e).rstrip('.')}. Look at a smaller model, or at this view in "
                         "the Python API (`charrnn.inspect`), which has no such bound.") from None
    if not fit.cut:
        return text, ""
    return text[:fit.chars], sampled_note(fit, bundle.model.vocab_size, limits)


def check_budget(session, view: str, bundle=None) -> None:
    """gr.Error unless a view whose cost does not depend on the text (shapes, the maps) fits the budget."""
    within_budget(session, view, "··", bundle)


def sampled_note(fit, vocab_size: int, limits: Limits) -> str:
    """What a view computed on a sample says about it."""
    return (f"Computed on a sample: the first {fit.chars:,} of these {fit.asked:,} characters. All of them would "
            f"take about {fit.whole.mb:,.0f} MB and {fit.whole.seconds:,.1f} s with this model (its vocabulary of "
            f"{vocab_size:,} characters sets most of that); this server allows {view_budget(limits)}.")


def frequent_ids(session, vocab, k: int = MAP_CHARS, text: str | None = None) -> tuple[list[int], float]:
    """(ids of the at most `k` characters a map draws, in id order; the share of the text they make up).
    All characters when the vocabulary has at most `k`; else the most frequent in the tab's text (its first
    SCAN_CHARS characters), or in `text` where the tab has none (a loaded checkpoint), then the lowest ids."""
    V = len(vocab)
    if V <= k:
        return list(range(V)), 1.0
    source = (getattr(session, "train_text", None) or text or "")[:SCAN_CHARS]
    counts = Counter(c for c in source if c in vocab.stoi)
    chosen = [vocab.stoi[c] for c, _ in counts.most_common(k)]
    taken = set(chosen)
    chosen += [i for i in range(V) if i not in taken][:k - len(chosen)]
    share = sum(counts[vocab.chars[i]] for i in chosen) / max(1, sum(counts.values()))
    return sorted(chosen), share
