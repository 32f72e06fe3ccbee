"""
# model_promotion

Continuous deployment of the environment's model: compliance, challenger vs champion, approval, champion.

**Triggers.** Every event on asset `mlflow.models.<model_name>` (emitted by `model_training` per new
version). Every queued event is processed: each version is checked; the newest compliant one becomes
`challenger` and goes on. Manually: *Trigger DAG w/ config* with `version` (e.g. `"7"` or `"6,7"`).

**Steps.**
1. `resolve_versions`: the versions of all triggering events (or the `version` param).
2. `check_compliance`: required tags (code version, data versions, owner), description, signature,
   input example, dataset lineage, required metrics, loads and predicts valid outputs on current
   features (probabilities in [0, 1], rows of class probabilities, finite values: per task type),
   artifact size (`promotion.compliance_checks`). Pass: alias `challenger`,
   `cd.compliance=passed`. Fail: `cd.status=rejected` with reasons; never champion.
3. `compare_with_champion`: both models scored on labelled entities after both training windows
   (or, when none exist yet, on the challenger's held-out test days if the champion never saw them),
   in the task type's metrics: the primary metric (ROC AUC, macro F1, RMSE) no worse than the
   champion's by more than `promotion.primary_tolerance` (binary: `auc_tolerance`), the guard metric
   (log loss, log loss, MAE) by more than `guard_tolerance` (log loss: `max_log_loss_increase`).
   No champion yet: binary ROC AUC >= `promotion.baseline_roc_auc`; other task types must beat the
   business baseline on the training run's held-out days by `promotion.min_lift` (> 0).
4. `approve`: prod (`promotion.approval: human`) asks a human in the Airflow UI (*Required actions*,
   or the task's *Required action* tab): Approve promotes; Reject, or no answer within
   `promotion.approval_timeout_hours`, rejects. dev/staging approve automatically.
5. `promote`: alias `champion` (the old champion keeps `previous_champion`), re-checked against the
   champion the comparison used; emits asset `mlflow.models.<model_name>.champion`.

**One registry writer per model.** Steps 2 to 5 (and `model_rollback`) run in the Airflow pool
`mlflow_registry.<model_name>` of one slot, created by the setup steps (`python -m mlops_airflow.pools`);
each transition also holds the model's registry file lock and re-checks under it, so a rejected version
never becomes champion and two promotions never both win. A retried step finishes what a failed attempt
started: the same end state as an unbroken run.

**Writes** model version tags `cd.*`, description lines with this run's link, aliases, and one row per
check and decision in `monitoring.cd_decisions`.

**When it fails:** a refused version (compliance, comparison, race lost) fails without retries with the
reason in the log, the tags and the table; fix and retrain, or re-run. MLflow errors retry with backoff.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, task

from mlops_airflow.assets import champion_asset, model_asset
from mlops_airflow.operators.registry import (
    AutoApproveOperator,
    CheckComplianceOperator,
    CompareWithChampionOperator,
    PromoteModelOperator,
    PromotionApprovalOperator,
)
from mlops_airflow.pools import registry_pool
from mlops_airflow.scheduling import usecase_dag, usecase_settings


@task
def resolve_versions(params=None, triggering_asset_events=None) -> list[str]:
    """The versions to check: the `version` param, else every triggering event's version."""
    from mlops.registry.cd import parse_versions

    if params and params.get("version"):
        return parse_versions(params["version"])
    events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
    return parse_versions([e.extra.get("version") for e in events])


def build(settings):
    """The model_promotion DAG of one use case."""

    @usecase_dag(
        settings,
        "model_promotion",
        __doc__,
        tags=["cd"],
        schedule=[model_asset(settings.mlflow.model_name)],
        params={"version": Param(None, type=["null", "string"], title="Version(s)", description="e.g. 7 or 6,7")},
    )
    def model_promotion():
        _wire(settings)

    return model_promotion()


def _wire(settings):
    # Each step hands its outputs to the next as XComArgs (multiple_outputs: one XCom per key). Every task that
    # writes to the registry runs in the model's one-slot pool: one registry writer per model at a time.
    pool = registry_pool(settings.mlflow.model_name)
    checked = CheckComplianceOperator(
        task_id="check_compliance", version=resolve_versions(), multiple_outputs=True, pool=pool
    )
    challenger = checked.output["challenger"]
    compared = CompareWithChampionOperator(
        task_id="compare_with_champion", version=challenger, multiple_outputs=True, pool=pool
    )
    if settings.promotion.approval == "human":
        approved = PromotionApprovalOperator(
            task_id="approve",
            version=challenger,
            comparison=compared.output["message"],
            response_timeout=timedelta(hours=settings.promotion.approval_timeout_hours),
            retries=0,
            multiple_outputs=True,
            pool=pool,  # while it waits for a person (deferred) it holds no slot
        )
    else:
        approved = AutoApproveOperator(task_id="approve", version=challenger, multiple_outputs=True, pool=pool)
    promoted = PromoteModelOperator(
        task_id="promote",
        version=challenger,
        expected_champion=compared.output["champion_version"],
        approved_by=approved.output["by"],
        outlets=[champion_asset(settings.mlflow.model_name)],
        pool=pool,
    )
    checked >> compared >> approved >> promoted


for _settings in usecase_settings():
    build(_settings)
