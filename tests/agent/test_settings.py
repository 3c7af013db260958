from pathlib import Path

import pytest

from agent.settings import AgentSettings
from agent.settings_file import ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "agent.yaml"


def test_example_config_loads() -> None:
    settings = load_settings(AgentSettings, EXAMPLE)
    assert settings.collectors
    assert settings.labels.system
    assert settings.checks.files


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("host: from-file\ninterval_seconds: 30\nlabels: {site: north}\n")
    monkeypatch.setenv("WARDWATCH_AGENT_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("WARDWATCH_AGENT_LABELS__SITE", "south")
    settings = load_settings(AgentSettings, path)
    assert settings.host == "from-file"
    assert settings.interval_seconds == 5
    assert settings.labels.site == "south"


def test_hostname_is_the_default_host() -> None:
    import socket

    assert load_settings(AgentSettings, None).host == socket.gethostname()


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("colectors: [http://x]\n", "colectors"),
        ("checks: {ports: [{name: db, target: 'db.local'}]}\n", "checks.ports.0.target"),
        ("checks: {processes: [{name: db}]}\n", "checks.processes.0"),
        (
            "checks: {processes: [{name: db, cmdline_regex: '(unclosed'}]}\n",
            "checks.processes.0.cmdline_regex",
        ),
        ("collectors: [ftp://x]\n", "collectors"),
        ("host: 'bad host!'\n", "host"),
        ("tls: {ca_file: /nonexistent/ca.pem}\n", "tls.ca_file"),
        ("interval_seconds: 0\n", "interval_seconds"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, yaml_text: str, field: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(AgentSettings, path)
    assert str(path) in str(info.value)
    assert f": {field}:" in str(info.value) or f": {field}." in str(info.value)


def test_token_is_hidden_in_repr(make_settings) -> None:
    settings = make_settings()
    assert settings.token.get_secret_value() not in repr(settings)
    assert settings.token.get_secret_value() not in str(settings.model_dump())


@pytest.mark.parametrize("token", ["has space", "line\nbreak", "中文"])
def test_a_token_that_cannot_go_in_a_header_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(AgentSettings, None, token=token)
    assert ": token: " in str(info.value)
    assert token not in str(info.value)
