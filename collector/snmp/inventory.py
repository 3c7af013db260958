"""The device inventory: which SNMP devices to poll, how, and what they are (YAML, validated).

Secrets (community, v3 passwords) may be written as ``${ENV_VAR}``: resolved at load time, kept as
``SecretStr``, never logged. Every problem in a file is reported at once, each naming the file and
the field path (``devices[core-sw-1].v3.auth_password``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
LabelValue = Annotated[str, StringConstraints(max_length=128)]


class InventoryError(ValueError):
    """A bad inventory file; the message lists every problem, one per line."""

    def __init__(self, path: Path | str, problems: Iterable[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        super().__init__("\n".join(f"{self.path}: {p}" for p in self.problems))


def resolve_secret(value: Any) -> Any:
    """``${NAME}`` → the environment variable's value (the name, never the value, goes in errors)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        match = _ENV_REF.match(value.strip())
        if match:
            resolved = os.environ.get(match.group(1))
            if resolved is None or resolved == "":
                raise ValueError(f"environment variable {match.group(1)} is not set")
            return resolved
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecurityLevel(StrEnum):
    NO_AUTH_NO_PRIV = "noAuthNoPriv"
    AUTH_NO_PRIV = "authNoPriv"
    AUTH_PRIV = "authPriv"


class AuthProtocol(StrEnum):
    SHA = "SHA"
    SHA224 = "SHA-224"
    SHA256 = "SHA-256"
    SHA384 = "SHA-384"
    SHA512 = "SHA-512"


class PrivProtocol(StrEnum):
    AES128 = "AES-128"
    AES192 = "AES-192"
    AES256 = "AES-256"


class V3Credentials(_Model):
    user: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    security_level: SecurityLevel = SecurityLevel.AUTH_PRIV
    auth_protocol: AuthProtocol = AuthProtocol.SHA256
    auth_password: SecretStr | None = None
    priv_protocol: PrivProtocol = PrivProtocol.AES128
    priv_password: SecretStr | None = None
    # The device's snmpEngineID (hex), needed only to receive its v3 traps (informs discover it).
    engine_id: Annotated[str, StringConstraints(pattern=r"^(0x)?[0-9A-Fa-f]{10,64}$")] | None = None

    _resolve = field_validator("auth_password", "priv_password", mode="before")(resolve_secret)

    @model_validator(mode="after")
    def _passwords_match_level(self) -> V3Credentials:
        needs_auth = self.security_level is not SecurityLevel.NO_AUTH_NO_PRIV
        needs_priv = self.security_level is SecurityLevel.AUTH_PRIV
        for field, needed in (("auth_password", needs_auth), ("priv_password", needs_priv)):
            secret = getattr(self, field)
            if needed and secret is None:
                raise ValueError(f"{field} is required for security_level {self.security_level.value}")
            if secret is not None and len(secret.get_secret_value()) < 8:
                raise ValueError(f"{field} must be at least 8 characters (RFC 3414)")
        return self


class DeviceLabels(_Model):
    site: LabelValue = ""
    room: LabelValue = ""
    rack: LabelValue = ""
    role: LabelValue = ""
    system: LabelValue = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class Device(_Model):
    name: Name
    address: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 161
    version: Literal["2c", "3"] = "2c"
    community: SecretStr | None = None
    v3: V3Credentials | None = None
    profiles: list[Name] = []
    interval_seconds: Annotated[float, Field(ge=1)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    # Some agents answer GETBULK wrongly (or not at all): walk with GETNEXT instead.
    use_getbulk: bool = True
    labels: DeviceLabels = DeviceLabels()
    parent: Name | None = None  # the device it hangs off (dependency suppression, later)

    _resolve = field_validator("community", mode="before")(resolve_secret)

    @model_validator(mode="after")
    def _credentials_match_version(self) -> Device:
        if self.version == "2c":
            if self.community is None:
                raise ValueError("community is required for version 2c")
            if self.v3 is not None:
                raise ValueError("v3 credentials given for a version 2c device")
        else:
            if self.v3 is None:
                raise ValueError("v3 credentials are required for version 3")
            if self.community is not None:
                raise ValueError("community given for a version 3 device")
        return self


class Defaults(_Model):
    interval_seconds: Annotated[float, Field(ge=1)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    profiles: list[Name] = ["system"]


class Inventory(_Model):
    defaults: Defaults = Defaults()
    devices: list[Device] = []

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)

    def profiles_of(self, device: Device) -> list[str]:
        return device.profiles or list(self.defaults.profiles)


def _location(loc: tuple[int | str, ...], raw: Any) -> str:
    """``("devices", 2, "v3", "user")`` → ``devices[core-sw-1].v3.user`` (names read better than indexes)."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            name = (
                node[item].get("name")
                if isinstance(node, list) and item < len(node) and isinstance(node[item], dict)
                else None
            )
            parts[-1:] = [f"{parts[-1] if parts else ''}[{name or item}]"]
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            if item.startswith("function-"):
                continue
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def parse_inventory(raw: Any, path: Path | str, *, known_profiles: Iterable[str] | None = None) -> Inventory:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InventoryError(path, ["the file must hold a mapping with a devices: list"])
    try:
        inventory = Inventory.model_validate(raw)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False, include_input=False):
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{_location(tuple(e['loc']), raw)}: {msg}")
        raise InventoryError(path, problems) from None
    problems = []
    names = [d.name for d in inventory.devices]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"devices[{name}].name: device name used more than once")
    known = set(known_profiles) if known_profiles is not None else None
    for d in inventory.devices:
        if d.parent is not None and d.parent not in names:
            problems.append(f"devices[{d.name}].parent: no device named {d.parent!r}")
        if d.parent == d.name:
            problems.append(f"devices[{d.name}].parent: a device cannot be its own parent")
        if known is not None:
            for p in inventory.profiles_of(d):
                if p not in known:
                    problems.append(
                        f"devices[{d.name}].profiles: unknown profile {p!r} (known: {', '.join(sorted(known))})"
                    )
    problems += _parent_cycles(inventory.devices)
    if problems:
        raise InventoryError(path, problems)
    return inventory


def _parent_cycles(devices: list[Device]) -> list[str]:
    """One problem per cycle of two or more devices in the parent links (a → b → a), named at the
    cycle's device that comes first in the file. Self-parents and unknown parents are reported apart."""
    order = {}
    parent_of: dict[str, str | None] = {}
    for i, d in enumerate(devices):
        order.setdefault(d.name, i)
        parent_of.setdefault(d.name, d.parent)
    problems = []
    done: set[str] = set()
    for d in devices:
        path: list[str] = []
        node: str | None = d.name
        while node is not None and node in parent_of and node not in done and node not in path:
            path.append(node)
            node = parent_of[node]
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            if len(cycle) > 1:
                first = min(range(len(cycle)), key=lambda k: order[cycle[k]])
                cycle = cycle[first:] + cycle[:first]
                problems.append(f"devices[{cycle[0]}].parent: parent cycle {' → '.join([*cycle, cycle[0]])}")
        done.update(path)
    return problems


def load_inventory(path: Path, *, known_profiles: Iterable[str] | None = None) -> Inventory:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InventoryError(path, [f"cannot read: {err.strerror}"]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InventoryError(path, [f"{where}not valid YAML ({getattr(err, 'problem', err)})"]) from None
    return parse_inventory(raw, path, known_profiles=known_profiles)
