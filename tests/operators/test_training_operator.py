"""TrainModelOperator: templated arguments, window resolution, refusals as AirflowFailException."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops.config import ENV_LAKEHOUSE_ROOT
from mlops.training.train import _optional_int
from mlops_airflow.assets import model_asset
from mlops_airflow.operators.training import TrainModelOperator


def _context(run_id: str = "manual__op") -> dict:
    return {"run_id": run_id, "data_interval_end": None, "outlet_events": {}}


def test_train_model_operator_templates_every_choice():
    assert set(TrainModelOperator.template_fields) == {
        "window_end",
        "window_days",
        "tuning_trials",
        "tuning_timeout_seconds",
        "model_family",
        "reason",
    }


def test_train_model_operator_fails_naming_a_missing_feature_table(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "empty"))
    operator = TrainModelOperator(task_id="train_model")
    with pytest.raises(AirflowFailException, match="features.flight_schedule does not exist"):
        operator.execute(_context())


def test_train_model_operator_fails_on_a_bad_window_end(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "empty"))
    operator = TrainModelOperator(task_id="train_model", window_end="2013-13-01")
    with pytest.raises(AirflowFailException, match="window_end must be a date YYYY-MM-DD, got '2013-13-01'"):
        operator.execute(_context())


def test_train_model_operator_fails_on_a_window_too_short_to_split(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "empty"))
    operator = TrainModelOperator(task_id="train_model", window_end="2013-01-10", window_days="5")
    with pytest.raises(AirflowFailException, match="leaves no training days"):
        operator.execute(_context())


def test_train_model_operator_fails_on_an_unknown_model_family(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "empty"))
    operator = TrainModelOperator(task_id="train_model", window_end="2013-01-10", model_family="lightgbm")
    with pytest.raises(AirflowFailException, match="Unknown model family 'lightgbm'"):
        operator.execute(_context())


@pytest.mark.parametrize(("value", "expected"), [("", None), (" ", None), (None, None), ("7", 7), (3, 3)])
def test_optional_int_reads_rendered_params(value, expected):
    assert _optional_int(value, "window_days") == expected


def test_model_asset_names_the_registered_model():
    asset = model_asset("flight_delay_staging")
    assert (asset.name, asset.uri) == ("mlflow.models.flight_delay_staging", "mlflow://models/flight_delay_staging")
