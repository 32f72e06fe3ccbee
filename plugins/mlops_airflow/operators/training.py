"""TrainModelOperator: build the PIT training set, tune, evaluate, log to MLflow and register a version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import DEFAULT_SPARK_CONN_ID, emit_asset_metadata, spark_for_task
from mlops_airflow.hooks import UseCaseOperator


def _optional_int(value: Any, name: str) -> int | None:
    """A rendered template or param value as an int; empty or None means "use the config"."""
    if value is None or value == "" or value == "None":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


class TrainModelOperator(UseCaseOperator):
    """Train and register a new version of the environment's model (`mlops.training.train_model`).

    Every argument is templated and optional: empty means the environment's config value. Without
    `window_end` the window ends the day before the run's data interval end, capped at the latest date
    in the use case's entity table. Bad training data (missing table, empty window, one class, too few
    rows) fails the task without retries and registers nothing. The summary (model name, version, run
    id, key metrics) goes to XCom and to every outlet asset's event.

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

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops.training import TrainingDataError, TrainingWindow, train_model

        settings = self.hook.settings
        lakehouse = self.hook.lakehouse
        try:
            request = self._request(lakehouse, context)
            TrainingWindow.from_settings(settings, request.window_end, request.window_days)  # validate early
            request.budget(settings), request.family(settings)
        except (TrainingDataError, ValueError) as exc:
            raise AirflowFailException(f"Not training {settings.mlflow.model_name}: {exc}") from exc
        spark = spark_for_task(settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")
        self.log.info("Training %s in env %s: %s", settings.mlflow.model_name, settings.env, request)
        try:
            result = train_model(spark, lakehouse, settings, request)
        except TrainingDataError as exc:  # retrying cannot fix the data: fail without retries
            raise AirflowFailException(f"Not training {settings.mlflow.model_name}: {exc}") from exc
        summary = result.summary()
        emit_asset_metadata(context, self.outlets, summary)
        self.log.info("Registered %s version %s (run %s)", result.model_name, result.version, result.run_id)
        return summary

    def _request(self, lakehouse: Any, context: Context) -> Any:
        from mlops.training import RunIdentity, TrainingRequest, default_window_end

        if self.window_end and self.window_end != "None":
            try:
                end = date.fromisoformat(str(self.window_end))
            except ValueError:
                raise ValueError(f"window_end must be a date YYYY-MM-DD, got {self.window_end!r}") from None
        else:
            end = default_window_end(lakehouse, self.hook.usecase, context.get("data_interval_end"))
        return TrainingRequest(
            window_end=end,
            window_days=_optional_int(self.window_days, "window_days"),
            tuning_trials=_optional_int(self.tuning_trials, "tuning_trials"),
            tuning_timeout_seconds=_optional_int(self.tuning_timeout_seconds, "tuning_timeout_seconds"),
            model_family=self.model_family or None,
            who=RunIdentity(
                reason=self.reason or self._run_type(context), dag_id=self.dag_id, run_id=context["run_id"]
            ),
        )

    @staticmethod
    def _run_type(context: Context) -> str:
        dag_run = context.get("dag_run")
        run_type = getattr(dag_run, "run_type", None)
        return str(getattr(run_type, "value", run_type) or "manual")
