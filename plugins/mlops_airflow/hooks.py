"""The platform hook and the base classes of its operators: one use case's settings, lakehouse and MLflow client."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.usecase import UseCase


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
    """`hook`: the MlopsHook of the task's `usecase` (created on first use, in execute)."""

    usecase: str | None

    @cached_property
    def hook(self) -> MlopsHook:
        """The use case's hook (settings, lakehouse, MLflow client)."""
        return MlopsHook(self.usecase)


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
