"""The core's outcomes become task states: a Refusal fails without retry, NothingToDo skips, the rest retries."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops.errors import NothingToDo, Refusal
from mlops_airflow.hooks import task_outcome


@task_outcome
def _raising(error: Exception) -> None:
    raise error


def test_a_refusal_fails_the_task_without_retry_with_its_message():
    with pytest.raises(AirflowFailException, match="bronze.flights: column x missing") as info:
        _raising(Refusal("bronze.flights: column x missing"))
    assert isinstance(info.value.__cause__, Refusal)


def test_nothing_to_do_skips_the_task_with_its_message():
    with pytest.raises(AirflowSkipException, match="already scored"):
        _raising(NothingToDo("2013-01-22 already scored by v3"))


def test_any_other_error_is_left_to_airflow_retries():
    with pytest.raises(ConnectionError):
        _raising(ConnectionError("MLflow server unreachable"))


def test_a_value_error_that_is_not_a_refusal_keeps_its_retries():
    with pytest.raises(ValueError, match="bug"):
        _raising(ValueError("bug"))


def test_the_core_refusals_share_one_base():
    from mlops.config import ConfigError
    from mlops.inference import SignatureMismatchError
    from mlops.inference.batch import UnknownEngineError
    from mlops.ingestion import IngestionError, LandingFileError
    from mlops.lakehouse_schema import SchemaMismatchError
    from mlops.monitoring.reference import NoReferenceProfileError
    from mlops.quality.pipeline_gates import GateFailedError, UnknownGateError
    from mlops.registry import PromotionRaceError, RegistryInputError
    from mlops.registry.cd import VersionRefusedError
    from mlops.registry.evaluation import ComparisonDataError
    from mlops.training import TrainingDataError
    from mlops.training.dataset import TrainingRequestError
    from mlops.usecase import UseCaseError
    from mlops.usecase.contract import UnknownFeatureTableError

    refusals = [ConfigError, SignatureMismatchError, UnknownEngineError, IngestionError, LandingFileError,
                SchemaMismatchError, NoReferenceProfileError, GateFailedError, UnknownGateError, PromotionRaceError,
                RegistryInputError, VersionRefusedError, ComparisonDataError, TrainingDataError, TrainingRequestError,
                UseCaseError, UnknownFeatureTableError]  # fmt: skip
    assert [e.__name__ for e in refusals if not issubclass(e, Refusal)] == []


def test_outcomes_that_are_not_failures_are_not_refusals():
    from mlops.inference import FeaturesNotReadyError, NoModelError
    from mlops.monitoring.retraining import RetrainingDeclined

    assert issubclass(NoModelError, NothingToDo) and issubclass(RetrainingDeclined, NothingToDo)
    assert not issubclass(FeaturesNotReadyError, (Refusal, NothingToDo))  # a retry may find the features
