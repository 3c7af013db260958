"""Load YAML config so that every problem can name its file, line and field.

``load_yaml(text)`` returns the data together with a map from data path (``("people", 0, "name")``) to the
1-based line where that key or item starts. ``validate_file(Model, path)`` validates a file with a pydantic
model and raises one ``ConfigError`` carrying every problem, each as ``file:line: field: message``.

The loader is ``yaml.SafeLoader`` with one change: YAML 1.1 "sexagesimal" integers are not recognised, so an
unquoted ``20:00`` stays the string ``"20:00"`` instead of becoming the integer 1200.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Path_ = tuple[str | int, ...]
LineMap = dict[Path_, int]

_INT_WITHOUT_SEXAGESIMAL = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)


class LineLoader(yaml.SafeLoader):
    """SafeLoader without sexagesimal integers (``20:00`` is a string)."""


LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
LineLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT_WITHOUT_SEXAGESIMAL, list("-+0123456789"))


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(top level)'}: {self.message}"


class ConfigError(ValueError):
    """A config file is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_yaml(text: str) -> tuple[Any, LineMap]:
    """Parse one YAML document; return the data and the line of every key and list item."""
    data, lines, _ = _load(text)
    return data, lines


def _load(text: str) -> tuple[Any, LineMap, list[tuple[Path_, int, int]]]:
    loader = LineLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: LineMap = {}
    duplicates: list[tuple[Path_, int, int]] = []
    if node is not None:
        _walk(node, (), lines, data)
        _find_duplicates(node, (), duplicates)
    return data, lines, duplicates


def _find_duplicates(node: yaml.Node, path: Path_, out: list[tuple[Path_, int, int]]) -> None:
    """Keys given twice in one mapping (YAML keeps the last silently): (path, first line, second line)."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first:
                out.append(((*path, key), first[key], line))
            first.setdefault(key, line)
            _find_duplicates(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicates(item, (*path, i), out)


def _walk(node: yaml.Node, path: Path_, lines: LineMap, data: Any) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        for key_node, value_node in node.value:
            key = key_node.value
            # Keys are constructed (a date key becomes a date); find the data key that prints the same.
            match = next((k for k in data if str(k) == key), key)
            child = (*path, match)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, data.get(match))
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, data[i] if i < len(data) else None)


def data_path(data: Any, loc: Iterable[str | int]) -> Path_:
    """The part of a pydantic error location that exists in the data (drops union tags and validator names)."""
    out: list[str | int] = []
    cur = data
    loc = list(loc)
    for n, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, dict) and str(part) in {str(k) for k in cur}:
            part = next(k for k in cur if str(k) == str(part))
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and n == len(loc) - 1:
            out.append(part)  # a missing field: name it, its line is the parent's
            continue
        else:
            continue
        out.append(part)
    return tuple(out)


def line_of(lines: LineMap, path: Path_) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem_at(
    file: str, data: Any, lines: LineMap, loc: Iterable[str | int], message: str, *, exact: bool = False
) -> ConfigProblem:
    """A problem at ``loc``. ``exact`` keeps the whole location as the field name even where the data lacks it
    (a cross-reference problem in a default value); otherwise parts pydantic adds (union tags) are dropped."""
    path = tuple(loc) if exact else data_path(data, loc)
    return ConfigProblem(file=file, line=line_of(lines, path), field=format_path(path), message=message)


def problems_from_validation(
    err: ValidationError, *, file: str, data: Any, lines: LineMap, plain: bool = False
) -> list[ConfigProblem]:
    """One problem per pydantic error. ``plain`` drops pydantic's "Value error, " prefix from validator messages."""
    problems = []
    for e in err.errors(include_url=False):
        message = e["msg"]
        if e["type"] == "extra_forbidden":
            message = "unknown field"
        elif plain and e["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        problems.append(problem_at(file, data, lines, e["loc"], message))
    return problems


M = TypeVar("M", bound=BaseModel)


def read_yaml_file(path: Path) -> tuple[Any, LineMap]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {err.strerror}")]) from err
    try:
        data, lines, duplicates = _load(text)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        problem = ConfigProblem(str(path), line, "", f"not valid YAML: {err.problem}")
        raise ConfigError([problem]) from err
    if duplicates:
        raise ConfigError(
            [
                ConfigProblem(str(path), second, format_path(key), f"given twice (first at line {first})")
                for key, first, second in duplicates
            ]
        )
    return data, lines


def validate_file(model: type[M], path: Path) -> tuple[M, Any, LineMap]:
    """Read and validate ``path``; raise ``ConfigError`` with every structural problem."""
    data, lines = read_yaml_file(path)
    try:
        return model.model_validate(data), data, lines
    except ValidationError as err:
        problems = problems_from_validation(err, file=str(path), data=data, lines=lines, plain=True)
        raise ConfigError(problems) from err
