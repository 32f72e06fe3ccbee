"""Registry operators over mlflow.MlflowClient: compliance, comparison, approval, promotion, rollback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, spark_for_task
from mlops_airflow.hooks import UseCaseHookMixin, UseCaseOperator

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


def parse_versions(value: Any) -> list[str]:
    """Versions from a param, an XCom list or a comma-separated string, ascending and unique."""
    items = value if isinstance(value, (list, tuple)) else str(value or "").replace(",", " ").split()
    found = {str(v).strip() for v in items if str(v).strip() not in ("", "None")}
    bad = sorted(v for v in found if not v.isdigit())
    if bad or not found:
        raise ValueError(f"Model versions must be positive integers, got {value!r}")
    return sorted(found, key=int)


class _RegistryOperator(UseCaseOperator):
    template_fields: Sequence[str] = ("model_name", "version")
    ui_color = "#fde0dd"

    def __init__(self, *, version: Any, model_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version, self.model_name = version, model_name

    def _setup(self) -> tuple[Any, Any, str]:

        settings = self.hook.settings
        name = self.model_name or settings.mlflow.model_name
        if name != settings.mlflow.model_name:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"Refusing model {name!r}: this environment ({settings.env}) deploys {settings.mlflow.model_name!r}"
            )
        return settings, self.hook.mlflow, name


class CheckComplianceOperator(_RegistryOperator):
    """Run the configured compliance checks on each version (templated `version`: one, a list or "3,4").

    A passing version gets `cd.compliance=passed`; the newest passing one gets alias `challenger`.
    A failing one is tagged `cd.status=rejected` with the reasons. One row per check goes to
    monitoring.cd_decisions. Fails (no retry) when no version passes.
    """

    def __init__(self, *, spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spark_conn_id = spark_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        import tempfile
        from pathlib import Path

        from airflow.sdk.exceptions import AirflowFailException

        from mlops.registry import RegistryInputError, append_decisions, compliance_rows, reject, set_challenger
        from mlops.registry.compliance import check_compliance
        from mlops.registry.evaluation import current_sample
        from mlops.registry.registry import get_version, record_tags

        settings, client, name = self._setup()
        audit, lakehouse = audit_for(context, "compliance"), self.hook.lakehouse
        try:
            versions = parse_versions(self.version)
            for v in versions:
                get_version(client, name, v)
        except (ValueError, RegistryInputError) as exc:
            raise AirflowFailException(f"Not checking {name}: {exc}") from exc
        spark = spark_for_task(settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")
        sample = current_sample(spark, lakehouse, settings)
        passed, rejected = [], []
        for v in versions:
            with tempfile.TemporaryDirectory(prefix="mlops-compliance-") as folder:
                report = check_compliance(client, settings.promotion, name, v, sample, Path(folder))
            append_decisions(lakehouse, compliance_rows(report), audit, f"compliance/{v}")
            if report.passed:
                passed.append(v)
            else:
                reject(client, name, v, "compliance", list(report.reasons), audit)
                rejected.append(v)
                self.log.warning("Rejected %s v%s at compliance: %s", name, v, report.reasons)
        for v in passed[:-1]:
            note = f"superseded by v{passed[-1]} in the same run"
            record_tags(client, name, v, {"cd.compliance": "passed", "cd.status": "superseded"}, audit.line(note))
        if not passed:
            raise AirflowFailException(f"No compliant version of {name} among {versions}: rejected {rejected}")
        set_challenger(client, name, passed[-1], audit)
        return {"model_name": name, "challenger": passed[-1], "passed": passed, "rejected": rejected}


class CompareWithChampionOperator(_RegistryOperator):
    """Score the challenger and the champion on recent labelled data neither trained on; apply the rule.

    Writes `cd.comparison` and metric tags, rows in monitoring.cd_decisions; a failing challenger is
    rejected and the task fails without retry. Returns the comparison summary (with `champion_version`).
    """

    def __init__(self, *, spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spark_conn_id = spark_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops.registry import RegistryInputError, append_decisions, comparison_rows, reject
        from mlops.registry.evaluation import ComparisonDataError, compare_with_champion
        from mlops.registry.registry import record_tags

        settings, client, name = self._setup()
        audit, lakehouse = audit_for(context, "comparison"), self.hook.lakehouse
        spark = spark_for_task(settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")
        version = str(self.version)
        try:
            result = compare_with_champion(client, spark, lakehouse, settings, name, version)
        except (ComparisonDataError, RegistryInputError) as exc:
            raise AirflowFailException(f"Not comparing {name} v{version}: {exc}") from exc
        append_decisions(lakehouse, comparison_rows(result), audit, f"comparison/{version}")
        tags = {
            "cd.comparison": "passed" if result.passed else "failed",
            "cd.compared_with": result.champion_version or "baseline",
            "cd.roc_auc": f"{result.challenger.roc_auc:.4f}",
            "cd.log_loss": f"{result.challenger.log_loss:.4f}",
        }
        record_tags(client, name, version, tags, audit.line(result.message()))
        if not result.passed:
            reject(client, name, version, "comparison", list(result.reasons), audit)
            raise AirflowFailException(f"Not promoting {result.message()}")
        return result.summary()


class AutoApproveOperator(UseCaseOperator):
    """Approval in dev and staging (promotion.approval=auto): approves by rule and records it."""

    template_fields: Sequence[str] = ("model_name", "version")

    def __init__(self, *, version: Any, model_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version, self.model_name = version, model_name

    def execute(self, context: Context) -> dict[str, Any]:
        return record_approval(
            context, self.usecase, self.model_name, str(self.version), True, "rule promotion.approval=auto"
        )


class PromotionApprovalOperator(UseCaseHookMixin, ApprovalOperator):
    """Human approval in prod (Airflow HITL): shows the comparison and the MLflow link; Reject or timeout
    (default option) rejects the version and skips promotion. The choice and who made it are recorded."""

    template_fields: Sequence[str] = ("subject", "body", "model_name", "version")

    def __init__(
        self,
        *,
        version: Any,
        model_name: str | None = None,
        comparison_task_id: str = "compare_with_champion",
        usecase: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("defaults", ApprovalOperator.REJECT)
        kwargs.setdefault("subject", "Promote model version to champion?")
        super().__init__(**kwargs)
        self.version, self.model_name, self.comparison_task_id = version, model_name, comparison_task_id
        self.usecase = usecase

    def execute(self, context: Context) -> Any:

        settings = self.hook.settings
        name = self.model_name or settings.mlflow.model_name
        summary = context["ti"].xcom_pull(task_ids=self.comparison_task_id) or {}
        self.subject = f"Promote {name} v{self.version} to champion?"
        self.body = (
            f"{self.body or ''}\n\n**Comparison:** {summary.get('message', 'no comparison found')}\n\n"
            f"[MLflow version]({mlflow_version_link(settings.mlflow.tracking_uri, name, str(self.version))}) · "
            f"Reject, or no answer within {settings.promotion.approval_timeout_hours} h, rejects the version."
        ).strip()
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        chosen = (event.get("chosen_options") or [self.REJECT])[0] if "error" not in event else self.REJECT
        user = event.get("responded_by_user") or {}
        who = user.get("name") or user.get("id") or ("timeout" if event.get("timedout") else "unknown")
        approved = chosen == self.APPROVE and not event.get("timedout")
        decision = record_approval(context, self.usecase, self.model_name, str(self.version), approved, f"user {who}")
        payload = super().execute_complete(context, event)
        return {**payload, **decision}


def mlflow_version_link(tracking_uri: str, model_name: str, version: str) -> str:
    """The MLflow UI page of a version (the tracking server, else a local `mlflow ui` on port 5000)."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith("http") else "http://localhost:5000"
    return f"{base}/#/models/{model_name}/versions/{version}"


def record_approval(
    context: Context, usecase: str | None, model_name: str | None, version: str, approved: bool, who: str
) -> dict[str, Any]:
    """Tag the decision, append its audit row, and reject the version when not approved."""
    from mlops.registry import DecisionRow, append_decisions, reject
    from mlops.registry.registry import record_tags
    from mlops_airflow.hooks import MlopsHook

    hook = MlopsHook(usecase)
    settings = hook.settings
    name = model_name or settings.mlflow.model_name
    client, audit = hook.mlflow, audit_for(context, who)
    outcome = "approved" if approved else "rejected"
    row = DecisionRow(name, version, "approval", settings.promotion.approval, outcome, f"{outcome} by {who}")
    append_decisions(hook.lakehouse, [row], audit, f"approval/{version}")
    tags = {"cd.approval": outcome, "cd.approved_by" if approved else "cd.rejected_by": who}
    record_tags(client, name, version, tags, audit.line(f"Promotion {outcome} by {who}."))
    if not approved:
        reject(client, name, version, "approval", [f"{outcome} by {who}"], audit)
    return {"model_name": name, "version": version, "approved": approved, "by": who}


class PromoteModelOperator(_RegistryOperator):
    """Move alias `champion` to the version (race-checked against `expected_champion`; a no-op when it
    already is champion); emits the champion-changed asset event."""

    template_fields: Sequence[str] = ("model_name", "version", "expected_champion", "approved_by")

    def __init__(self, *, expected_champion: str | None = None, approved_by: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expected_champion, self.approved_by = expected_champion, approved_by

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops.registry import DecisionRow, PromotionRaceError, RegistryInputError, append_decisions, promote

        settings, client, name = self._setup()
        audit = audit_for(context, self.approved_by or "model_promotion")
        expected = None if str(self.expected_champion) in ("", "None") else str(self.expected_champion)
        version, lakehouse = str(self.version), self.hook.lakehouse
        try:
            done = promote(client, name, version, expected, audit)
        except (RegistryInputError, PromotionRaceError) as exc:
            row = DecisionRow(name, version, "promotion", "champion", "refused", str(exc), champion_version=expected)
            append_decisions(lakehouse, [row], audit, f"promotion/{version}")
            raise AirflowFailException(str(exc)) from exc
        if settings.promotion.mirror_legacy_stages and done.outcome == "promoted":
            from mlops.registry.registry import mirror_stage

            mirror_stage(client, name, version, "Production")
        detail = f"champion v{version}, previous {done.previous_champion or 'none'}"
        row = DecisionRow(name, version, "promotion", "champion", done.outcome, detail, champion_version=expected)
        append_decisions(lakehouse, [row], audit, f"promotion/{version}")
        emit_asset_metadata(context, self.outlets, done.summary())
        return done.summary()


class RollbackModelOperator(_RegistryOperator):
    """Point `champion` back at a version (empty: `previous_champion`), with an audit row."""

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops.registry import DecisionRow, RegistryInputError, append_decisions, rollback

        settings, client, name = self._setup()
        audit, target = audit_for(context, "model_rollback"), str(self.version or "").strip()
        try:
            done = rollback(client, name, None if target in ("", "None") else target, audit)
        except RegistryInputError as exc:
            raise AirflowFailException(str(exc)) from exc
        detail = f"champion v{done.version}, was v{done.previous_champion}"
        row = DecisionRow(name, done.version, "rollback", "champion", done.outcome, detail, None, None,
                          done.previous_champion)  # fmt: skip
        append_decisions(self.hook.lakehouse, [row], audit, f"rollback/{done.version}")
        emit_asset_metadata(context, self.outlets, done.summary())
        return done.summary()
