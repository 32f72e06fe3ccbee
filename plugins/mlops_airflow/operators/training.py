"""TrainModelOperator: build the PIT training set, tune, evaluate, log to MLflow and register a version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata
from mlops_airflow.hooks import UseCaseOperator, task_outcome


class TrainModelOperator(UseCaseOperator):
    """Train and register a new version of the environment's model (`mlops.training.train_model`).

    Every argument is templated and optional: empty means the environment's config value. Without
    `window_end` the window ends the day before the run's data interval end, capped at the latest date
    in the use case's entity table. Bad training data (missing table, empty window, one class, too few
    rows) fails the task without retries and registers nothing. The summary (model name, version, run
    id, key metrics) goes to XCom and to every outlet asset's event. A run whose training fingerprint
    matches a version CD already decided is skipped and emits no event; one matching a version CD has
    not decided returns that version (nothing new is registered).

    Args:
        window_end: last entity date (YYYY-MM-DD) of the training window.
        window_days: window length in days (train + validation + test).
        tuning_trials: maximum tuning trials.
        tuning_timeout_seconds: tuning time budget.
        model_family: model family (config's `training.model_family` values).
        reason: why this run trains (drift, manual ...); tagged on the run and version; empty: the run type.
        spark_conn_id: Airflow connection of the Spark cluster; absent means local mode.
    """

    template_fields: Sequence[str] = (
        "window_end",
        "window_days",
        "tuning_trials",
        "tuning_timeout_seconds",
        "model_family",
        "reason",
    )
    ui_color = "#e5f5e0"

    def __init__(
        self,
        *,
        window_end: str | None = None,
        window_days: int | str | None = None,
        tuning_trials: int | str | None = None,
        tuning_timeout_seconds: int | str | None = None,
        model_family: str | None = None,
        reason: str = "",
        spark_conn_id: str | None = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window_end = window_end
        self.window_days = window_days
        self.tuning_trials = tuning_trials
        self.tuning_timeout_seconds = tuning_timeout_seconds
        self.model_family = model_family
        self.reason = reason
        self.spark_conn_id = spark_conn_id

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.training import RunIdentity
        from mlops.training.train import request_from_params, train_requested

        who = RunIdentity(reason=self.reason or self._run_type(context), dag_id=self.dag_id, run_id=context["run_id"])
        params = {name: getattr(self, name) for name in self.template_fields if name != "reason"}
        interval_end = context.get("data_interval_end")
        request = request_from_params(self.hook.lakehouse, self.hook.settings, who, **params,
                                      data_interval_end=interval_end)  # fmt: skip
        summary = train_requested(self.spark, self.hook.lakehouse, self.hook.settings, request)
        emit_asset_metadata(context, self.outlets, summary)
        return summary

    @staticmethod
    def _run_type(context: Context) -> str:
        dag_run = context.get("dag_run")
        run_type = getattr(dag_run, "run_type", None)
        return str(getattr(run_type, "value", run_type) or "manual")
