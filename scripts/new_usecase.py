"""Scaffold a new use case: `make usecase NAME=churn` renders templates/usecase into usecases/<name>/ and registers it.

The generated package runs as it is (a synthetic, seeded source): its own tests pass and, enabled with
`MLOPS_USECASES=<name> make run`, every pipeline runs on it. Registration is the one the built-in use cases use:
a line `<name>: usecases.<name>` under `usecases.packages` of each include/config/<env>.yaml (registered, not
enabled, so the default main job is unchanged). A refused name writes nothing.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "usecase"
USECASES_DIR = ROOT / "usecases"
CONFIG_DIR = ROOT / "include" / "config"
ENVIRONMENTS = ("dev", "staging", "prod")
PACKAGES_LINE = re.compile(r"^(?P<indent>\s*)packages:\s*$")


class ScaffoldError(ValueError):
    """The name or destination is refused; the message says why and what to do."""


def check_name(name: str, dest: Path, config_dir: Path | None) -> None:
    """Refuse a name that is not lower_snake_case, not an identifier, taken, or whose folder exists.

    Raises:
        ScaffoldError: naming the problem and the way out.
    """
    from mlops.usecase.contract import NAME_PATTERN

    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"Refused use-case name {name!r}: use lower_snake_case, 2-41 characters (a-z, 0-9, _), starting with "
            "a letter, e.g. NAME=churn"
        )
    taken = registered_names(config_dir) if config_dir is not None else set()
    if name in taken:
        raise ScaffoldError(f"Refused use-case name {name!r}: already registered ({', '.join(sorted(taken))})")
    if (dest / name).exists():
        raise ScaffoldError(f"Refused use-case name {name!r}: {dest / name} already exists; pick another name")


def registered_names(config_dir: Path) -> set[str]:
    """Names registered in any environment's `usecases.packages` or by an installed entry point."""
    import yaml

    from mlops.usecase.loader import registered_packages

    names: set[str] = set()
    for env in ENVIRONMENTS:
        raw = yaml.safe_load((config_dir / f"{env}.yaml").read_text()) or {}
        names |= set(registered_packages((raw.get("usecases") or {}).get("packages") or {}))
    return names


def render(name: str, dest: Path, description: str | None = None) -> Path:
    """Render the copier template into `dest/<name>`; returns that folder."""
    from copier import run_copy

    data = {"name": name, **({"description": description} if description else {})}
    run_copy(str(TEMPLATE), str(dest / name), data=data, defaults=True, quiet=True, overwrite=False)
    return dest / name


def register(name: str, package: str, config_dir: Path) -> list[Path]:
    """Add `<name>: <package>` under `usecases.packages` of every environment's config; returns the files changed.

    The line is inserted as text, so comments and layout stay; each file is parsed again to prove it.
    """
    import yaml

    changed = []
    for env in ENVIRONMENTS:
        path = config_dir / f"{env}.yaml"
        lines = path.read_text().splitlines(keepends=True)
        at = next((i for i, line in enumerate(lines) if PACKAGES_LINE.match(line)), None)
        if at is None:
            raise ScaffoldError(f"{path} has no `usecases.packages:` mapping to register {name!r} in; add one")
        indent = PACKAGES_LINE.match(lines[at])["indent"] + "  "
        end = at + 1
        while end < len(lines) and lines[end].startswith(indent) and lines[end].strip():
            end += 1
        comment = f"  # registered, not enabled: MLOPS_USECASES={name}"
        lines.insert(end, f"{indent}{name}: {package}{comment}\n")
        text = "".join(lines)
        if (yaml.safe_load(text)["usecases"]["packages"] or {}).get(name) != package:
            raise ScaffoldError(f"Could not register {name!r} in {path}: edit its usecases.packages by hand")
        path.write_text(text)
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the use case's name, lower_snake_case (e.g. churn)")
    parser.add_argument("--description", help="one line for DAG docs (default: the template's)")
    parser.add_argument("--dest", type=Path, default=USECASES_DIR, help="parent folder (default: usecases/)")
    parser.add_argument("--no-register", action="store_true", help="render only; register it yourself")
    args = parser.parse_args(argv)
    try:
        if not args.no_register and args.dest.resolve() != USECASES_DIR:
            raise ScaffoldError(f"Only packages under {USECASES_DIR} are registered; add --no-register for {args.dest}")
        check_name(args.name, args.dest, CONFIG_DIR)
        folder = render(args.name, args.dest, args.description)
        if not args.no_register:
            changed = register(args.name, f"usecases.{args.name}", CONFIG_DIR)
            print(f"Registered {args.name}: usecases.{args.name} in {', '.join(p.name for p in changed)}")
    except ScaffoldError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"Created {folder}. Next:\n  make test ARGS={folder}/tests\n  MLOPS_USECASES={args.name} make run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
