"""The defaults a new user gets: every model's preset builds and trains; the LSTM's follow the budget."""

import pytest

from charrnn import MODELS, build_model, make_config
from charrnn.presets import preset
from charrnn.train import check_config

SHAKESPEARE = 1_115_394  # characters of tinyshakespeare, where the LSTM rows were measured


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("budget", [30.0, 180.0, 600.0])
def test_every_preset_builds_a_model_its_config_can_train(name, budget):
    options, config = preset(name, SHAKESPEARE, budget)
    model = build_model(name, 65, make_config(name, **options), seed=0)
    check_config(config, model, 1_000_000, 100_000)  # raises if the settings cannot train
    assert config.time_budget == budget and config.lr > 0 and config.weight_decay >= 0


def test_lstm_short_budget_trains_a_plain_network():
    options, config = preset("lstm", SHAKESPEARE, 60)
    assert options["n_hidden"] == 192 and options["dropout"] == 0 and "n_embd" not in options
    assert config.weight_decay == 0 and config.lr == 5e-3 and config.min_lr_ratio == 0
    assert config.warmup_steps == 200  # a gentle start: some initial weights go astray at the full rate


def test_lstm_longer_budget_adds_weight_decay_not_dropout():
    options, config = preset("lstm", SHAKESPEARE, 180)
    assert options == {"n_layer": 2, "n_hidden": 192, "dropout": 0.0, "n_embd": 64}
    assert config.weight_decay == 0.05 and config.lr == 5e-3
    big, big_config = preset("lstm", SHAKESPEARE, 1200)
    assert big["n_hidden"] == 256 and big_config.lr < config.lr


def test_small_corpus_gets_more_dropout_and_then_a_smaller_network():
    assert preset("lstm", 150_000, 180)[0]["dropout"] == 0.2  # ~50 passes
    tiny, _ = preset("lstm", 20_000, 180)  # hundreds of passes: it would learn the text by heart
    assert tiny["dropout"] == 0.2 and tiny["n_hidden"] == 128


def test_a_step_budget_picks_the_row_those_steps_take():
    short, _ = preset("lstm", SHAKESPEARE, None, max_steps=1000)  # ~25 s of steps
    long, config = preset("lstm", SHAKESPEARE, None, max_steps=8000)  # ~190 s
    assert "n_embd" not in short and long["n_embd"] == 64 and config.weight_decay > 0 and config.max_steps == 8000
