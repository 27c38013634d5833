"""Workload: prompt sizes, categories, model mix, user prompt sets, headers."""

import json
import random
from collections import Counter

import pytest

from loadkit.client.chat import estimate_tokens
from loadkit.settings import Settings
from loadkit.errors import ConfigError
from loadkit.workload import Workload, build_prompt
from loadkit.workload.tasks import CATEGORIES

SETTINGS = Settings(models=["claude-4-haiku", "gpt-4o-mini"])


def input_tokens(req):
    return estimate_tokens(" " * req.input_chars())


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("target", [50, 200, 1000, 4000])
def test_prompt_hits_its_target_input_tokens_within_10_percent(category, target):
    rng = random.Random(target)
    for _ in range(20):
        messages, _ = build_prompt(category, target, rng)
        got = estimate_tokens(" " * sum(len(m["content"]) for m in messages))
        assert abs(got - target) <= 0.1 * target, (category, target, got)


def test_workload_input_tokens_follow_the_configured_distribution():
    w = Workload(SETTINGS, {"categories": {c: {"weight": 1 if c == "factual" else 0} for c in CATEGORIES}
                            | {"factual": {"input_tokens": "fixed:300", "max_tokens": "uniform:32,64"}}})
    rng = random.Random(3)
    reqs = [w.next_request(rng) for _ in range(200)]
    assert {r.category for r in reqs} == {"factual"}
    assert all(abs(input_tokens(r) - 300) <= 30 for r in reqs)
    assert {r.max_tokens for r in reqs} <= set(range(32, 65)) and len({r.max_tokens for r in reqs}) > 20


def test_category_weights_hold_within_sampling_error():
    weights = {"code": 4, "summarization": 1, "factual": 2, "creative": 0, "math": 3}
    w = Workload(SETTINGS, {"categories": {c: {"weight": v, "input_tokens": 20} for c, v in weights.items()}})
    rng = random.Random(11)
    n = 20_000
    counts = Counter(w.next_request(rng).category for _ in range(n))
    total = sum(weights.values())
    for c, v in weights.items():
        p = v / total
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(counts[c] / n - p) <= 4 * sd + 1e-12, (c, counts[c])
    assert counts["creative"] == 0


def test_model_weights_hold_within_sampling_error():
    s = Settings(models=["a", "b", "c"], model_weights={"a": 1, "b": 3, "c": 0})
    w = Workload(s, {"categories": {c: {"input_tokens": 10} for c in CATEGORIES}})
    rng = random.Random(5)
    n = 20_000
    counts = Counter(w.next_request(rng).model for _ in range(n))
    assert counts["c"] == 0
    sd = (0.25 * 0.75 / n) ** 0.5
    assert abs(counts["a"] / n - 0.25) <= 4 * sd


def test_paired_mode_sends_every_prompt_to_every_model_in_order():
    s = Settings(models=["m1", "m2", "m3"])
    w = Workload(s, {"model_mix": "paired"})
    rng = random.Random(2)
    reqs = [w.next_request(rng) for _ in range(12)]
    assert [r.model for r in reqs] == ["m1", "m2", "m3"] * 4
    for i in range(0, 12, 3):
        group = reqs[i:i + 3]
        assert group[0].messages == group[1].messages == group[2].messages
        assert len({r.category for r in group}) == 1 and len({r.max_tokens for r in group}) == 1
        assert group[0].messages is not group[1].messages  # no shared mutable state
    assert reqs[0].messages != reqs[3].messages


def test_math_prompt_expected_is_the_value_of_its_expression():
    rng = random.Random(9)
    for _ in range(200):
        messages, expected = build_prompt("math", 40, rng)
        text = messages[-1]["content"]
        a, op, b = text.split("?")[0].removeprefix("What is ").split()
        value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b), "/": int(a) / int(b)}[op]
        assert float(expected) == value and "." not in expected


def test_factual_prompt_carries_a_known_answer():
    messages, expected = build_prompt("factual", 100, random.Random(4))
    assert expected and messages[-1]["content"].rstrip().endswith("?")


def test_headers_category_expected_and_keep_content():
    rng = random.Random(1)
    plain = Workload(SETTINGS, {"categories": {c: {"weight": 1 if c == "math" else 0} for c in CATEGORIES}})
    r = plain.next_request(rng)
    assert r.category == "math" and r.expected is not None and r.keep_content
    assert r.extra_headers == {"x-loadkit-task": "math"}
    hinted = Workload(SETTINGS, {"sim_hints": True, "task_checks": False,
                                 "categories": {c: {"weight": 1 if c == "math" else 0} for c in CATEGORIES}})
    r = hinted.next_request(rng)
    assert r.extra_headers == {"x-loadkit-task": "math", "x-loadkit-expect": r.expected}
    assert not r.keep_content


def test_max_tokens_default_is_the_settings_value_and_stream_follows_settings():
    w = Workload(Settings(models=["m"], max_tokens=77, stream=False))
    r = w.next_request(random.Random(0))
    assert r.max_tokens == 77 and r.stream is False


def test_jsonl_prompt_set_is_used_with_categories_and_expected(tmp_path):
    f = tmp_path / "p.jsonl"
    lines = [
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
         "category": "math", "expected": 4},
        {"prompt": "Tell me a story"},
        {"prompt": "Capital of Peru?", "category": "factual", "expected": "Lima", "max_tokens": 9},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    w = Workload(Settings(models=["m"]), {"prompts_file": str(f), "sim_hints": True})
    rng = random.Random(0)
    seen = {}
    for _ in range(60):
        r = w.next_request(rng)
        seen[r.category] = r
    assert set(seen) == {"math", "generic", "factual"}
    assert seen["math"].expected == "4" and seen["math"].messages[0] == {"role": "system", "content": "be brief"}
    assert seen["generic"].messages == [{"role": "user", "content": "Tell me a story"}]
    assert seen["generic"].extra_headers == {} and not seen["generic"].keep_content
    assert seen["factual"].max_tokens == 9 and seen["factual"].extra_headers["x-loadkit-expect"] == "Lima"


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"text": "hi"}', 'needs "messages"'),
        ('{"messages": []}', "non-empty list"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "message 0 must be an object with \"role\""),
        ('{"messages": [{"role": "user"}]}', "message 0 must be an object"),
        ('{"prompt": ""}', "non-empty string"),
        ('{"prompt": "x", "category": 5}', '"category" must be'),
        ('{"prompt": "x", "expected": [1]}', '"expected" must be'),
        ('{"prompt": "x", "max_tokens": 0}', '"max_tokens" must be'),
    ],
)
def test_malformed_jsonl_names_file_line_and_reason(tmp_path, line, reason):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"prompt": "fine"}\n\n' + line + "\n")
    with pytest.raises(ConfigError) as err:
        Workload(SETTINGS, {"prompts_file": str(f)})
    msg = str(err.value)
    assert "bad.jsonl line 3" in msg and reason in msg


def test_unreadable_or_empty_prompt_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.jsonl: cannot be read"):
        Workload(SETTINGS, {"prompts_file": str(tmp_path / "missing.jsonl")})
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ConfigError, match="holds no prompts"):
        Workload(SETTINGS, {"prompts_file": str(tmp_path / "empty.jsonl")})


def test_workload_table_from_toml_with_relative_paths(tmp_path):
    (tmp_path / "lens.txt").write_text("120\n")
    (tmp_path / "lk.toml").write_text(
        '[loadkit]\nmodels = ["m"]\n\n[workload]\nmodel_mix = "weights"\n'
        '[workload.categories.creative]\nweight = 1\ninput_tokens = {dist = "empirical", file = "lens.txt"}\n'
        '[workload.categories.code]\nweight = 0\n[workload.categories.math]\nweight = 0\n'
        '[workload.categories.factual]\nweight = 0\n[workload.categories.summarization]\nweight = 0\n'
    )
    w = Workload.from_toml(Settings(models=["m"]), tmp_path / "lk.toml")
    r = w.next_request(random.Random(0))
    assert r.category == "creative" and abs(input_tokens(r) - 120) <= 12


@pytest.mark.parametrize(
    "config, words",
    [
        ({"model_mix": "roundrobin"}, "model_mix"),
        ({"colour": "blue"}, "unknown key(s) colour"),
        ({"categories": {"poetry": {}}}, "poetry"),
        ({"categories": {"code": {"weight": -1}}}, "negative"),
        ({"categories": {"code": {"wieght": 1}}}, "wieght"),
        ({"categories": {c: {"weight": 0} for c in CATEGORIES}}, "weight 0"),
        ({"task_checks": "maybe"}, "true or false"),
    ],
)
def test_bad_workload_config_is_a_config_error(config, words):
    with pytest.raises(ConfigError) as err:
        Workload(SETTINGS, config)
    assert words in str(err.value)


def test_from_settings_reads_the_workload_file_and_hints_only_the_embedded_simulator(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text('[workload]\nmodel_mix = "paired"\n')
    w = Workload.from_settings(Settings(models=["a", "b"]), env={"LOADKIT_WORKLOAD": str(f)})
    assert w.model_mix == "paired" and w.sim_hints is True
    w = Workload.from_settings(Settings(models=["a"], host="https://gw.example/v1"), env={})
    assert w.model_mix == "weights" and w.sim_hints is False
