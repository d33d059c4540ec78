"""The rules of a class that need neither a database nor Gradio: its bounds, codes, keys, nicknames, rate
limits and how a curve is thinned. Plain functions and values; `ClassError` carries what the user is told.

    ClassLimits            every bound of the classroom feature (the only defaults; `Settings` holds one)
    new_code()             a class code: 8 characters of an alphabet without look-alikes (31^8 ≈ 8.5e11)
    new_secret()           a teacher key or a student's token: 128 random bits, URL-safe
    digest(secret)         what the database keeps of a secret (SHA-256): a copied file reveals no key
    same_secret(a, b)      constant-time comparison of two digests
    check_nickname(raw)    (the nickname as shown, its key for uniqueness) or ClassError
    RateLimit              at most n events per key in a sliding window, thread-safe, memory-bounded
    downsample(points, n)  at most n points of a curve: evenly spaced, its first, last and lowest kept
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from dataclasses import dataclass

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: a code read off a projector is typed right
CODE_LENGTH = 8
TEACHER = "teacher"  # the teacher's nickname on the board (reserved: no student may take it)
RESERVED = {TEACHER, "admin", "moderator", "charrnn", "server"}
# A classroom's nickname filter: the words students try first (matched inside the nickname, with its
# spaces, digits-as-letters and punctuation removed). The teacher's Hide handles what slips through.
BLOCKED = ("fuck", "shit", "cunt", "bitch", "dick", "cock", "pussy", "asshole", "bastard", "wank", "nigg",
           "fag", "slut", "whore", "rape", "nazi", "hitler", "porn", "penis", "vagina", "sex")
_LEET = str.maketrans("013457@$", "oieastas")
_ALLOWED_PUNCT = set(" -_.'")


class ClassError(ValueError):
    """Something about a class the user can fix or must be told (a wrong code, a taken nickname, a limit);
    its message is what the page shows."""


@dataclass(frozen=True)
class ClassLimits:
    """The bounds that keep one server's classes, and the database holding them, within a budget a hostile
    client cannot push past (see `max_db_bytes`)."""

    max_classes: int = 50  # classes on the server at once (open, or closed within the last hour)
    max_members: int = 100  # nicknames in one class
    runs_per_student: int = 20  # kept per student: beyond it, the oldest that is neither pinned nor their best goes
    runs_per_class: int = 600  # kept per class, likewise
    reports_per_minute: int = 12  # runs one student may report a minute (a five-model race is five)
    joins_per_minute: int = 20  # failed joins (unknown code, taken nickname, wrong token) per client address
    opens_per_hour: int = 10  # classes one client address may open an hour
    keys_per_minute: int = 10  # wrong teacher keys per client address a minute
    max_text_chars: int = 2_000_000  # the class's own text (examples are kept by name, not copied)
    curve_points: int = 120  # a run's validation curve is thinned to this many points
    sample_chars: int = 200  # of a run's last sample
    nickname_chars: int = 24

    def max_db_bytes(self) -> int:
        """A generous bound on the database's size on disk: every class full, every text at its limit (stored
        compressed, so usually far less), every run at its largest row, SQLite's overhead doubled, and its
        write-ahead log (checkpointed at 1 MB: `classroom_db.WAL_BYTES`; 4 MB allowed for a busy moment)."""
        run_row = 40 * self.curve_points + 4 * self.sample_chars + 4096  # curve JSON, sample, settings, numbers
        member_row = 4 * self.nickname_chars + 200
        per_class = 4 * self.max_text_chars + self.runs_per_class * run_row + self.max_members * member_row
        return 2 * self.max_classes * per_class + 5 * 1024 * 1024


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(raw) -> str:
    """A code as typed (spaces, dashes, lower case forgiven); "" if it cannot be a code."""
    code = re.sub(r"[\s-]", "", str(raw or "")).upper()[: CODE_LENGTH + 8]
    return code if len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) else ""


def new_secret() -> str:
    return secrets.token_urlsafe(16)


def digest(secret: str) -> str:
    return hashlib.sha256(str(secret).encode("utf-8")).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(str(a), str(b))


def text_digest(text: str) -> str:
    """The class's text as the runs are checked against it: SHA-256 of its UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_nickname(raw, max_chars: int = ClassLimits.nickname_chars) -> tuple[str, str]:
    """(nickname, key): the nickname as shown (NFKC, spaces collapsed) and the key that must be unique in
    the class (case-folded, without spaces and punctuation: "Ada L" and "ada-l" are one name).
    ClassError for an empty, long, oddly-charactered, reserved or rude nickname."""
    name = " ".join(unicodedata.normalize("NFKC", str(raw or "")).split())
    if not name:
        raise ClassError("Pick a nickname (letters and digits, at most "
                         f"{max_chars} characters): it is how the class's board shows your runs.")
    if len(name) > max_chars:
        raise ClassError(f"That nickname is {len(name)} characters long; at most {max_chars}, please.")
    odd = [c for c in name if c not in _ALLOWED_PUNCT and unicodedata.category(c)[0] not in "LN"]
    if odd:
        raise ClassError(f"A nickname may hold letters, digits, spaces and - _ . ' only, not {odd[0]!r}.")
    key = "".join(c for c in name.casefold() if unicodedata.category(c)[0] in "LN")
    if not key:
        raise ClassError("A nickname needs at least one letter or digit.")
    if key in RESERVED:
        raise ClassError(f"“{name}” is reserved; pick another nickname.")
    if any(word in key.translate(_LEET) for word in BLOCKED):
        raise ClassError("Please pick another nickname: the class's board is shown to everyone.")
    return name, key


class RateLimit:
    """At most `limit` events per key in the last `window` seconds. `allowed(key)` asks without counting,
    `hit(key)` counts one. Keys beyond `max_keys` (the least recently seen first) are forgotten, so a client
    inventing keys cannot grow it without bound. Thread-safe."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000, clock=time.monotonic):
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._events: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        self._events.move_to_end(key)
        cutoff = self.clock() - self.window
        while events and events[0] <= cutoff:
            events.popleft()
        return events

    def allowed(self, key: str, n: int = 1) -> bool:
        with self._lock:
            return len(self._recent(key)) + n <= self.limit

    def hit(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._recent(key).extend([self.clock()] * n)

    def __len__(self) -> int:
        """How many keys it remembers (at most `max_keys`)."""
        return len(self._events)

    def wait(self, key: str) -> float:
        """Seconds until `key` may act again (0 if it may now)."""
        with self._lock:
            events = self._recent(key)
            return 0.0 if len(events) < self.limit else max(0.0, events[0] + self.window - self.clock())


def downsample(points: list[tuple[float, float]], n: int) -> list[tuple[float, float]]:
    """At most `n` (≥ 3) of `points` (in order): evenly spaced by index, always the first, the last and the
    lowest (the best loss is what the board ranks, so the curve must show it)."""
    if len(points) <= n:
        return list(points)
    keep = {round(i * (len(points) - 1) / (n - 2)) for i in range(n - 1)}
    keep.add(min(range(len(points)), key=lambda i: points[i][1]))
    return [points[i] for i in sorted(keep)]  # n - 1 spaced (first and last among them) + the lowest: ≤ n
