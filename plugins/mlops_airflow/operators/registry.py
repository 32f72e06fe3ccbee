"""Registry operators over mlflow.MlflowClient: compliance, comparison, approval, promotion, rollback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata
from mlops_airflow.hooks import MlopsHook, UseCaseHookMixin, UseCaseOperator, task_outcome

if TYPE_CHECKING:
    from mlops.registry import Audit

DEFAULT_BASE_URL = "http://localhost:8080"


def run_link(dag_id: str, run_id: str) -> str:
    """Link to the Airflow run in the UI (api.base_url, else the local default)."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def audit_for(context: Context, actor: str) -> Audit:
    """Who acts, from the task context."""
    from mlops.registry import Audit

    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    return Audit(dag_id, run_id, run_link(dag_id, run_id), actor)


class _RegistryOperator(UseCaseOperator):
    template_fields: Sequence[str] = ("model_name", "version")
    ui_color = "#fde0dd"

    def __init__(
        self,
        *,
        version: Any,
        model_name: str | None = None,
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version, self.model_name, self.spark_conn_id = version, model_name, spark_conn_id


class CheckComplianceOperator(_RegistryOperator):
    """Run the configured compliance checks on each version (templated `version`: one, a list or "3,4").

    A passing version gets `cd.compliance=passed`; the newest passing one gets alias `challenger`.
    A failing one is tagged `cd.status=rejected` with the reasons. One row per check goes to
    monitoring.cd_decisions. Fails (no retry) when no version passes. Returns {"challenger", "passed",
    "rejected", "model_name"} (use `multiple_outputs=True` to pass `.output["challenger"]` on).
    """

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.registry.cd import check_versions

        hook = self.hook
        audit = audit_for(context, "compliance")
        return check_versions(hook.mlflow, self.spark(), hook.lakehouse, hook.settings, self.version, audit,
                              self.model_name)  # fmt: skip


class CompareWithChampionOperator(_RegistryOperator):
    """Score the challenger and the champion on recent labelled data neither trained on; apply the rule.

    Writes `cd.comparison` and metric tags, rows in monitoring.cd_decisions; a failing challenger is
    rejected and the task fails without retry. Returns the comparison summary (with `champion_version`
    and `message`).
    """

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.registry.cd import compare_version

        hook = self.hook
        audit = audit_for(context, "comparison")
        return compare_version(hook.mlflow, self.spark(), hook.lakehouse, hook.settings, self.version, audit,
                               self.model_name)  # fmt: skip


class AutoApproveOperator(UseCaseOperator):
    """Approval in dev and staging (promotion.approval=auto): approves by rule and records it."""

    template_fields: Sequence[str] = ("model_name", "version")

    def __init__(self, *, version: Any, model_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version, self.model_name = version, model_name

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        return _record_approval(self.hook, context, self.model_name, self.version, True, "rule promotion.approval=auto")


class PromotionApprovalOperator(UseCaseHookMixin, ApprovalOperator):
    """Human approval in prod (Airflow HITL): shows the comparison and the MLflow link; Reject or timeout
    (default option) rejects the version and skips promotion. The choice and who made it are recorded.

    `comparison`: the comparison's one-line message (templated; e.g. `compare.output["message"]`).
    """

    template_fields: Sequence[str] = ("subject", "body", "model_name", "version", "comparison")

    def __init__(
        self,
        *,
        version: Any,
        model_name: str | None = None,
        comparison: Any = "",
        usecase: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("defaults", ApprovalOperator.REJECT)
        kwargs.setdefault("subject", "Promote model version to champion?")
        super().__init__(**kwargs)
        self.version, self.model_name, self.comparison = version, model_name, comparison
        self.usecase = usecase

    def execute(self, context: Context) -> Any:
        settings = self.hook.settings
        name = self.model_name or settings.mlflow.model_name
        self.subject = f"Promote {name} v{self.version} to champion?"
        self.body = (
            f"{self.body or ''}\n\n**Comparison:** {self.comparison or 'no comparison found'}\n\n"
            f"[MLflow version]({mlflow_version_link(settings.mlflow.tracking_uri, name, str(self.version))}) · "
            f"Reject, or no answer within {settings.promotion.approval_timeout_hours} h, rejects the version."
        ).strip()
        return super().execute(context)

    @task_outcome
    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        chosen = (event.get("chosen_options") or [self.REJECT])[0] if "error" not in event else self.REJECT
        user = event.get("responded_by_user") or {}
        who = user.get("name") or user.get("id") or ("timeout" if event.get("timedout") else "unknown")
        approved = chosen == self.APPROVE and not event.get("timedout")
        decision = _record_approval(self.hook, context, self.model_name, self.version, approved, f"user {who}")
        payload = super().execute_complete(context, event)
        return {**payload, **decision}


def mlflow_version_link(tracking_uri: str, model_name: str, version: str) -> str:
    """The MLflow UI page of a version (the tracking server, else a local `mlflow ui` on port 5000)."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith("http") else "http://localhost:5000"
    return f"{base}/#/models/{model_name}/versions/{version}"


def _record_approval(
    hook: MlopsHook, context: Context, model_name: str | None, version: Any, approved: bool, who: str
) -> dict[str, Any]:
    from mlops.registry.cd import record_approval

    audit = audit_for(context, who)
    return record_approval(hook.mlflow, hook.lakehouse, hook.settings, version, approved, who, audit, model_name)


class PromoteModelOperator(_RegistryOperator):
    """Move alias `champion` to the version (race-checked against `expected_champion`; a no-op when it
    already is champion); emits the champion-changed asset event."""

    template_fields: Sequence[str] = ("model_name", "version", "expected_champion", "approved_by")

    def __init__(self, *, expected_champion: Any = None, approved_by: Any = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expected_champion, self.approved_by = expected_champion, approved_by

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.registry.cd import promote_version

        hook, audit = self.hook, audit_for(context, self.approved_by or "model_promotion")
        done = promote_version(hook.mlflow, hook.lakehouse, hook.settings, self.version, self.expected_champion,
                               audit, self.model_name)  # fmt: skip
        emit_asset_metadata(context, self.outlets, done)
        return done


class RollbackModelOperator(_RegistryOperator):
    """Point `champion` back at a version (empty: `previous_champion`), with an audit row."""

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.registry.cd import rollback_version

        hook, audit = self.hook, audit_for(context, "model_rollback")
        done = rollback_version(hook.mlflow, hook.lakehouse, hook.settings, self.version, audit, self.model_name)
        emit_asset_metadata(context, self.outlets, done)
        return done
