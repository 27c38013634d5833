"""What counts as credential-shaped in a gateway's labels (loadkit.core.redact)."""

import pytest

from loadkit.core.redact import REDACTED, error_key, redact


@pytest.mark.parametrize("text", ["sk-live-DO-NOT-SHOW", "key-abc123def", "sess_9f8e7d6c", "Bearer abc",
                                  "xK9" * 11])
def test_credential_shaped_runs_are_redacted(text):
    assert redact(f"code {text} end") == f"code {REDACTED} end"


@pytest.mark.parametrize("label", ["hostile-key-http-code", "api-key-invalid", "session_expired",
                                   "context_length_exceeded_for_this_model_please_shorten"])
def test_labels_made_of_words_are_kept(label):
    assert redact(label) == label
    assert error_key("http_400", label) == f"http_400:{label}"


def test_long_text_is_redacted_exactly_like_its_lines_one_by_one():
    # a kept answer longer than the fast path's threshold: the same verdict on every run of characters
    import random

    rng = random.Random(7)
    pieces = ["hello", "world,", "sk-live-0123456789abcdef", "key-http-code", "key-abc123def", "(sess_9f8e7d6c)",
              "a" * 40, "xK9" * 12, "Bearer abc.def", "tok", "9" * 33, "path/to+file_name-with-dashes-and-2-digits-x",
              "\u00e9t\u00e9", "{\"k\": 1}", "-", "sk-", "context_length_exceeded_for_this_model_ok"]
    lines = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(400)]
    text = "\n".join(lines)
    assert len(text) > 5000
    assert redact(text) == "\n".join(redact(line) for line in lines)
    assert redact(text).count(REDACTED) > 100


def test_a_megabyte_run_is_judged_whole():
    assert redact("x" * 2_000_000) == "x" * 2_000_000
    assert redact("see " + "x" * 2_000_000 + "7 end") == f"see {REDACTED} end"
