"""charrnn: train a character-level language model on your own text and watch it learn.

The plain PyTorch core behind the app and the CLI:

    read_text ─► Vocab ─► split ─► train(bundle, ...) yields TrainEvent ─► generate / save / load
"""

from .bundle import Bundle, History
from .checkpoint import CheckpointError, load, save
from .corpus import CorpusError, CorpusStats, Vocab, corpus_stats, read_text, split
from .models import MODELS, build_model, make_config
from .sample import generate, next_char_probs, stream
from .train import TrainConfig, TrainEvent, TrainingError, evaluate, pick_device, train

__all__ = ["MODELS", "Bundle", "CheckpointError", "CorpusError", "CorpusStats", "History", "TrainConfig",
           "TrainEvent", "TrainingError", "Vocab", "build_model", "corpus_stats", "evaluate", "generate",
           "load", "make_config", "next_char_probs", "pick_device", "read_text", "save", "split", "stream",
           "train"]
