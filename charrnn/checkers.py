"""Score what a model wrote after training on one of the example corpora (`examples_corpora/`).

Each example has checkable structure, and its checker measures how much of a sample respects it:
a number from 0 (none) to 1 (all), so that models can be compared on what they learned rather than
on their loss alone. `CHECKERS` maps each example's name to its checker:

    score = CHECKERS["brackets"](sample)        # 0..1

The vocabularies of the templated examples live here, and `examples_corpora/generate.py` writes the
corpora from them, so a checker and its corpus cannot drift apart. A sample usually starts and stops in
the middle of a line, so the line-based checkers skip the first and last line of the sample; a sample
with no whole line to judge scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from unidecode import unidecode

SANITY_LINES = [
    "the cat sat on the mat.",
    "a dog ran in the fog.",
    "my hat is red and flat.",
    "we sing a long song.",
]

CITIES = ["Oslo", "Zürich", "Québec", "São Paulo", "Kraków", "Reykjavík", "Lyon", "Málaga", "Tromsø",
          "Dublin", "Nairobi", "Córdoba", "Gdańsk", "Porto", "Genève", "Århus"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SKIES = ["clear skies", "light rain", "heavy rain", "fog in the morning", "scattered clouds", "snow showers",
         "sunshine", "a thunderstorm in the evening", "drizzle", "overcast"]
WINDS = ["north", "south", "east", "west", "north-west", "south-east"]
SNOW_TEMPERATURES = range(-12, 4)  # °C, when the sky has snow in it
TEMPERATURES = range(-2, 32)  # °C, otherwise
WIND_SPEEDS = range(0, 61)  # km/h


def _whole_lines(text: str) -> list[str]:
    """The non-empty lines of `text` but its first and last, which a sample may have cut."""
    return [line for line in text.split("\n")[1:-1] if line]


def check_sanity(text: str) -> float:
    """Share of the whole lines in `text` that are one of the four lines of the sanity corpus, 0..1."""
    lines = _whole_lines(text)
    return sum(line in SANITY_LINES for line in lines) / max(len(lines), 1)


def check_brackets(text: str) -> float:
    """Share of the whole lines in `text` that are balanced sequences of (), [] and {}, 0..1.

    Balance needs a memory of every bracket still open, possibly many characters back."""
    pairs = {")": "(", "]": "[", "}": "{"}
    lines = _whole_lines(text)
    ok = 0
    for line in lines:
        stack = []
        for c in line:
            if c in "([{":
                stack.append(c)
            elif c in pairs and stack and stack[-1] == pairs[c]:
                stack.pop()
            else:
                break
        else:
            ok += not stack
    return ok / max(len(lines), 1)


def check_arithmetic(text: str) -> float:
    """Share of the well-formed lines "a+b=c" / "a-b=c" in `text` whose answer is right, 0..1.

    Lines of any other form are not counted: this scores the sums, not the format (every model learns
    the format quickly). Unlike the other checkers it judges every line, the first and last included."""
    lines = re.findall(r"^(\d+)([+-])(\d+)=(\d+)$", text, flags=re.M)
    right = sum(int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b)) for a, op, b, c in lines)
    return right / max(len(lines), 1)


def _either(words: list[str]) -> str:
    """Regex alternation of `words` and their ASCII folds (a model may be trained on a folded corpus)."""
    forms = {form for word in words for form in (word, unidecode(word))}
    return "|".join(re.escape(form) for form in sorted(forms))


_WEATHER_LINE = re.compile(
    rf"(?:{_either(DAYS)}) in (?:{_either(CITIES)}): (?P<sky>{_either(SKIES)}), (?P<temp>0|-?[1-9]\d*)"
    rf"(?:{_either(['°C'])}), wind from the (?:{_either(WINDS)}) at (?P<speed>0|[1-9]\d*) km/h\.")


def check_weather(text: str) -> float:
    """Share of the whole lines in `text` that the weather generator could have written, 0..1.

    A line must follow the template with a known day, city, sky and wind direction (accented or folded
    to ASCII: "Zürich" or "Zurich", "°C" or "degC"), a temperature in the range the sky allows (snow
    means -12..3 °C, which the model must remember from earlier in the line; else -2..31) and a wind
    speed of 0..60 km/h."""
    lines = _whole_lines(text)
    ok = 0
    for line in lines:
        match = _WEATHER_LINE.fullmatch(line)
        if match:
            allowed = SNOW_TEMPERATURES if "snow" in match["sky"] else TEMPERATURES
            ok += int(match["temp"]) in allowed and int(match["speed"]) in WIND_SPEEDS
    return ok / max(len(lines), 1)


CHECKERS: dict[str, Callable[[str], float]] = {
    "sanity": check_sanity,
    "brackets": check_brackets,
    "arithmetic": check_arithmetic,
    "weather": check_weather,
}
