"""QualityGateOperator: run a Great Expectations gate before the write it protects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from mlops_airflow.common import run_dates
from mlops_airflow.hooks import UseCaseOperator, task_outcome


class QualityGateOperator(UseCaseOperator):
    """Validate one batch with a named gate of `mlops.quality.pipeline_gates`.

    A refused batch fails the task without retries (retrying cannot fix bad data) after the full
    result and Data Docs were written to storage; the task log prints where. The small summary
    (success, evaluated, failed expectations, quarantined rows) goes to XCom.

    Args:
        gate: "landing" (a landing dataset), "features" (a staged feature table), "scoring_set" or
            "predictions" (batch inference's staged inputs and outputs).
        target: the dataset or table name (templated).
        day: data date, templated (default `{{ ds }}`).
        days: how many data dates from `day` the run covers (templated; default 1): each date's batch
            is validated on its own, in order, and the first refused batch fails the task.
        model_version: the model version whose predictions the "predictions" gate checks (templated).
        dates: explicit dates to validate instead of `day`/`days` (templated; e.g. a feature compute task's
            `dates` XCom, which adds the stale dates it recomputed).
    """

    template_fields: Sequence[str] = ("gate", "target", "day", "days", "model_version", "dates")
    ui_color = "#e2f0d9"

    def __init__(
        self,
        *,
        gate: str,
        target: str,
        day: str = "{{ ds }}",
        days: str | int = 1,
        model_version: str | None = None,
        dates: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dates = dates
        self.gate = gate
        self.target = target
        self.day = day
        self.days = days
        self.model_version = model_version

    @task_outcome
    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.quality.pipeline_gates import run_gate_dates

        version = None if self.model_version in (None, "") else str(self.model_version)
        dates = run_dates(self.day, self.days, self.dates)
        return run_gate_dates(self.gate, self.hook.settings, self.hook.lakehouse, self.target, dates,
                              context["run_id"], version)  # fmt: skip
