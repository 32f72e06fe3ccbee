"""Helpers for the static checks of the production stack: Compose interpolation, .env and Dockerfile parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = Path(__file__).resolve().parent
COMPOSE_SCHEMA = DEPLOY_DIR / "compose-spec.json"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, ${NAME+alt},
# $NAME and the $$ escape, as in the Compose Specification's interpolation section.
_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable (`${VAR:?message}`) is unset or empty."""


def load_yaml(path: Path) -> dict[str, Any]:
    """A Compose file as Python data (anchors and `<<` merge keys resolved, like Compose does)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a mapping at the top level")
    return data


def compose_validator() -> Draft202012Validator:
    """A validator for the vendored Compose Specification schema (itself checked first)."""
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(data: Mapping[str, Any]) -> list[str]:
    """Every schema violation of a Compose document, as `path: message` lines."""
    errors = compose_validator().iter_errors(data)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def load_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines of a .env file (comments and blank lines skipped, values unquoted)."""
    env: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"{path}:{number}: not a KEY=VALUE line: {line!r}")
        env[key] = value.strip().strip("'\"")
    return env


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, Mapping):
        return [s for value in data.values() for s in _strings(value)]
    if isinstance(data, list):
        return [s for value in data for s in _strings(value)]
    return []


def references(data: Any) -> list[tuple[str, str]]:
    """(variable, operator) for every interpolation in the string values of `data`; operator '' if none."""
    found = []
    for text in _strings(data):
        for match in _TOKEN.finditer(text):
            name = match["braced"] or match["named"]
            if name:
                found.append((name, match["op"] or ""))
    return found


def interpolate(data: Any, env: Mapping[str, str]) -> Any:
    """`data` with Compose interpolation applied to every string value.

    Raises:
        InterpolationError: a `${VAR:?err}` (or `${VAR?err}`) variable is missing from `env`.
    """
    if isinstance(data, Mapping):
        return {key: interpolate(value, env) for key, value in data.items()}
    if isinstance(data, list):
        return [interpolate(value, env) for value in data]
    if not isinstance(data, str):
        return data
    return _TOKEN.sub(lambda match: _substitute(match, env), data)


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    name = match["braced"] or match["named"]
    value, op, arg = env.get(name), match["op"] or "", match["arg"] or ""
    is_set = value is not None and (value != "" or not op.startswith(":"))
    if op.endswith("-"):
        return value if is_set else arg
    if op.endswith("?"):
        if not is_set:
            raise InterpolationError(f"required variable {name} is missing a value: {arg}")
        return value or ""
    if op.endswith("+"):
        return arg if is_set else ""
    return value or ""


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    pairs = []
    for line in lines:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def dockerfile_args(path: Path) -> dict[str, str]:
    """Default values of the Dockerfile's build ARGs (an ARG without a default is left out)."""
    args = {}
    for instruction, arguments in dockerfile_instructions(path):
        name, sep, default = arguments.partition("=")
        if instruction == "ARG" and sep:
            args[name] = default.strip('"')
    return args


def dockerfile_env(path: Path) -> dict[str, str]:
    """ENV values of the Dockerfile with `${ARG}` references replaced by the ARG defaults."""
    args, env = dockerfile_args(path), {}
    for instruction, arguments in dockerfile_instructions(path):
        if instruction != "ENV":
            continue
        for pair in arguments.split():
            key, _, value = pair.partition("=")
            env[key] = interpolate(value, {**args, **env})
    return env


def requirement_pins(path: Path) -> dict[str, str]:
    """`name==version` pins of a requirements or constraints file, names normalised (PEP 503)."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins
