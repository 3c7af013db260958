import dataclasses
import typing
from pathlib import Path

import pydantic
import pytest

from agent.config import AgentConfig
from agent.settings import AgentSettings
from agent.settings_file import ConfigError, load_settings
from tests.agent.conftest import TOKEN, runtime_config

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
        # Values copied into every report must fit the wire format (255 characters), or every report is refused.
        (f"labels: {{site: {'x' * 256}}}\n", "labels.site"),
        (f"parent: {'s' * 256}\n", "parent"),
        (f"checks: {{http: [{{name: web, url: 'http://h/{'p' * 250}'}}]}}\n", "checks.http.0.url"),
        (f"checks: {{files: [{{name: b, glob: '/{'d' * 255}'}}]}}\n", "checks.files.0.glob"),
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
    validated = load_settings(AgentSettings, None, token=TOKEN)
    assert validated.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(validated)
    assert TOKEN not in str(validated.model_dump())
    running = make_settings()  # what the running agent holds
    assert running.token == TOKEN
    assert TOKEN not in repr(running) and TOKEN not in str(running)


@pytest.mark.parametrize("token", ["has space", "line\nbreak", "中文"])
def test_a_token_that_cannot_go_in_a_header_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(AgentSettings, None, token=token)
    assert ": token: " in str(info.value)
    assert token not in str(info.value)


def _field_tree(cls: type) -> dict[str, object]:
    """Field names, recursively, of a pydantic model or a dataclass (through lists, tuples and Optional)."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
    else:
        hints = {name: f.annotation for name, f in cls.model_fields.items()}
        names = list(hints)
    tree: dict[str, object] = {}
    for name in names:
        inner = hints[name]
        while typing.get_args(inner) and not isinstance(inner, type):
            inner = next(a for a in typing.get_args(inner) if a is not type(None) and a is not Ellipsis)
        nested = isinstance(inner, type) and (
            dataclasses.is_dataclass(inner) or issubclass(inner, pydantic.BaseModel)
        )
        tree[name] = _field_tree(inner) if nested else None
    return tree


def test_the_running_config_mirrors_every_setting() -> None:
    """A setting added to agent/settings.py must reach the running agent (agent/config.py) too."""
    assert _field_tree(AgentConfig) == _field_tree(AgentSettings)


def test_the_running_config_has_the_validated_values(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not parsed here")
    settings = load_settings(
        AgentSettings,
        EXAMPLE,
        token=TOKEN,
        parent="core-sw-01",
        tls={"ca_file": ca},
        checks={
            "ports": [{"name": "db", "target": "[::1]:5432"}],
            "http": [{"name": "portal", "url": "https://his/health", "ca_file": ca, "verify_tls": False}],
        },
    )
    config = runtime_config(settings)
    assert config.host == settings.host and config.parent == "core-sw-01"
    assert config.labels.as_dict() == {k: v for k, v in settings.labels.model_dump().items() if v}
    assert config.collectors == tuple(settings.collectors)
    assert config.token == TOKEN
    assert config.interval_seconds == settings.interval_seconds
    assert config.tls.ca_file == ca and config.tls.client_cert_file is None
    assert config.spool.dir == settings.spool.dir
    assert (config.spool.max_bytes, config.spool.max_age_seconds) == (
        settings.spool.max_bytes,
        settings.spool.max_age_seconds,
    )
    assert dataclasses.asdict(config.timeouts) == settings.timeouts.model_dump()
    assert dataclasses.asdict(config.retry) == settings.retry.model_dump()
    (port,) = config.checks.ports
    assert (port.host, port.port) == ("::1", 5432)
    (http,) = config.checks.http
    assert (http.url, http.ca_file, http.verify_tls, http.expect_status) == (
        "https://his/health",
        ca,
        False,
        200,
    )
    assert config.checks.temperatures is settings.checks.temperatures
    assert config.log_level == settings.log_level
    assert config.sending_problems() == []
    assert runtime_config(load_settings(AgentSettings, None)).sending_problems() == [
        "collectors: at least one collector URL is needed to send reports",
        "token: a token is needed to send reports",
    ]


def test_an_http_check_url_is_limited_as_reported_and_its_secrets_are_never_quoted() -> None:
    secret = "s3cret-" + "k" * 240
    long_token = f"https://monitor:pw-9f2@emr.local/health?token={secret}"  # 290 characters, 49 as reported
    validated = load_settings(AgentSettings, None, checks={"http": [{"name": "emr", "url": long_token}]})
    assert validated.checks.http[0].url == long_token  # the request needs all of it
    too_long = f"https://monitor:pw-9f2@emr.local/{'p' * 240}?key={secret}"
    with pytest.raises(ConfigError) as info:
        load_settings(AgentSettings, None, checks={"http": [{"name": "emr", "url": too_long}]})
    assert ": checks.http.0.url: " in str(info.value) and "redacted" in str(info.value)
    assert "pw-9f2" not in str(info.value) and secret not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(AgentSettings, None, collectors=["ftp://agent:pw-9f2@collector.local"])
    assert "pw-9f2" not in str(info.value) and "ftp://collector.local" in str(info.value)
