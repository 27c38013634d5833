"""Task answers: pass/fail draws and the content rules the client checks against."""

import random
import re

import httpx
import pytest

from loadkit.simulator import content
from tests.support.simproc import start_simulator

SOURCE = "Summarize this: the quick brown fox jumps over the lazy dog again and again today"


def ask(client, sim, category, user_text="hello", expect=None, model="gpt-4o-mini"):
    headers = {"x-loadkit-task": category}
    if expect is not None:
        headers["x-loadkit-expect"] = expect
    body = {"model": model, "messages": [{"role": "user", "content": user_text}]}
    data = client.post(sim.base_url + "/chat/completions", json=body, headers=headers).json()
    return data["choices"][0]["message"]["content"], data["usage"]["completion_tokens"]


def numbers(text):
    return re.findall(r"-?\d+(?:\.\d+)?", text)


def _simulator_with_task_success(spec):
    """A fixed-profile simulator with ``--task-success spec.format(category)`` for every category, and a client."""
    args = ("--profile", "fixed", "--fixed", "tokens=30", "--cold-start-ms", "0", "--seed", "1")
    args += tuple(arg for c in content_categories() for arg in ("--task-success", spec.format(c)))
    with start_simulator(*args) as sim, httpx.Client() as client:
        yield sim, client


@pytest.fixture(scope="module")
def always_pass():
    yield from _simulator_with_task_success("{}=1.0")


@pytest.fixture(scope="module")
def always_fail():
    yield from _simulator_with_task_success("gpt-4o-mini:{}=0")


def content_categories():
    return ("code", "summarization", "factual", "creative", "math")


def test_passing_answers_follow_the_rules(always_pass):
    sim, client = always_pass
    for _ in range(5):
        text, tokens = ask(client, sim, "code")
        assert "def solution(" in text and tokens == 30
        text, _ = ask(client, sim, "math", "What is 12 * 7?")
        assert "84" in numbers(text)
        text, _ = ask(client, sim, "math", "anything", expect="1024")
        assert numbers(text) == ["1024"]
        text, _ = ask(client, sim, "factual", "Capital of France?", expect="Paris")
        assert "paris" in text.lower()
        text, _ = ask(client, sim, "creative", "Write a poem")
        assert len(text.split()) >= 20 and not text.startswith("I can't help with that")


def test_failing_answers_follow_the_rules(always_fail):
    sim, client = always_fail
    for _ in range(5):
        text, tokens = ask(client, sim, "code")
        assert "def" not in text and tokens == 30
        text, _ = ask(client, sim, "math", "What is 12 * 7?")
        assert numbers(text) and "84" not in numbers(text)
        text, _ = ask(client, sim, "math", "anything", expect="4")
        assert numbers(text) and "4" not in text
        text, _ = ask(client, sim, "factual", "Capital of France?", expect="Paris")
        assert "paris" not in text.lower()
        text, _ = ask(client, sim, "creative", "Write a poem")
        assert text.startswith("I can't help with that")


def test_other_models_keep_defaults_when_override_is_model_specific(always_fail):
    sim, client = always_fail
    passes = sum("def solution(" in ask(client, sim, "code", model="gpt-4o")[0] for _ in range(40))
    assert 20 <= passes <= 40  # default 0.8 for gpt-4o


def test_reference_success_rates_match_the_table():
    rng = random.Random(7)
    draws = [content.draw_passes(rng, 0.784) for _ in range(20000)]
    assert abs(sum(draws) / len(draws) - 0.784) < 0.01
    assert all(content.draw_passes(rng, 1.0) for _ in range(1000))
    assert not any(content.draw_passes(rng, 0.0) for _ in range(1000))


@pytest.mark.parametrize(
    "text, expected",
    [("what is 3 + 4", "7"), ("12*7=?", "84"), ("10 / 4", "2.5"), ("9 - 12", "-3"), ("6 x 7", "42"), ("no math", None)],
)
def test_expression_evaluation(text, expected):
    assert content.evaluate_expression(text) == expected


@pytest.mark.parametrize("expected", ["0", "1", "9", "19", "99", "-1", "0.5", "x"])
def test_wrong_number_never_contains_the_expected_one(expected):
    words = content.answer_words("math", False, 10, expected, "")
    assert expected not in " ".join(words)


def test_short_token_budget_truncates_a_passing_answer():
    words = content.answer_words("code", True, 5, None, "")
    assert len(words) == 5 and "def solution(" not in " ".join(words) + " "
    assert content.answer_words("creative", True, 10, None, "")[0] != "I"


def test_filler_has_no_digits_def_or_refusal():
    text = " ".join(content.FILLER_WORDS)
    assert not re.search(r"\d", text) and "def" not in text and "can't" not in text


@pytest.mark.parametrize("p, shorter", [("1.0", True), ("0", False)])
def test_summary_length_rule_when_lengths_are_sampled(p, shorter):
    # In the fixed profile the token count is exact by contract, so the length rule is shown where lengths are sampled.
    with start_simulator("--profile", "zero", "--seed", "1", "--task-success", f"summarization={p}") as sim, \
            httpx.Client() as client:
        for _ in range(5):
            text, tokens = ask(client, sim, "summarization", SOURCE)
            assert (len(text.split()) < len(SOURCE.split())) is shorter and tokens == len(text.split())


def test_fixed_token_count_is_exact_even_for_a_failing_summary():
    with start_simulator("--profile", "fixed", "--fixed", "tokens=10", "--cold-start-ms", "0",
                         "--task-success", "summarization=0") as sim, httpx.Client() as client:
        _, tokens = ask(client, sim, "summarization", SOURCE)
        assert tokens == 10
