"""Re-process a date range end to end after corrected files were re-landed: re-ingest, recompute, republish.

    python -m mlops.reprocess --usecase <name> --env dev --start 2013-01-02 --end 2013-01-04

Every landed file of the range is ingested again: a file whose content equals the day's current delivery
stores nothing, one with other content corrects that day of bronze and marks the feature dates computed
from it stale. Then every stale date of every feature table is recomputed, validated by the features gate
and republished (a date whose keys vanished is replaced), and its mark cleared. `--all` also recomputes
every date of the range, stale or not.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops.errors import Refusal

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReprocessResult:
    """What a re-processing did: per dataset and date the ingestion outcome, per feature table the dates
    recomputed and republished."""

    ingested: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset -> date -> outcome
    republished: dict[str, list[date]] = field(default_factory=dict)  # feature table -> dates

    def lines(self) -> list[str]:
        """One line per dataset and per feature table, for people."""
        out = [
            f"{name}: " + ", ".join(f"{d} {what}" for d, what in days.items()) for name, days in self.ingested.items()
        ]
        for table, dates in self.republished.items():
            out.append(f"{table}: republished {len(dates)} dates" + (f" ({dates[0]}..{dates[-1]})" if dates else ""))
        return out

    @property
    def corrections(self) -> int:
        """How many days of bronze were corrected."""
        return sum(what.startswith("corrected") for days in self.ingested.values() for what in days.values())


def reprocess_range(
    settings: Settings,
    lakehouse: Lakehouse,
    start: date,
    end: date,
    *,
    spark: SparkSession | None = None,
    recompute_all: bool = False,
    run_id: str | None = None,
) -> ReprocessResult:
    """Re-ingest every landed file of [start, end], then recompute and republish the stale feature dates.

    Args:
        spark: the session for the feature jobs; default `get_spark(settings)` when any date is recomputed.
        recompute_all: also recompute every date of the range that a feature table has published.

    Raises:
        ValueError: `start` is after `end`.
        IngestionError: a re-landed file was refused (quarantined; that day of bronze is unchanged).
        GateFailedError: a recomputed date failed the features gate (nothing of that table was published).
    """
    if start > end:
        raise ValueError(f"reprocess: start {start} is after end {end}")
    from mlops.usecase import usecase_of

    run_id = run_id or f"reprocess__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    usecase = usecase_of(settings)
    ingested = {name: _ingest_range(settings, lakehouse, name, days, run_id) for name in usecase.dataset_names}
    republished = {}
    for table in usecase.features.tables:
        dates = _dates_to_recompute(lakehouse, table, days if recompute_all else [])
        if dates:
            spark = spark or _spark(settings)
            republished[table.name] = _recompute(spark, lakehouse, settings, table.name, dates, run_id)
    return ReprocessResult(ingested, republished)


def _ingest_range(settings: Settings, lakehouse: Lakehouse, dataset: str, days: list[date], run_id: str) -> dict:
    from mlops.ingestion import ingest_day
    from mlops.landing import landing_path

    outcomes = {}
    for day in days:
        if not landing_path(settings, dataset, day).exists():
            outcomes[day.isoformat()] = "no landed file"
            continue
        result = ingest_day(settings, lakehouse, dataset, day, run_id)
        what = "unchanged" if result.skipped else f"ingested {result.rows} rows"
        if result.corrected:
            what = f"corrected ({result.rows} rows, {result.stale_dates} feature dates stale)"
        outcomes[day.isoformat()] = what
    return outcomes


def _dates_to_recompute(lakehouse: Lakehouse, table: Any, days: list[date]) -> list[date]:
    from mlops.features.stale import open_stale_dates, published_dates

    published = set(published_dates(lakehouse, table, days[0])) if days else set()
    return sorted(set(open_stale_dates(lakehouse, table.name)) | {d for d in days if d in published})


def _recompute(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, table: str, dates: list[date], run_id: str
) -> list[date]:
    from mlops.features.refresh import contiguous_blocks, publish_feature_dates, stage_feature_table
    from mlops.quality.pipeline_gates import run_gate_dates

    as_of = datetime.now(UTC)
    for block in contiguous_blocks(dates):
        stage_feature_table(spark, lakehouse, settings, table, block[0], block[-1])
    run_gate_dates("features", settings, lakehouse, table, dates, run_id)
    publish_feature_dates(lakehouse, settings, table, dates, spark, stale_as_of=as_of, run_id=run_id)
    return dates


def _spark(settings: Settings) -> SparkSession:
    from mlops.spark import get_spark

    return get_spark(settings, app_name="mlops-reprocess")


def main(argv: list[str] | None = None) -> int:
    """The command line: parse, re-process, print what was done; 1 when a file or gate refused."""
    parser = argparse.ArgumentParser(prog="python -m mlops.reprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--usecase", help="an enabled use case (default: the first enabled one)")
    parser.add_argument("--env", help="dev, staging or prod (default: MLOPS_ENV)")
    parser.add_argument("--start", required=True, type=date.fromisoformat, help="first date, YYYY-MM-DD")
    parser.add_argument("--end", required=True, type=date.fromisoformat, help="last date, YYYY-MM-DD")
    parser.add_argument("--all", action="store_true", help="recompute every published date of the range too")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from mlops.config import load_settings
    from mlops.lakehouse import Lakehouse

    settings = load_settings(args.env, usecase=args.usecase)
    try:
        result = reprocess_range(
            settings, Lakehouse.from_settings(settings), args.start, args.end, recompute_all=args.all
        )
    except Refusal as exc:
        print(f"reprocess stopped: {exc}", file=sys.stderr)
        return 1
    print("\n".join([f"Re-processed {args.start}..{args.end}: {result.corrections} corrected days", *result.lines()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
