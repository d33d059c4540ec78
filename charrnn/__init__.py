"""charrnn: train a character-level language model on your own text and watch it learn.

The plain PyTorch core behind the app and the CLI:

    read_text ─► plan_run(text, model, settings) ─► plan.build() ─► plan.train(bundle) yields TrainEvent
              ─► generate / save / load          (plan_run: the one door the app and the CLI use too)
    open_corpus(path) ─► Corpus (ids of a file of any size, memory-mapped) ─► plan_run(corpus, …)
"""

from .bundle import Bundle, History
from .checkpoint import CheckpointError, load, save
from .corpus import CorpusError, CorpusStats, Vocab, corpus_stats, normalize_text, read_text, split
from .models import MODELS, build_model, make_config
from .options import SettingError
from .run import Limits, RunPlan, plan_run
from .sample import fit_prompt, generate, next_char_probs, resolve_seed, stream
from .textstore import Corpus, open_corpus
from .train import TrainConfig, TrainEvent, TrainingError, evaluate, pick_device, train

__all__ = ["MODELS", "Bundle", "CheckpointError", "Corpus", "CorpusError", "CorpusStats", "History", "Limits",
           "RunPlan", "SettingError", "TrainConfig", "TrainEvent", "TrainingError", "Vocab", "build_model",
           "corpus_stats", "evaluate", "fit_prompt", "generate", "load", "make_config", "next_char_probs",
           "normalize_text", "open_corpus", "pick_device", "plan_run", "read_text", "resolve_seed", "save", "split",
           "stream", "train"]
