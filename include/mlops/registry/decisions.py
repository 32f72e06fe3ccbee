"""The audit table monitoring.cd_decisions: one row per compliance check and per CD decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops.lakehouse import WriterId

if TYPE_CHECKING:
    from mlops.lakehouse import Lakehouse, WriteResult
    from mlops.registry.compliance import ComplianceReport
    from mlops.registry.policy import Comparison
    from mlops.registry.transitions import Audit

CD_DECISIONS = "monitoring.cd_decisions"


@dataclass(frozen=True)
class DecisionRow:
    """One check or decision about one model version."""

    model_name: str
    version: str
    step: str  # compliance, comparison, approval, promotion, rollback
    check: str  # the check or metric name; the step itself for a decision
    outcome: str  # passed, failed, approved, rejected, promoted, already_champion, rolled_back, race_lost
    detail: str
    value: float | None = None
    threshold: float | None = None
    champion_version: str | None = None


def compliance_rows(report: ComplianceReport) -> list[DecisionRow]:
    """A row per check, then the compliance decision."""
    rows = [
        DecisionRow(report.model_name, report.version, "compliance", r.check, _ok(r.passed), r.detail)
        for r in report.results
    ]
    detail = "; ".join(report.reasons) or f"{len(report.results)} checks passed"
    rows.append(DecisionRow(report.model_name, report.version, "compliance", "decision", _ok(report.passed), detail))
    return rows


def comparison_rows(comparison: Comparison) -> list[DecisionRow]:
    """A row per check of the rule (challenger value vs threshold; `<metric>_lift` rows hold the lift over
    the business baseline vs the minimum lift), then the comparison decision."""
    c, champion = comparison, comparison.champion_version
    rows = [
        DecisionRow(c.model_name, c.challenger.version, "comparison", check.check, _ok(check.passed),
                    f"{c.basis} on {c.data}", check.value, check.threshold, champion)
        for check in c.checks
    ]  # fmt: skip
    rows.append(DecisionRow(c.model_name, c.challenger.version, "comparison", "decision", _ok(c.passed),
                            c.message(), champion_version=champion))  # fmt: skip
    return rows


def append_decisions(lakehouse: Lakehouse, rows: list[DecisionRow], audit: Audit, key: str) -> WriteResult:
    """Append rows once per (Airflow run, key): a retried task does not duplicate them."""
    import pyarrow as pa

    now = datetime.now(UTC)
    extra = {"actor": audit.actor, "airflow_dag_id": audit.dag_id, "airflow_run_id": audit.run_id, "decided_at": now}
    schema = pa.schema(
        [(n, pa.string()) for n in ("model_name", "version", "step", "check", "outcome", "detail")]
        + [("value", pa.float64()), ("threshold", pa.float64()), ("champion_version", pa.string())]
        + [(n, pa.string()) for n in ("actor", "airflow_dag_id", "airflow_run_id")]
        + [("decided_at", pa.timestamp("us", tz="UTC"))]
    )
    table = pa.Table.from_pylist([{**asdict(r), **extra} for r in rows], schema=schema)
    return lakehouse.append(CD_DECISIONS, table, writer=WriterId(f"cd_decisions/{audit.dag_id}/{audit.run_id}/{key}"))


def _ok(passed: bool) -> str:
    return "passed" if passed else "failed"
