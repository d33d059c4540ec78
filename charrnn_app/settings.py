"""Server-wide settings, read once from environment variables when the app is built.

    CHARRNN_CONCURRENCY    trainings that run at the same time (others wait in the queue)   default 2
    CHARRNN_QUEUE          requests that may wait in the queue before "Queue is full"       default 64
    CHARRNN_MAX_SECONDS    the longest one training run may last, in seconds                default 120
    CHARRNN_MAX_RACE_SECONDS  a race's total: its models' budgets added up, in seconds    default 300
                           (a race holds one training slot for that long; its wall time is
                           bounded at 1.25 x this + 10 s, which covers evaluations and samples)
    CHARRNN_MAX_UPLOAD_MB  the largest upload (text or checkpoint), in MB of 1024² bytes    default 10
    CHARRNN_SESSION_TTL    seconds an idle tab keeps its model (Gradio keeps a closed tab's
                           for an hour at most)                                             default 7200
    CHARRNN_MAX_PARAMS     the largest model (in parameters) a user may build or upload     default 20M
    CHARRNN_MAX_RUN_MB     the most memory one training run may take (estimated before it
                           starts: charrnn/estimate.py), MB                                 default 1500
    CHARRNN_MAX_STEP_SECONDS  the longest one training step may take (Stop and the budget
                           are answered between steps)                                      default 2
    CHARRNN_MAX_TAB_MB     the most memory one browser tab may keep (its models, their loss
                           histories and texts)                                             default 250
    CHARRNN_MAX_SERVER_MB  the most memory the whole server may use, MB. What all tabs keep
                           together is bounded by what this leaves after the runs and views
                           that may run at once and the server's own ~1 GB (`tabs_mb`); the
                           oldest idle tab's models are set aside first              default 12000
    CHARRNN_MAX_VIEW_MB    the most memory one Inside view may take (estimated before it
                           computes: charrnn/estimate.py), MB                               default 300
    CHARRNN_MAX_VIEW_SECONDS  the longest one Inside view may compute (estimated), seconds  default 5
    CHARRNN_EXAMPLES       folder of example corpora (*.txt)                       default examples_corpora/
    CHARRNN_DB             the classes' SQLite file (`classroom_db.py`; ":memory:" is refused: a
                           class must survive a restart)   default /data/charrnn-classes.sqlite3 on a
                           Hugging Face Space with persistent storage, else data/classes.sqlite3
    CHARRNN_CLASS_TTL      seconds a class lasts after it is opened                          default 86400
    CHARRNN_MAX_CLASSES    classes the server holds at once                                  default 50

The defaults suit a 2-core machine such as a free Hugging Face Space (16 GB): of the server's 12 GB, 2 runs
× 1.5 GB, 2 views × 300 MB and ~1 GB for Python, PyTorch and Gradio leave 7.4 GB for what the tabs keep
(30 full tabs of 250 MB; a class's small models keep far less).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from charrnn.run import Limits

from .class_rules import ClassLimits
from .classroom_db import MEMORY_REFUSED
from .memory import HISTORY_ROW_BYTES

ROOT = Path(__file__).resolve().parent.parent
PAGE_TIME_BUDGET = 30.0  # seconds: the page's and the API's budget when none is chosen (the CLI's is 60)
FINAL_EVAL_CHARS = 50_000  # a run's final validation loss on the server: the held-out text's first 50,000
# The server's own memory besides runs, views and tabs: Python, PyTorch, Gradio and its per-session copies of
# the page (~370 KB each). Measured at rest after the warm-up: about 490 MB (benchmarks/README.md, classroom.py);
# twice that leaves room for Gradio's sessions and the allocator's fragmentation.
SERVER_BASE_MB = 1000.0


@dataclass(frozen=True)
class Settings:
    concurrency: int = 2
    queue_size: int = 64
    max_seconds: float = 120.0
    max_upload_mb: float = 10.0
    max_race_seconds: float = 300.0
    session_ttl: float = 7200.0
    max_params: int = 20_000_000
    examples_dir: Path = ROOT / "examples_corpora"
    max_run_mb: float = 1500.0
    max_step_seconds: float = 2.0
    max_tab_mb: float = 250.0
    class_db: Path = ROOT / "data" / "classes.sqlite3"
    class_ttl: float = 86_400.0
    class_limits: ClassLimits = ClassLimits()
    max_server_mb: float = 12_000.0
    max_view_mb: float = 300.0
    max_view_seconds: float = 5.0

    @property
    def limits(self) -> Limits:
        """The bounds every run on this server is planned within (`charrnn.run.plan_run`), and every Inside
        view computed within (`charrnn.limits.fit_view`)."""
        return Limits(max_seconds=self.max_seconds, max_params=self.max_params, max_run_mb=self.max_run_mb,
                      max_step_seconds=self.max_step_seconds, final_eval_chars=FINAL_EVAL_CHARS,
                      max_view_mb=self.max_view_mb, max_view_seconds=self.max_view_seconds)

    @property
    def tabs_mb(self) -> float:
        """What all tabs together may keep between runs, MB: the server's budget less the runs and the views
        that may run at once (each at most its own budget) and the server's own footprint."""
        return (self.max_server_mb - SERVER_BASE_MB - self.concurrency * self.max_run_mb
                - self.concurrency * self.max_view_mb)

    @property
    def max_history_rows(self) -> int:
        """The longest loss history a checkpoint upload may hold: a quarter of a tab's budget (a crafted file
        with 3,000,000 rows made one tab hold ~700 MB). A 120-second run adds at most a few thousand rows."""
        return int(self.max_tab_mb * 1024 * 1024 / 4 / HISTORY_ROW_BYTES)

    @property
    def max_checkpoint_bytes(self) -> int:
        """The largest checkpoint upload: any model this server lets a user train (a download holds 4 bytes
        a parameter, plus its header and history), and at least the text limit."""
        need = 4 * self.max_params + 4 * 1024 * 1024
        return max(self.max_upload_bytes, -(-need // (1024 * 1024)) * 1024 * 1024)  # whole MB, as stated

    @property
    def max_checkpoint_text(self) -> str:
        """The checkpoint limit as the page, the README and Gradio's refusal state it, e.g. "81 MB"."""
        return f"{self.max_checkpoint_bytes // (1024 * 1024)} MB"

    @property
    def max_file_bytes(self) -> int:
        """Gradio's one upload limit (`launch(max_file_size=…)`): the larger of the two; a text upload is
        held to `max_upload_bytes` by `read_text`."""
        return max(self.max_upload_bytes, self.max_checkpoint_bytes)

    @property
    def max_upload_bytes(self) -> int:
        # MB of 1024 × 1024 bytes, the unit Gradio's upload refusal counts in: with 10**6 it said
        # "9.5 Mb" where the page and README said 10 MB; now it says "10.0 Mb".
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_upload_text(self) -> str:
        """The limit as the page and the README state it, e.g. "10 MB"."""
        return f"{self.max_upload_mb:g} MB"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            concurrency=_number(env, "CHARRNN_CONCURRENCY", cls.concurrency, int, 1),
            queue_size=_number(env, "CHARRNN_QUEUE", cls.queue_size, int, 1),
            max_seconds=_number(env, "CHARRNN_MAX_SECONDS", cls.max_seconds, float, 1),
            max_race_seconds=_number(env, "CHARRNN_MAX_RACE_SECONDS", cls.max_race_seconds, float, 1),
            max_upload_mb=_number(env, "CHARRNN_MAX_UPLOAD_MB", cls.max_upload_mb, float, 0.001),
            session_ttl=_number(env, "CHARRNN_SESSION_TTL", cls.session_ttl, float, 60),
            max_params=_number(env, "CHARRNN_MAX_PARAMS", cls.max_params, int, 1000),
            examples_dir=Path(env.get("CHARRNN_EXAMPLES") or cls.examples_dir),
            max_run_mb=_number(env, "CHARRNN_MAX_RUN_MB", cls.max_run_mb, float, 10),
            max_step_seconds=_number(env, "CHARRNN_MAX_STEP_SECONDS", cls.max_step_seconds, float, 0.05),
            max_tab_mb=_number(env, "CHARRNN_MAX_TAB_MB", cls.max_tab_mb, float, 1),
            class_db=class_db(env),
            class_ttl=_number(env, "CHARRNN_CLASS_TTL", cls.class_ttl, float, 60),
            class_limits=ClassLimits(max_classes=_number(env, "CHARRNN_MAX_CLASSES", ClassLimits.max_classes,
                                                         int, 1)),
            max_server_mb=_number(env, "CHARRNN_MAX_SERVER_MB", cls.max_server_mb, float, 100),
            max_view_mb=_number(env, "CHARRNN_MAX_VIEW_MB", cls.max_view_mb, float, 10),
            max_view_seconds=_number(env, "CHARRNN_MAX_VIEW_SECONDS", cls.max_view_seconds, float, 0.1),
        )
        return settings.checked()

    def checked(self) -> Settings:
        """These settings, or ValueError where the server's budget leaves the tabs less than one tab's own."""
        if self.tabs_mb < self.max_tab_mb:
            need = self.max_server_mb - self.tabs_mb + self.max_tab_mb
            raise ValueError(f"CHARRNN_MAX_SERVER_MB={self.max_server_mb:g} leaves {self.tabs_mb:,.0f} MB for what the "
                             f"tabs keep once {self.concurrency} runs of CHARRNN_MAX_RUN_MB={self.max_run_mb:g}, as "
                             f"many views of CHARRNN_MAX_VIEW_MB={self.max_view_mb:g} and the server's own "
                             f"{SERVER_BASE_MB:,.0f} MB are counted: less than one tab's CHARRNN_MAX_TAB_MB="
                             f"{self.max_tab_mb:g}. Raise CHARRNN_MAX_SERVER_MB to at least {need:,.0f}, or lower "
                             "the others")
        return self


def class_db(env: Mapping[str, str]) -> Path:
    """CHARRNN_DB, else the Space's persistent storage (/data, when the Space has it), else the app's data
    folder. ValueError for ":memory:": each thread would see its own empty database, and a restart none."""
    raw = env.get("CHARRNN_DB", "").strip()
    if raw in (":memory:",) or raw.startswith("file::memory:"):
        raise ValueError(MEMORY_REFUSED)
    if raw:
        return Path(raw).expanduser()
    persistent = Path("/data")
    if env.get("SPACE_ID") and persistent.is_dir() and os.access(persistent, os.W_OK):
        return persistent / "charrnn-classes.sqlite3"
    return Settings.class_db


def _number(env: Mapping[str, str], name: str, default, kind, minimum):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be at least {minimum}")
    return value


def list_examples(folder: Path) -> dict[str, Path]:
    """Example corpora by name (the file name without .txt), sorted; {} if the folder is missing."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.txt")) if p.is_file()}


def example_notes(folder: Path) -> dict[str, str]:
    """One-line descriptions of the examples from the folder's README table (`| `name.txt` | size |
    what it teaches |`), by name; {} if there is none."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    notes = {}
    for m in re.finditer(r"^\|\s*`([^`]+)\.txt`\s*\|[^|]*\|\s*(.+?)\s*\|\s*$", readme.read_text("utf-8"), re.M):
        notes[m.group(1)] = m.group(2)
    return notes
