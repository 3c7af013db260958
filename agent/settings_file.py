"""Settings from a YAML file plus ``WARDWATCH_*`` environment variables (env wins over the file).

Shared by the agent's and the collector's settings: both are pydantic-settings classes whose YAML
path is chosen at run time (``--config FILE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

S = TypeVar("S", bound=BaseSettings)


class ConfigError(Exception):
    """A configuration file or variable is wrong. The message names the file and field."""


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def describe_validation_error(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{origin}: {field}: {e['msg']}")
    return "\n".join(lines)


def load_settings(cls: type[S], path: Path | None, **overrides: Any) -> S:
    """Build ``cls`` from defaults < YAML file < environment < ``overrides``."""
    data = read_yaml_mapping(path) if path is not None else {}

    class _FromFile(cls):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls_,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _YamlSource(settings_cls, data))

    _FromFile.__name__ = cls.__name__
    _FromFile.__qualname__ = cls.__qualname__
    origin = f"{path} (or its WARDWATCH_ environment variables)" if path else "environment"
    try:
        built = _FromFile(**overrides)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, origin)) from None
    # Hand back an instance of the declared class, not of the private subclass.
    return cls.model_construct(**{name: getattr(built, name) for name in cls.model_fields})
