"""Render the MLflow basic-auth config template with values from the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from string import Template


def render(template: Path, target: Path) -> None:
    """Write `template` to `target` with every `${VAR}` replaced by the environment's value.

    Raises:
        SystemExit: a variable the template names is unset or empty.
    """
    text = Template(template.read_text())
    missing = sorted(
        {m.group("braced") for m in text.pattern.finditer(text.template) if m.group("braced")}
        - {k for k, v in os.environ.items() if v}
    )
    if missing:
        raise SystemExit(f"{template}: environment variables {', '.join(missing)} are unset or empty; set them in .env")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.substitute(os.environ))
    target.chmod(0o600)  # holds the auth database password


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: render_auth_config.py TEMPLATE TARGET")
    render(Path(sys.argv[1]), Path(sys.argv[2]))
