"""QualityGateOperator: run a Great Expectations gate before the write it protects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from mlops_airflow.common import run_days
from mlops_airflow.hooks import UseCaseOperator


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
    """

    template_fields: Sequence[str] = ("gate", "target", "day", "days", "model_version")
    ui_color = "#e2f0d9"

    def __init__(
        self,
        *,
        gate: str,
        target: str,
        day: str = "{{ ds }}",
        days: str | int = 1,
        model_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.target = target
        self.day = day
        self.days = days
        self.model_version = model_version

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops.quality.pipeline_gates import GateFailedError, GateRequest, run_named_gate

        settings = self.hook.settings
        lakehouse = self.hook.lakehouse
        version = None if self.model_version in (None, "", "None") else str(self.model_version)
        summaries = []
        dates = run_days(self.day, self.days)
        for day in dates:
            # Data Docs once per run (with its last date) and for any refused batch: building them is most
            # of a small gate's time.
            req = GateRequest(settings, lakehouse, self.target, day, context["run_id"], version, day == dates[-1])
            try:
                result = run_named_gate(self.gate, req)
            except GateFailedError as exc:
                if exc.result is not None:
                    self._log_locations(exc.result)
                raise AirflowFailException(f"{day}: {exc}") from exc
            self._log_locations(result)
            summaries.append(result.summary())
            self.log.info("Gate %s on %s for %s passed: %s", self.gate, self.target, day, summaries[-1])
        return summaries[0] if len(summaries) == 1 else {"days": len(summaries), "results": summaries}

    def _log_locations(self, result: Any) -> None:
        self.log.info("Full validation result: %s", result.result_path)
        self.log.info("Data Docs: %s", result.data_docs_path)
