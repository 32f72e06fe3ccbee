"""The pipelines' named quality gates: which data each gate reads, which suite it runs, what it writes."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from mlops.errors import Refusal
from mlops.lakehouse import WriterId

if TYPE_CHECKING:
    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.quality.gate import GateResult

log = logging.getLogger(__name__)

REFERENCE_DAYS = 7
MIN_REFERENCE_DAYS = 3


class GateFailedError(Refusal, ValueError):
    """A quality gate refused a batch; its full result was saved before this was raised."""

    def __init__(self, message: str, result: GateResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class GateRequest:
    """Which gate to run on what: a landing dataset or a table, for one data date."""

    settings: Settings
    lakehouse: Lakehouse
    target: str
    day: date
    run_id: str
    model_version: str | None = None  # the predictions gate checks one model version's rows
    build_docs: bool = True  # False: Data Docs only if the batch fails (a run over many dates builds them once)


def quality_store(settings: Settings) -> Path:
    """Where gates write full results and Data Docs: `<reports root>/_quality/<asset>/{results,data_docs}`."""
    return Path(settings.lakehouse.reports_root) / "_quality"


def validate_landing_batch(req: GateRequest) -> GateResult:
    """Raw landing file of `req.target` (a dataset) for the day; a bad file is quarantined."""
    from mlops.ingestion import IngestionError, validate_landing

    try:
        return validate_landing(
            req.settings, req.target, req.day, req.run_id, lakehouse=req.lakehouse, build_docs=req.build_docs
        )
    except IngestionError as exc:
        raise GateFailedError(str(exc)) from exc


def validate_staged_features(req: GateRequest) -> GateResult:
    """The day's staged rows of feature table `req.target`, before they are published.

    In quarantine mode, rows that break row-level expectations move to `quarantine.<table>` with the
    reason and the staged partition keeps only the good rows; batch-level failures still stop the run.
    """
    from mlops.quality.gate import run_gate, split_quarantine
    from mlops.quality.suites import feature_suite
    from mlops.usecase import usecase_of

    spec = usecase_of(req.settings).features.table(req.target)
    staged_name = f"staging.{spec.short_name}"
    staged = req.lakehouse.read_pandas(staged_name, filters=[(spec.date_column, "=", req.day)])
    previous = _reference_rows(req.lakehouse, spec.name, spec.date_column, req.day)
    suite = feature_suite(spec, req.day, previous, req.settings)
    store = quality_store(req.settings)
    result = run_gate(
        staged, suite, mode=req.settings.quality.mode, store_dir=store, asset_name=spec.name, build_docs=req.build_docs
    )
    if not result.success:
        raise GateFailedError(result.message(), result)
    if result.bad_row_index:
        good, bad = split_quarantine(staged, result)
        req.lakehouse.append(
            f"quarantine.{spec.short_name}", bad, writer=WriterId(f"quarantine/{spec.name}/{req.day}", 1)
        )
        req.lakehouse.replace_partition(staged_name, good, partition={spec.date_column: req.day})
        log.warning("%s: %d rows quarantined to quarantine.%s", spec.name, len(bad), spec.short_name)
    return result


def _reference_rows(lakehouse: Lakehouse, table: str, date_column: str, day: date) -> int | None:
    """Median daily row count of the up to 7 published days before `day`, once 3 exist (else None).

    A median of recent days, rather than the previous day alone, keeps a weekend or the warm-up of
    trailing windows in the first days of a table from tripping the row-count band.
    """
    if not lakehouse.exists(table):
        return None
    first = day - timedelta(days=REFERENCE_DAYS)
    dates = lakehouse.read(
        table, columns=[date_column], filters=[(date_column, ">=", first), (date_column, "<", day)]
    ).column(0)
    counts = sorted(Counter(dates.to_pylist()).values())
    if len(counts) < MIN_REFERENCE_DAYS:
        return None
    return int(median(counts))


def validate_scoring_set(req: GateRequest) -> GateResult:
    """The day's staged scoring set, before any model scores it.

    In quarantine mode, rows that break row-level expectations move to `quarantine.scoring_set` with
    the reason and are not scored; batch-level failures still stop the run.
    """
    from mlops.inference.scoring_set import SCORING_SET
    from mlops.quality.gate import run_gate, split_quarantine
    from mlops.quality.suites import scoring_suite
    from mlops.usecase import ENTITY_DATE

    staged = req.lakehouse.read_pandas(SCORING_SET, filters=[(ENTITY_DATE, "=", req.day)])
    from mlops.usecase import usecase_of

    suite = scoring_suite(req.day, req.settings, req.lakehouse.schema(SCORING_SET).names, usecase_of(req.settings))
    store = quality_store(req.settings)
    result = run_gate(
        staged,
        suite,
        mode=req.settings.quality.mode,
        store_dir=store,
        asset_name=SCORING_SET,
        build_docs=req.build_docs,
    )
    if not result.success:
        raise GateFailedError(result.message(), result)
    if result.bad_row_index:
        good, bad = split_quarantine(staged, result)
        req.lakehouse.append("quarantine.scoring_set", bad, writer=WriterId(f"quarantine/scoring_set/{req.day}"))
        req.lakehouse.replace_partition(SCORING_SET, good, partition={ENTITY_DATE: req.day})
        log.warning("%s: %d rows quarantined to quarantine.scoring_set", SCORING_SET, len(bad))
    return result


def validate_predictions(req: GateRequest) -> GateResult:
    """The staged predictions of (day, model version): one per scoring-set row, each valid for the task type
    (a probability in [0, 1], one of the model's classes, a finite number).

    Always in fail mode: a missing or impossible prediction means the model or engine is broken.
    """
    from mlops.inference.engines import STAGED_PREDICTIONS
    from mlops.inference.scoring_set import SCORING_SET
    from mlops.quality.gate import run_gate
    from mlops.quality.suites import predictions_suite
    from mlops.usecase import ENTITY_DATE

    if not req.model_version:
        raise ValueError("The predictions gate needs the model version whose predictions it checks")
    version = str(req.model_version)
    inputs = req.lakehouse.read(SCORING_SET, columns=[ENTITY_DATE], filters=[(ENTITY_DATE, "=", req.day)]).num_rows
    filters = [(ENTITY_DATE, "=", req.day), ("model_version", "=", version)]
    staged = req.lakehouse.read_pandas(STAGED_PREDICTIONS, filters=filters)
    from mlops.usecase import usecase_of

    suite = predictions_suite(req.day, version, inputs, usecase_of(req.settings))
    store = quality_store(req.settings)
    result = run_gate(
        staged, suite, mode="fail", store_dir=store, asset_name="gold.predictions", build_docs=req.build_docs
    )
    if not result.success:
        raise GateFailedError(result.message(), result)
    return result


GATES: dict[str, Callable[[GateRequest], GateResult]] = {
    "landing": validate_landing_batch,
    "features": validate_staged_features,
    "scoring_set": validate_scoring_set,
    "predictions": validate_predictions,
}


class UnknownGateError(Refusal, KeyError):
    """A gate name that is not a key of GATES."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def run_named_gate(gate: str, req: GateRequest) -> GateResult:
    """Run gate `gate` (a key of GATES); GateFailedError when it refuses the batch."""
    try:
        fn = GATES[gate]
    except KeyError:
        raise UnknownGateError(f"Unknown quality gate {gate!r}; known gates: {', '.join(sorted(GATES))}") from None
    return fn(req)


def run_gate_dates(
    gate: str,
    settings: Settings,
    lakehouse: Lakehouse,
    target: str,
    dates: list[date],
    run_id: str,
    model_version: str | None = None,
) -> dict[str, Any]:
    """Run gate `gate` on `target` for each date of a run; the result and Data Docs locations go to the log.

    Data Docs are built once per run (with its last date) and for any refused batch: building them is
    most of a small gate's time. The landing gate of several dates first validates all their files as one
    batch (`ingestion.validate_landing_dates`), and only if that fails each file on its own, which names
    and quarantines the bad one. Returns the summary (one date) or {"days", "results"}.

    Raises:
        GateFailedError: a date's batch is refused (the message starts with the date).
    """
    if gate == "landing" and len(dates) > 1:
        from mlops.ingestion import validate_landing_dates

        batch = validate_landing_dates(settings, lakehouse, target, dates, run_id)
        if batch is not None:
            _log_locations(batch)
            log.info("Gate landing on %s for %s..%s passed as one batch of %d files: %s",
                     target, dates[0], dates[-1], len(dates), batch.summary())  # fmt: skip
            return {"days": len(dates), "results": [batch.summary()]}
        log.info("Gate landing on %s: validating the %d files one by one", target, len(dates))
    summaries = []
    for day in dates:
        req = GateRequest(settings, lakehouse, target, day, run_id, model_version, day == dates[-1])
        try:
            result = run_named_gate(gate, req)
        except GateFailedError as exc:
            if exc.result is not None:
                _log_locations(exc.result)
            raise GateFailedError(f"{day}: {exc}", exc.result) from exc
        _log_locations(result)
        summaries.append(result.summary())
        log.info("Gate %s on %s for %s passed: %s", gate, target, day, summaries[-1])
    return summaries[0] if len(summaries) == 1 else {"days": len(summaries), "results": summaries}


def _log_locations(result: GateResult) -> None:
    log.info("Full validation result: %s", result.result_path)
    log.info("Data Docs: %s", result.data_docs_path)
