"""The retraining guardrails, each on its own: cooldown, new labelled rows, retrains per period, active run, switch."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import load_settings
from mlops.monitoring.retraining import decide
from tests.unit._training import training_lakehouse

SIGNAL_DAY = date(2013, 1, 18)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Bronze flights of Jan 1-18 (EWR, ~300 a day)."""
    return training_lakehouse(tmp_path_factory.mktemp("guardrails") / "lakehouse")


def _settings(**retraining):
    settings = load_settings("staging")
    return settings.model_copy(update={"retraining": settings.retraining.model_copy(update=retraining)})


def _signals(day=SIGNAL_DAY) -> pd.DataFrame:
    return pd.DataFrame({"signal_id": ["s1"], "kind": ["data_drift"], "model_version": ["1"], "window_last": [day]})


def _with_runs(lake, tmp_path, runs: list[tuple[date, str]]):
    from mlops.lakehouse import Lakehouse

    copy = Lakehouse(str(tmp_path / "lake"))
    import shutil

    shutil.copytree(lake.root, copy.root)
    name = load_settings("staging").mlflow.model_name
    rows = [
        {"model_name": name, "window_end": end, "reason": reason, "recorded_at": datetime.now(UTC)}
        for end, reason in runs
    ]
    copy.append("monitoring.training_runs", pa.Table.from_pylist(rows))
    return copy


def test_allowed_after_the_cooldown_with_enough_new_rows(lake, tmp_path):
    copy = _with_runs(lake, tmp_path, [(date(2013, 1, 10), "scheduled")])
    decision = decide(copy, _settings(cooldown_days=2, min_new_labelled_rows=500), _signals(), 0)
    assert decision.allowed and decision.reasons == ()
    # Signals reach Jan 18; flights' labels are complete a day later, so the retrain's window ends on Jan 17.
    assert decision.conf()["window_end"] == "2013-01-17" and decision.conf()["reason"].startswith("drift: data_drift")
    assert decision.checks["new_labelled_rows"] > 500


def test_cooldown_blocks(lake, tmp_path):
    copy = _with_runs(lake, tmp_path, [(date(2013, 1, 15), "scheduled")])
    decision = decide(copy, _settings(cooldown_days=7, min_new_labelled_rows=0), _signals(), 0)
    assert not decision.allowed and "cooldown" in decision.reasons[0] and "2013-01-22" in decision.reasons[0]


def test_too_few_new_labelled_rows_blocks(lake, tmp_path):
    copy = _with_runs(lake, tmp_path, [(date(2013, 1, 16), "scheduled")])
    decision = decide(copy, _settings(cooldown_days=0, min_new_labelled_rows=5000), _signals(), 0)
    assert not decision.allowed and "labelled flights since 2013-01-16" in decision.reasons[0]


def test_max_retrains_per_period_blocks(lake, tmp_path):
    runs = [(date(2013, 1, 5), "drift: data_drift"), (date(2013, 1, 9), "drift: performance")]
    copy = _with_runs(lake, tmp_path, runs)
    decision = decide(copy, _settings(cooldown_days=0, min_new_labelled_rows=0, max_retrains=2), _signals(), 0)
    assert not decision.allowed and "2 drift-triggered retrains" in decision.reasons[0]
    fine = decide(copy, _settings(cooldown_days=0, min_new_labelled_rows=0, max_retrains=3), _signals(), 0)
    assert fine.allowed


def test_an_active_training_run_blocks(lake, tmp_path):
    copy = _with_runs(lake, tmp_path, [(date(2013, 1, 5), "scheduled")])
    decision = decide(copy, _settings(cooldown_days=0, min_new_labelled_rows=0), _signals(), active_training_runs=1)
    assert not decision.allowed and "model_training run(s) active" in decision.reasons[0]


def test_disabled_retraining_blocks(lake, tmp_path):
    copy = _with_runs(lake, tmp_path, [(date(2013, 1, 5), "scheduled")])
    decision = decide(copy, _settings(enabled=False, cooldown_days=0, min_new_labelled_rows=0), _signals(), 0)
    assert not decision.allowed and decision.reasons == ("retraining.enabled is false",)
