"""One Settings for every command: one duration parser, typo'd names refused with the closest real one."""

from __future__ import annotations

import pytest

from loadkit.errors import ConfigError
from loadkit.settings import NON_SETTING_ENV, check_environment, load_settings
from loadkit.studies.coldanalysis import parse_duration_s as study_duration_s, parse_gaps


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("1h30m", 5400.0), ("250ms", 0.25), ("2m30s", 150.0)])
def test_every_command_reads_durations_the_same_way(text, seconds):
    assert load_settings({"run_time": text}, env={}).run_time == seconds
    assert load_settings({"coldstart_gaps": f"0,{text}"}, env={}).coldstart_gaps == (0.0, seconds)
    assert study_duration_s(text) == seconds
    assert parse_gaps(f"{text},0") == (0.0, seconds)


@pytest.mark.parametrize("typo, real", [("LOADKIT_USRES", "LOADKIT_USERS"), ("LOADKIT_RUNTIME", "LOADKIT_RUN_TIME"),
                                        ("LOADKIT_INFLUX_BUCKT", "LOADKIT_INFLUX_BUCKET")])
def test_an_unknown_loadkit_variable_names_the_closest_real_one(typo, real):
    with pytest.raises(ConfigError, match=f"unknown environment variable {typo}: did you mean {real}\\?"):
        load_settings({}, env={typo: "1"})


def test_the_variables_loadkit_itself_reads_are_not_typos():
    check_environment({name: "1" for name in NON_SETTING_ENV} | {"LOADKIT_RUN_ID": "x", "OTHER_VAR": "y"})


def test_a_toml_typo_names_the_closest_setting(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('usres = 3\n')
    with pytest.raises(ConfigError, match="unknown setting 'usres'; did you mean 'users'"):
        load_settings({}, env={}, config_file=cfg)


def test_coldstart_settings_come_from_toml_like_any_other(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('coldstart_gaps = ["0", "30s", "1h30m"]\ncoldstart_repeats = 2\n')
    s = load_settings({}, env={"LOADKIT_COLDSTART_FOLLOWUPS": "0"}, config_file=cfg)
    assert (s.coldstart_gaps, s.coldstart_repeats, s.coldstart_followups) == ((0.0, 30.0, 5400.0), 2, 0)


def test_stop_timeout_defaults_to_the_request_timeout_capped_at_120_s():
    assert load_settings({"timeout_s": "30"}, env={}).stop_timeout_s() == 30.0
    assert load_settings({"timeout_s": "10m"}, env={}).stop_timeout_s() == 120.0
    assert load_settings({"stop_timeout": "5s"}, env={}).stop_timeout_s() == 5.0
