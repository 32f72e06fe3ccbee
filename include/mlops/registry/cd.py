"""The continuous-deployment flow of a model version, one function per step: compliance, comparison,
approval, promotion, rollback.

Each step gathers its facts, applies a pure decision (`compliance.check_facts`, `policy.compare_models`),
writes the registry tags and description line, appends its audit rows to monitoring.cd_decisions, and
raises a `Refusal` (`VersionRefusedError`, `RegistryInputError`, `PromotionRaceError`) when the version
may not go on. The Airflow operators call one of these each; so can a script or a notebook.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import Refusal
from mlops.registry.decisions import DecisionRow, append_decisions, comparison_rows, compliance_rows
from mlops.registry.transitions import (
    Audit,
    PromotionRaceError,
    RegistryInputError,
    get_version,
    mirror_stage,
    promote,
    record_tags,
    reject,
    rollback,
    set_challenger,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse

log = logging.getLogger(__name__)


class VersionRefusedError(Refusal):
    """A CD step refused the version (it is tagged `cd.status=rejected` with the reasons)."""


def deployed_model(settings: Settings, requested: str | None = None) -> str:
    """The registered model this environment deploys; another name is refused."""
    name = requested or settings.mlflow.model_name
    if name != settings.mlflow.model_name:
        raise RegistryInputError(
            f"Refusing model {name!r}: this environment ({settings.env}) deploys {settings.mlflow.model_name!r}"
        )
    return name


def parse_versions(value: Any) -> list[str]:
    """Versions from a param, an XCom list or a comma-separated string, ascending and unique."""
    items = value if isinstance(value, (list, tuple)) else str(value if value is not None else "").replace(",", " ")
    items = items if isinstance(items, (list, tuple)) else items.split()
    found = {str(v).strip() for v in items if v is not None and str(v).strip()}
    bad = sorted(v for v in found if not v.isdigit())
    if bad or not found:
        raise RegistryInputError(f"Model versions must be positive integers, got {value!r}")
    return sorted(found, key=int)


def check_versions(
    client: MlflowClient,
    spark: SparkSession,
    lakehouse: Lakehouse,
    settings: Settings,
    versions: Any,
    audit: Audit,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Run the compliance checks on each version; the newest passing one becomes `challenger`.

    A passing version gets `cd.compliance=passed`; a failing one is rejected with the reasons; the
    passing ones before the newest are tagged superseded. One row per check goes to cd_decisions.

    Raises:
        RegistryInputError: a version is not a number or does not exist (nothing checked).
        VersionRefusedError: no version passed.
    """
    from mlops.registry.compliance import check_compliance
    from mlops.registry.evaluation import current_sample
    from mlops.usecase import usecase_of

    name = deployed_model(settings, model_name)
    wanted = parse_versions(versions)
    for v in wanted:
        get_version(client, name, v)
    sample = current_sample(spark, lakehouse, settings)
    spec = usecase_of(settings).model
    passed, rejected = [], []
    for v in wanted:
        with tempfile.TemporaryDirectory(prefix="mlops-compliance-") as folder:
            report = check_compliance(client, settings.promotion, name, v, sample, Path(folder), spec)
        append_decisions(lakehouse, compliance_rows(report), audit, f"compliance/{v}")
        if report.passed:
            passed.append(v)
            continue
        reject(client, name, v, "compliance", list(report.reasons), audit)
        rejected.append(v)
        log.warning("Rejected %s v%s at compliance: %s", name, v, "; ".join(report.reasons))
    for v in passed[:-1]:
        note = f"superseded by v{passed[-1]} in the same run"
        record_tags(client, name, v, {"cd.compliance": "passed", "cd.status": "superseded"}, audit.line(note))
    if not passed:
        raise VersionRefusedError(f"No compliant version of {name} among {wanted}: rejected {rejected}")
    set_challenger(client, name, passed[-1], audit)
    log.info("%s v%s passed compliance: alias challenger", name, passed[-1])
    return {"model_name": name, "challenger": passed[-1], "passed": passed, "rejected": rejected}


def compare_version(
    client: MlflowClient,
    spark: SparkSession,
    lakehouse: Lakehouse,
    settings: Settings,
    version: Any,
    audit: Audit,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Score the challenger and the champion (or the business baseline) on data neither trained on and apply
    the task's promotion rule. Writes `cd.comparison` and metric tags and the cd_decisions rows.

    Returns the comparison summary (with `champion_version`, the champion the promotion must still find).

    Raises:
        ComparisonDataError: no labelled data neither model trained on (nothing rejected).
        VersionRefusedError: the challenger fails the rule (it is rejected).
    """
    from mlops.registry.evaluation import compare_with_champion
    from mlops.task_metrics import guard_metric, primary_metric

    name, version = deployed_model(settings, model_name), str(version)
    result = compare_with_champion(client, spark, lakehouse, settings, name, version)
    append_decisions(lakehouse, comparison_rows(result), audit, f"comparison/{version}")
    shown = (primary_metric(result.task), guard_metric(result.task))
    tags = {
        "cd.comparison": "passed" if result.passed else "failed",
        "cd.compared_with": result.champion_version or "baseline",
        **{f"cd.{m.name}": f"{result.challenger[m.name]:.4f}" for m in shown},
    }
    record_tags(client, name, version, tags, audit.line(result.message()))
    log.info("%s", result.message())
    if not result.passed:
        reject(client, name, version, "comparison", list(result.reasons), audit)
        raise VersionRefusedError(f"Not promoting {result.message()}")
    return result.summary()


def record_approval(
    client: MlflowClient,
    lakehouse: Lakehouse,
    settings: Settings,
    version: Any,
    approved: bool,
    who: str,
    audit: Audit,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Tag the approval decision and append its audit row; a version not approved is rejected."""
    name, version = deployed_model(settings, model_name), str(version)
    outcome = "approved" if approved else "rejected"
    row = DecisionRow(name, version, "approval", settings.promotion.approval, outcome, f"{outcome} by {who}")
    append_decisions(lakehouse, [row], audit, f"approval/{version}")
    tags = {"cd.approval": outcome, "cd.approved_by" if approved else "cd.rejected_by": who}
    record_tags(client, name, version, tags, audit.line(f"Promotion {outcome} by {who}."))
    if not approved:
        reject(client, name, version, "approval", [f"{outcome} by {who}"], audit)
    log.info("%s v%s: promotion %s by %s", name, version, outcome, who)
    return {"model_name": name, "version": version, "approved": approved, "by": who}


def promote_version(
    client: MlflowClient,
    lakehouse: Lakehouse,
    settings: Settings,
    version: Any,
    expected_champion: Any,
    audit: Audit,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Move alias `champion` to the version (race-checked against `expected_champion`; a no-op when it
    already is champion) and record the transition; a refusal is recorded too, then raised.

    Raises:
        RegistryInputError: the version may not become champion (rejected, or not through CD).
        PromotionRaceError: the champion moved since the comparison.
    """
    name, version = deployed_model(settings, model_name), str(version)
    expected = None if expected_champion in (None, "") else str(expected_champion)
    try:
        done = promote(client, name, version, expected, audit)
    except (RegistryInputError, PromotionRaceError) as exc:
        row = DecisionRow(name, version, "promotion", "champion", "refused", str(exc), champion_version=expected)
        append_decisions(lakehouse, [row], audit, f"promotion/{version}")
        raise
    if settings.promotion.mirror_legacy_stages and done.outcome == "promoted":
        mirror_stage(client, name, version, "Production")
    detail = f"champion v{version}, previous {done.previous_champion or 'none'}"
    row = DecisionRow(name, version, "promotion", "champion", done.outcome, detail, champion_version=expected)
    append_decisions(lakehouse, [row], audit, f"promotion/{version}")
    log.info("%s v%s: %s (%s)", name, version, done.outcome, detail)
    return done.summary()


def rollback_version(
    client: MlflowClient,
    lakehouse: Lakehouse,
    settings: Settings,
    target: Any,
    audit: Audit,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Point `champion` back at `target` (empty: `previous_champion`) and record it.

    Raises:
        RegistryInputError: the target does not exist, was rejected, or there is nothing to roll back to.
    """
    name = deployed_model(settings, model_name)
    wanted = None if target is None or not str(target).strip() else str(target).strip()
    done = rollback(client, name, wanted, audit)
    detail = f"champion v{done.version}, was v{done.previous_champion}"
    row = DecisionRow(name, done.version, "rollback", "champion", done.outcome, detail, None, None,
                      done.previous_champion)  # fmt: skip
    append_decisions(lakehouse, [row], audit, f"rollback/{done.version}")
    log.info("%s: %s", name, detail)
    return done.summary()
