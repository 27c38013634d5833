"""Length distributions: means and shapes from seeded draws, and config errors."""

import random
import statistics

import pytest
from scipy import stats as sstats

from loadkit.errors import ConfigError
from loadkit.workload import parse_distribution

N = 20_000


def draws(spec, n=N, seed=1, base_dir=None):
    d = parse_distribution(spec, "test", base_dir)
    rng = random.Random(seed)
    return d, [d.sample(rng) for _ in range(n)]


def test_fixed_always_gives_its_value():
    _, xs = draws("fixed:128", n=100)
    assert set(xs) == {128}


def test_a_bare_number_is_fixed():
    d = parse_distribution(64, "test")
    assert d.kind == "fixed" and d.sample(random.Random(0)) == 64


def test_uniform_covers_both_ends_evenly():
    _, xs = draws({"dist": "uniform", "low": 10, "high": 19})
    assert min(xs) == 10 and max(xs) == 19
    counts = [xs.count(v) for v in range(10, 20)]
    assert sstats.chisquare(counts).pvalue > 0.001


def test_normal_mean_and_sd():
    _, xs = draws("normal:500,50")
    assert statistics.fmean(xs) == pytest.approx(500, rel=0.01)
    assert statistics.pstdev(xs) == pytest.approx(50, rel=0.05)


def test_lognormal_mean_sd_are_of_the_values_and_tail_is_right_skewed():
    _, xs = draws("lognormal:300,150", n=50_000)
    assert statistics.fmean(xs) == pytest.approx(300, rel=0.02)
    assert statistics.pstdev(xs) == pytest.approx(150, rel=0.06)
    assert statistics.median(xs) < statistics.fmean(xs)  # right tail
    assert sstats.skew(xs) > 1.0


def test_normal_is_clipped_to_min():
    _, xs = draws({"dist": "normal", "mean": 5, "sd": 20, "min": 1, "max": 30})
    assert min(xs) == 1 and max(xs) == 30


def test_empirical_file_draws_only_its_values_in_proportion(tmp_path):
    f = tmp_path / "lens.txt"
    f.write_text("# token counts\n100\n100\n300\n\n")
    d, xs = draws({"dist": "empirical", "file": "lens.txt"}, base_dir=tmp_path)
    assert set(xs) == {100, 300}
    assert xs.count(100) / len(xs) == pytest.approx(2 / 3, abs=0.015)
    assert d.mean == pytest.approx(500 / 3)


def test_empirical_json_list(tmp_path):
    f = tmp_path / "lens.json"
    f.write_text("[10, 20, 30]")
    _, xs = draws(f"empirical:{f}", n=300)
    assert set(xs) == {10, 20, 30}


@pytest.mark.parametrize(
    "spec, words",
    [
        ("gamma:1,2", "not a distribution"),
        ("normal:100", "needs normal:MEAN,SD"),
        ({"dist": "uniform", "low": 20, "high": 10}, "low <= high"),
        ({"dist": "normal", "mean": 10, "sd": -1}, "sd = -1 is negative"),
        ({"dist": "lognormal", "mean": 0, "sd": 1}, "must be > 0"),
        ({"dist": "fixed", "value": "lots"}, "'lots' is not a number"),
        ({"dist": "fixed", "value": 5, "median": 3}, "not median"),
        ({"dist": "fixed", "value": 5, "min": 10, "max": 2}, "not a valid range"),
    ],
)
def test_bad_distribution_is_a_config_error_naming_the_problem(spec, words):
    with pytest.raises(ConfigError, match="test") as err:
        parse_distribution(spec, "test")
    assert words in str(err.value)


def test_empirical_errors_name_file_and_line(tmp_path):
    f = tmp_path / "lens.txt"
    f.write_text("100\nabc\n")
    with pytest.raises(ConfigError, match=r"lens.txt line 2.*'abc' is not a number"):
        parse_distribution(f"empirical:{f}", "test")
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_distribution(f"empirical:{tmp_path / 'missing.txt'}", "test")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no numbers"):
        parse_distribution(f"empirical:{tmp_path / 'empty.txt'}", "test")
