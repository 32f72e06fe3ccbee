"""Compliance and comparison on real trained versions (MLflow, Delta, Spark), trained once per module."""

from __future__ import annotations

import pytest

from mlops.config import load_settings
from mlops.registry import CHAMPION, Audit, alias_version, promote, set_challenger
from mlops.registry.compliance import check_compliance
from mlops.registry.evaluation import ComparisonDataError, compare_with_champion, current_sample
from mlops.registry.transitions import record_tags
from tests.unit._training import training_lakehouse
from usecases.flight_delay.model import MODEL

pytestmark = pytest.mark.spark
AUDIT = Audit("model_promotion", "manual__unit", "", "auto")


@pytest.fixture(scope="module")
def settings():
    base = load_settings("staging")
    return base.model_copy(update={"mlflow": base.mlflow.model_copy(update={"model_name": "cd_unit_model"})})


@pytest.fixture(scope="module")
def client(settings):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow.tracking_uri)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return training_lakehouse(tmp_path_factory.mktemp("cd_unit") / "lakehouse")


@pytest.fixture(scope="module")
def versions(spark, lake, settings):
    """v_old trained up to Jan 12, v_new up to Jan 14 (Jan 15-18 stay unseen by both)."""
    from datetime import date

    from mlops.training import RunIdentity, TrainingRequest, train_model

    who = RunIdentity(reason="cd unit test")
    old = train_model(spark, lake, settings, TrainingRequest(date(2013, 1, 12), 12, who=who))
    new = train_model(spark, lake, settings, TrainingRequest(date(2013, 1, 14), 14, who=who))
    return old.version, new.version


@pytest.fixture(scope="module")
def sample(spark, lake, settings):
    return current_sample(spark, lake, settings)


def test_check_compliance_passes_a_trained_version(client, settings, versions, sample, tmp_path):
    name, spec = settings.mlflow.model_name, MODEL
    report = check_compliance(client, settings.promotion, name, versions[0], sample, tmp_path, spec)
    assert report.passed, report.reasons
    assert {r.check for r in report.results} == set(settings.promotion.compliance_checks)


def test_check_compliance_rejects_a_model_without_signature(client, settings, versions, sample, tmp_path):
    import mlflow
    import mlflow.sklearn
    from sklearn.dummy import DummyClassifier

    mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name="model")
    mv = mlflow.register_model(info.model_uri, settings.mlflow.model_name)
    report = check_compliance(client, settings.promotion, mv.name, mv.version, sample, tmp_path, MODEL)
    failed = {r.check for r in report.results if not r.passed}
    assert {"signature", "input_example", "required_tags", "dataset_lineage", "predicts"} <= failed


def test_first_deployment_compares_with_the_business_baseline(client, spark, lake, settings, versions):
    result = compare_with_champion(client, spark, lake, settings, settings.mlflow.model_name, versions[0])
    assert result.basis == "baseline" and result.champion is None
    assert result.threshold("roc_auc") == settings.promotion.baseline_roc_auc == 0.55
    assert result.data.startswith("recent 2013-01-13..2013-01-17")  # Jan 18's labels complete a day later
    assert result.passed, result.message()


def test_challenger_and_champion_are_scored_on_the_same_unseen_days(client, spark, lake, settings, versions):
    name, (old, new) = settings.mlflow.model_name, versions
    set_challenger(client, name, old, AUDIT)
    record_tags(client, name, old, {"cd.comparison": "passed"}, "compared in test")
    promote(client, name, old, None, AUDIT)
    result = compare_with_champion(client, spark, lake, settings, name, new)
    assert alias_version(client, name, CHAMPION) == old and result.champion_version == old
    assert result.data.startswith("recent 2013-01-15..2013-01-17") and result.basis == "champion"
    assert result.threshold("roc_auc") == pytest.approx(result.champion["roc_auc"] - settings.promotion.auc_tolerance)


def test_comparison_without_unseen_days_is_refused(client, spark, lake, settings, versions):
    strict = settings.model_copy(
        update={"promotion": settings.promotion.model_copy(update={"min_comparison_rows": 10**6})}
    )
    with pytest.raises(ComparisonDataError, match="promotion.min_comparison_rows"):
        compare_with_champion(client, spark, lake, strict, settings.mlflow.model_name, versions[1])


def test_a_retrain_with_no_later_data_is_compared_on_its_held_out_days(client, spark, lake, settings, versions):
    """As drift_retraining deploys: trained up to the last day with complete labels, nothing later labelled yet."""
    from datetime import date

    from mlops.training import RunIdentity, TrainingRequest, train_model

    name, old = settings.mlflow.model_name, versions[0]
    if alias_version(client, name, CHAMPION) != old:
        set_challenger(client, name, old, AUDIT)
        promote(client, name, old, None, AUDIT)
    retrain = train_model(
        spark, lake, settings, TrainingRequest(date(2013, 1, 17), 14, who=RunIdentity(reason="drift"))
    )
    result = compare_with_champion(client, spark, lake, settings, name, retrain.version)
    test_first = date(2013, 1, 17 - settings.training.test_days + 1)
    assert result.data.startswith(f"held-out test days of the challenger {test_first}..2013-01-17")
    assert result.basis == "champion" and result.champion_version == old
