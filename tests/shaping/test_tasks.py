"""Task checks on fixed strings: a pass and a fail for every category."""

import pytest

from loadkit.client.chat import ChatRequest
from loadkit.core.records import RequestRecord
from loadkit.workload.tasks import apply, check

SOURCE = " ".join(["word"] * 40)


def req(category, expected=None, user="question"):
    return ChatRequest("m", [{"role": "system", "content": "sys"}, {"role": "user", "content": user}],
                       category=category, expected=expected)


CASES = [
    ("code", "solution", "Here you go:\n```python\ndef solution(xs):\n    return sum(xs)\n```", True),
    ("code", "solution", "def helper(xs): pass", False),
    ("code", "solution", "You can use the builtin sum function for this.", False),
    ("code", None, "def add(a, b):\n    return a + b", True),
    ("code", None, "Use a loop.", False),
    ("math", "42", "The answer is 42 ", True),
    ("math", "42", "The answer is 42.", True),
    ("math", "-7", "It comes to -7 in the end", True),
    ("math", "1000", "That is 1,000 exactly", True),
    ("math", "2.5", "2.50", True),
    ("math", "42", "The answer is 423", False),
    ("math", "42", "The answer is 43", False),
    ("math", "42", "No idea", False),
    ("factual", "Paris", "the capital is paris, of course", True),
    ("factual", "carbon dioxide", "Plants take in Carbon\n Dioxide", True),
    ("factual", "Paris", "It is Lyon", False),
    ("creative", None, " ".join(["Once upon a time"] * 5), True),
    ("creative", None, "I can't help with that " + " ".join(["request"] * 30), False),
    ("creative", None, "I can\u2019t help with that request, sorry.", False),
    ("creative", None, "Too short to be a story.", False),
]


@pytest.mark.parametrize("category, expected, content, passed", CASES)
def test_check_fixed_strings(category, expected, content, passed):
    assert check(category, req(category, expected), content) is passed


def test_summary_must_be_shorter_than_its_source():
    r = req("summarization", user=SOURCE)
    assert check("summarization", r, " ".join(["short"] * 39)) is True
    assert check("summarization", r, " ".join(["long"] * 40)) is False
    assert check("summarization", r, "") is False


def test_unknown_category_missing_content_or_expected_is_not_checkable():
    assert check("generic", req("generic"), "anything") is None
    assert check("code", req("code"), None) is None
    assert check("math", req("math", None), "42") is None
    assert check("factual", req("factual", None), "Paris") is None
    assert check("math", req("math", "forty-two"), "42") is None


def test_apply_sets_task_ok_only_for_ok_final_records_and_drops_content():
    r = req("math", "42")
    ok = RequestRecord(model="m", category="math", outcome="ok", content="The answer is 42")
    assert apply(ok, r) is True and ok.task_ok is True and ok.content is None
    failed = RequestRecord(model="m", category="math", outcome="upstream_error", content="The answer is 42")
    assert apply(failed, r) is None and failed.task_ok is None


def test_a_summary_cut_off_by_max_tokens_fails():
    r = req("summarization", user=SOURCE)
    cut = RequestRecord(model="m", category="summarization", outcome="ok", content="short " * 10, finish_reason="length")
    assert apply(cut, r) is False
    done = RequestRecord(model="m", category="summarization", outcome="ok", content="short " * 10, finish_reason="stop")
    assert apply(done, r) is True
