"""The platform hook and the base classes of its operators: one use case's settings, lakehouse and MLflow client."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.usecase import UseCase

F = TypeVar("F", bound=Callable[..., Any])


def task_outcome(execute: F) -> F:
    """Decorate an `execute`: the core's outcomes become task states. A `Refusal` (bad input or data, a gate
    or decision against) fails the task without retries; `NothingToDo` skips it (and the rest of the run),
    both with the core's message; any other error keeps Airflow's retries."""

    @functools.wraps(execute)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from mlops.errors import NothingToDo, Refusal

        try:
            return execute(*args, **kwargs)
        except Refusal as exc:
            raise AirflowFailException(str(exc)) from exc
        except NothingToDo as exc:
            raise AirflowSkipException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


class MlopsHook(BaseHook):
    """Settings, lakehouse and MLflow client of one use case in the current environment (MLOPS_ENV).

    Every platform operator reaches its systems through this hook, created on first use in `execute`.
    `usecase=None` selects the first enabled use case.
    """

    conn_name_attr = "mlops_conn_id"
    hook_name = "MLOps use case"

    def __init__(self, usecase: str | None = None) -> None:
        super().__init__()
        self.usecase_name = usecase

    @cached_property
    def settings(self) -> Settings:
        """The use case's frozen, validated settings."""
        from mlops.config import load_settings

        return load_settings(usecase=self.usecase_name)

    @cached_property
    def usecase(self) -> UseCase:
        """The use case's contract."""
        from mlops.usecase import usecase_of

        return usecase_of(self.settings)

    @cached_property
    def lakehouse(self) -> Lakehouse:
        """The use case's lakehouse (tables under `<root>/<use case>`)."""
        from mlops.lakehouse import Lakehouse

        return Lakehouse.from_settings(self.settings)

    @cached_property
    def mlflow(self) -> MlflowClient:
        """An MLflow client on the environment's tracking server."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.settings.mlflow.tracking_uri)


class UseCaseHookMixin:
    """`hook`: the MlopsHook of the task's `usecase` (created on first use, in execute); `spark()`: the task's
    SparkSession on the cluster of the `spark_conn_id` connection (local mode without one)."""

    usecase: str | None
    spark_conn_id: str | None = "spark_default"

    @cached_property
    def hook(self) -> MlopsHook:
        """The use case's hook (settings, lakehouse, MLflow client)."""
        return MlopsHook(self.usecase)

    def spark(self) -> Any:
        """The task's SparkSession (created in execute, never at import), named `<dag id>.<task id>`."""
        from mlops_airflow.common import spark_for_task

        return spark_for_task(self.hook.settings, self.spark_conn_id, f"{self.dag_id}.{self.task_id}")  # type: ignore[attr-defined]


# Each base keeps its own __init__ with `usecase`: Airflow applies a DAG's default_args (where the DAG
# factory puts the use case) to the parameters an operator class's __init__ declares.
class UseCaseOperator(UseCaseHookMixin, BaseOperator):
    """Base of the platform's operators: which use case the task works for (`usecase`, from the DAG factory)."""

    def __init__(self, *, usecase: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.usecase = usecase


class UseCaseSensor(UseCaseHookMixin, BaseSensorOperator):
    """Base of the platform's sensors: like `UseCaseOperator`, for sensors."""

    def __init__(self, *, usecase: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.usecase = usecase
