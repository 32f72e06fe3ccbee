"""Test helper: register a variant of the flight-delay use case (another name, other fields) as a real package.

The variant is a package written to a temporary folder, put on the import path, registered through
MLOPS_SETTINGS (`usecases.packages`) and enabled through MLOPS_USECASES, so the platform finds and loads
it exactly as it loads any use case.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Labels that arrive a day later than flights' own rule (`label_known_ts` + 24 h): flights' labels of a
# date are complete by the end of the next day, these by the end of the day after (a label lag of 2).
LATE_LABELS = """
def _late_spark(bronze):
    from pyspark.sql import functions as F

    return base.labels.spark(bronze).withColumn("label_known_ts", F.col("label_known_ts") + F.expr("INTERVAL 1 DAYS"))


def _late_pandas(bronze):
    import pandas as pd

    rows = base.labels.pandas(bronze)
    return rows.assign(label_known_ts=rows["label_known_ts"] + pd.Timedelta(days=1))


labels = dataclasses.replace(base.labels, spark=_late_spark, pandas=_late_pandas, lag_days={lag})
"""


def register_variant(tmp_path: Path, monkeypatch, name: str, fields: str = "", prelude: str = "") -> str:
    """Write package `<name>_pkg` whose usecase() is flights renamed (plus `fields`), register and enable it
    beside flights and the variants registered before it in the same test.

    Args:
        fields: extra `dataclasses.replace` keyword arguments, e.g. `", labels=labels"`.
        prelude: code run inside usecase() before the replace, with `base` the flights use case.

    Returns:
        The variant's name.
    """
    package = tmp_path / "variants" / f"{name}_pkg"
    shutil.copytree(ROOT / "usecases" / "flight_delay" / "config", package / "config")
    for env_file in (package / "config").glob("*.yaml"):  # MLflow names default to <name>_<env>
        env_file.write_text("\n".join(line for line in env_file.read_text().splitlines() if "_name:" not in line))
    body = textwrap.indent(textwrap.dedent(prelude), "    ")
    (package / "__init__.py").write_text(
        "import dataclasses\nfrom pathlib import Path\n\nfrom usecases.flight_delay import usecase as _flights\n\n\n"
        f"def usecase():\n    base = _flights()\n{body}\n"
        f"    folder = str(Path(__file__).parent / 'config')\n"
        f"    return dataclasses.replace(base, name={name!r}, config_dir=folder{fields})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "variants"))
    packages = {p.name[: -len("_pkg")]: p.name for p in sorted((tmp_path / "variants").glob("*_pkg"))}
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": packages}}))
    monkeypatch.setenv("MLOPS_USECASES", ",".join(["flight_delay", *packages]))
    return name
