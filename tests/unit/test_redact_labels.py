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
