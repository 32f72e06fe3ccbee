"""Check a use case before it runs: `python -m mlops.usecase.check <name> [--env staging]`.

1. Load it: the loader's contract checks (name, registration, fields, task type, config files).
2. Dry-run its feature jobs and label rule over empty bronze tables of the declared schemas
   (`mlops.usecase.schema_check`): no undeclared column is read, each job returns its catalog's columns.
3. When the environment's lakehouse holds its bronze and entity tables: the label timing check on the latest
   complete window (`mlops.training.label_timing`); `--window-end` picks another entity date.

Exit code 0 with a one-line summary per step, 1 with the one message that names the use case and the problem.
A use case registered but not enabled in the environment is checked as if enabled.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from mlops.errors import Refusal

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.usecase.contract import UseCase


def check(name: str, env: str | None = None, window_end: date | None = None) -> list[str]:
    """Run every check of use case `name`; the lines of the summary.

    Raises:
        Refusal: `UseCaseError` or `ConfigError` naming the use case and the problem.
    """
    from mlops.config import enabled_usecases, load_settings
    from mlops.spark import get_spark
    from mlops.usecase.loader import ENV_USECASES, usecase_of
    from mlops.usecase.schema_check import dry_run_usecase

    if name not in enabled_usecases(env):
        os.environ[ENV_USECASES] = name  # checked as if enabled: a team checks its use case before enabling it
    settings = load_settings(env, usecase=name)
    usecase = usecase_of(settings)
    lines = [f"Use case {name!r} [{settings.env}]: loads and fits the contract"]
    spark = get_spark(settings, app_name=f"{name}.check")
    dry = dry_run_usecase(spark, usecase, settings)
    lines.append(
        f"Use case {name!r}: {len(dry.tables)} feature jobs and the label rule read only declared columns and "
        f"return their catalog's columns ({dry.seconds:.1f} s)"
    )
    lines.append(_label_timing(spark, settings, usecase, window_end))
    return lines


def _label_timing(spark: SparkSession, settings: Settings, usecase: UseCase, window_end: date | None) -> str:
    from mlops.lakehouse import Lakehouse
    from mlops.training.dataset import TrainingWindow, default_window_end
    from mlops.training.label_timing import check_label_timing

    lakehouse = Lakehouse.from_settings(settings)
    needed = (usecase.labels.source, usecase.entity_table.name)
    absent = [t for t in needed if not lakehouse.exists(t)]
    if absent:
        return f"Use case {usecase.name!r}: label timing not checked: no {', '.join(absent)} at {lakehouse.root} yet"
    window = TrainingWindow.from_settings(settings, window_end or default_window_end(lakehouse, usecase))
    timing = check_label_timing(spark, lakehouse, usecase, window.first, window.end)
    span = f"{timing.dates[0]}..{timing.dates[-1]}"
    return (
        f"Use case {usecase.name!r}: {timing.labels} labels of {span} are known after the prediction, by the lag "
        f"({timing.late} late) and from data published by then ({timing.seconds:.1f} s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit code 0 when every check passes, 1 with the one message otherwise."""
    import logging

    parser = argparse.ArgumentParser(description="Check a use case: contract, feature and label code, label timing.")
    parser.add_argument("name", help="the use case's registered name")
    parser.add_argument("--env", help="dev, staging or prod (default: MLOPS_ENV)")
    parser.add_argument("--window-end", type=date.fromisoformat, help="last entity date of the label timing check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        lines = check(args.name, args.env, args.window_end)
    except Refusal as exc:  # UseCaseError, ConfigError: one message naming the use case
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
