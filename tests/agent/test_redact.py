"""URLs as the agent reports and logs them: no userinfo, no secret query values, no fragment."""

import pytest

from agent.redact import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://emr.local/health", "https://emr.local/health"),
        ("https://monitor:Pa55@emr.local:8443/health", "https://emr.local:8443/health"),
        ("http://monitor@emr.local/", "http://emr.local/"),
        ("http://u:p@ss@emr.local/x", "http://emr.local/x"),  # an unescaped @ in the password
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://u:p@[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://h/a@b/c", "https://h/a@b/c"),  # an @ in the path is not userinfo
        ("https://h/p?ward=5&token=abc", "https://h/p?ward=5&token=REDACTED"),
        (
            "https://h/p?access_token=a&API_KEY=b&apikey=c",
            "https://h/p?access_token=REDACTED&API_KEY=REDACTED&apikey=REDACTED",
        ),
        (
            "https://h/p?X-Amz-Signature=a&X-Amz-Credential=b",
            "https://h/p?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED",
        ),
        ("https://h/p?password=a;sig=b;page=2", "https://h/p?password=REDACTED;sig=REDACTED;page=2"),
        ("https://h/p?client%5Fsecret=a", "https://h/p?client%5Fsecret=REDACTED"),
        ("https://h/p?page=2&q=", "https://h/p?page=2&q="),
        ("https://h/p?flag", "https://h/p?flag"),
        ("https://h/p#access_token=abc", "https://h/p"),  # the fragment is never sent: not reported
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent: the collector applies it again


def test_an_unparsable_url_is_not_echoed() -> None:
    assert "pw" not in redact_url("http://u:pw@[::1/x")
