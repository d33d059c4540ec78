"""The example corpora's checkers: the real files score 1, damaged text less, nothing outside 0..1."""

import importlib.util
import random
from pathlib import Path

import pytest

from charrnn.checkers import CHECKERS, check_arithmetic, check_brackets, check_sanity, check_weather
from charrnn.corpus import fold_ascii

EXAMPLES = Path(__file__).resolve().parent.parent / "examples_corpora"


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.txt").read_text(encoding="utf-8")


def damage_every_other_line(text: str, damage) -> str:
    lines = text.split("\n")
    return "\n".join(damage(line) if i % 2 else line for i, line in enumerate(lines))


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_each_example_file_scores_one(name):
    assert CHECKERS[name](example(name)) == 1.0


def test_generate_py_writes_the_example_files_from_the_package_word_lists():
    spec = importlib.util.spec_from_file_location("generate", EXAMPLES / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert sorted(generate.CORPORA) == sorted(CHECKERS)  # every example has a checker
    for name, make in generate.CORPORA.items():
        assert make() == example(name), name


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_empty_or_cut_text_scores_zero(name):
    assert CHECKERS[name]("") == 0.0
    assert CHECKERS[name]("\n\n\n") == 0.0
    assert CHECKERS[name]("!?" * 40) == 0.0


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_scores_stay_within_zero_and_one_on_junk_made_of_the_corpus_characters(name):
    rng = random.Random(0)
    alphabet = sorted(set(example(name)))
    for _ in range(50):
        score = CHECKERS[name]("".join(rng.choices(alphabet, k=rng.randint(0, 300))))
        assert 0.0 <= score <= 1.0


def test_sanity_counts_the_four_lines_only():
    assert check_sanity("cut\nthe cat sat on the mat.\nwe sing a long song.\ncut") == 1.0
    assert check_sanity("cut\nthe cat sat on the mat.\nthe dog sat on the mat.\ncut") == 0.5
    damaged = damage_every_other_line(example("sanity"), lambda line: line.replace("a", "o", 1))
    assert check_sanity(damaged) == pytest.approx(0.5, abs=0.01)


def test_brackets_needs_balance_and_the_right_closer():
    assert check_brackets("cut\n([]{})\n(((])))\n)(\n(()\ncut") == 0.25  # only the first is balanced
    assert check_brackets("(]\n") == 0.0  # the first line may be cut: nothing whole to judge
    damaged = damage_every_other_line(example("brackets"), lambda line: line[:-1] + "(")
    assert check_brackets(damaged) == pytest.approx(0.5, abs=0.01)


def test_arithmetic_scores_the_sums_of_well_formed_lines():
    assert check_arithmetic("12+5=17\n9-9=0\n40+2=43\n") == pytest.approx(2 / 3)
    assert check_arithmetic("12+5=17\n12+5=\nseventeen\n") == 1.0  # malformed lines are not counted
    wrong = damage_every_other_line(example("arithmetic"), lambda line: line + "1")
    assert check_arithmetic(wrong) == pytest.approx(0.5, abs=0.01)


def test_weather_needs_the_template_the_words_and_the_ranges():
    good = "Monday in Zürich: snow showers, -3°C, wind from the north at 12 km/h."
    assert check_weather(f"cut\n{good}\ncut") == 1.0
    assert check_weather(f"cut\n{fold_ascii(good)}\ncut") == 1.0  # "Zurich", "degC"
    for bad in [good.replace("-3", "20"),  # too warm for snow
                good.replace("12 km", "61 km"), good.replace("12 km", "012 km"),
                good.replace("Zürich", "Zürichen"), good.replace("north", "up"), good.replace("Monday", "Moonday"),
                good.replace(", wind", " wind"), good[:-1]]:
        assert check_weather(f"cut\n{bad}\ncut") == 0.0, bad
    assert check_weather(fold_ascii(example("weather"))) == 1.0
    damaged = damage_every_other_line(example("weather"), lambda line: line.replace(" in ", " at ", 1))
    assert check_weather(damaged) == pytest.approx(0.5, abs=0.01)
