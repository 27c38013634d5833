"""Settings: one name across flag, env var and file; precedence; clear errors; secrets never shown."""

import pytest

from loadkit.settings import FIELDS, env_name, flag_name, load_settings, parse_duration_s, redact
from loadkit.errors import ConfigError


def test_precedence_is_defaults_then_file_then_env_then_flag(tmp_path):
    cfg = tmp_path / "loadkit.toml"
    cfg.write_text('users = 3\nmax_tokens = 64\nmodels = ["gpt-4o-mini"]\n')
    s = load_settings({"users": "7"}, env={"LOADKIT_USERS": "5", "LOADKIT_MAX_TOKENS": "32"}, config_file=cfg)
    assert (s.users, s.max_tokens, s.models) == (7, 32, ["gpt-4o-mini"])
    s = load_settings({}, env={"LOADKIT_USERS": "5"}, config_file=cfg)
    assert (s.users, s.max_tokens) == (5, 64)


def test_every_setting_has_one_name_across_flag_env_and_file():
    for f in FIELDS:
        assert env_name(f.name) == "LOADKIT_" + f.name.upper()
        assert flag_name(f.name) == "--" + f.name.replace("_", "-")


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25)])
def test_durations(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("env, message", [
    ({"LOADKIT_USERS": "-1"}, "users = '-1' is invalid"),
    ({"LOADKIT_RUN_TIME": "soon"}, "run_time = 'soon' is invalid"),
    ({"LOADKIT_HOST": "gateway.example/v1"}, "no http:// or https:// scheme"),
    ({"LOADKIT_HOST": "https://gw.example/v1/chat/completions"}, "already ends with /chat/completions"),
    ({"LOADKIT_MODEL_WEIGHTS": "gpt-4o=1"}, "not in models"),
    ({"LOADKIT_TRANSPORT": "curl"}, "is not one of fasthttp, httpx"),
    ({"LOADKIT_ARRIVAL": "poisson"}, "needs a rate"),
    ({"LOADKIT_INFLUX_URL": "http://influx:8086"}, "neither influx_bucket"),
    ({"LOADKIT_API_KEY": "sk-abc\n"}, "contains whitespace"),
])
def test_bad_values_are_one_clear_error(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_settings({}, env=env)
    assert "\n" not in str(info.value)


def test_api_key_is_refused_in_a_config_file_and_never_echoed(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('api_key = "sk-secret-123"\n')
    with pytest.raises(ConfigError, match="must not be in a config file") as info:
        load_settings({}, env={}, config_file=cfg)
    assert "sk-secret-123" not in str(info.value)


def test_key_file_with_trailing_newline_is_read(tmp_path):
    key = tmp_path / "key"
    key.write_text("sk-from-file-42\n")
    assert load_settings({"api_key_file": str(key)}, env={}).api_key == "sk-from-file-42"


def test_repr_and_redact_never_show_secrets():
    s = load_settings({}, env={"LOADKIT_API_KEY": "sk-abcdef", "LOADKIT_INFLUX_TOKEN": "tok-xyz1"})
    assert "sk-abcdef" not in repr(s) and "tok-xyz1" not in repr(s)
    assert redact("key sk-abcdef token tok-xyz1", ["sk-abcdef", "tok-xyz1"]) == "key <redacted> token <redacted>"


def test_unknown_setting_in_file_names_the_known_ones(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("userz = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'userz'"):
        load_settings({}, env={}, config_file=cfg)


def test_a_flag_that_sets_a_setting_back_to_its_default_reaches_a_child_that_inherited_the_variable():
    # LOADKIT_UNTRUSTED_EXIT_CODE=0 in the environment, --untrusted-exit-code 3 (the default) on the command line
    s = load_settings({"untrusted_exit_code": "3"}, env={"LOADKIT_UNTRUSTED_EXIT_CODE": "0"})
    assert s.untrusted_exit_code == 3
    assert "LOADKIT_UNTRUSTED_EXIT_CODE" not in s.to_env()  # only non-defaults, by default
    assert s.to_env(also=["untrusted_exit_code"])["LOADKIT_UNTRUSTED_EXIT_CODE"] == "3"
    assert load_settings({}, env=s.to_env(also=["untrusted_exit_code", "models"])) == s
