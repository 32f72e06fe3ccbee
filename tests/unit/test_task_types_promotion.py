"""The promotion rule per task type: champion tolerances, the business baseline, settings, compliance checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlops.config import ConfigError, PromotionSettings, load_settings
from mlops.registry import ScoredModel, compare_models, comparison_rows
from mlops.registry.compliance import VersionFacts, check_facts, check_predictions, required_metrics
from mlops.registry.policy import BaselineScores, resolve_rule, score
from mlops.task_metrics import compute_metrics
from tests.unit.task_usecases import CLASSES, multiclass_usecase, regression_usecase

RULE = PromotionSettings()
REGRESSION_CHAMPION = ScoredModel("1", {"rmse": 10.0, "mae": 7.0, "r2": 0.3})


def _regression(rmse: float, mae: float) -> ScoredModel:
    return ScoredModel("2", {"rmse": rmse, "mae": mae, "r2": 0.3})


def test_a_worse_rmse_than_the_champion_is_refused_with_observed_and_required():
    result = compare_models("m", "regression", _regression(10.5, 6.0), REGRESSION_CHAMPION, RULE, "recent x")
    assert not result.passed and result.basis == "champion"
    assert result.reasons == ("RMSE 10.5000 > 10.0000 (retrain or relax promotion.primary_tolerance)",)
    assert result.message() == (
        "m v2 vs champion v1 on recent x: RMSE 10.5000 (max 10.0000), MAE 6.0000 (max 7.0000): "
        "failed: RMSE 10.5000 > 10.0000 (retrain or relax promotion.primary_tolerance)"
    )


def test_a_better_rmse_and_mae_pass():
    result = compare_models("m", "regression", _regression(9.5, 6.9), REGRESSION_CHAMPION, RULE, "recent x")
    assert result.passed and result.message().endswith(": passed")


def test_the_primary_tolerance_is_in_the_metrics_units():
    rule = PromotionSettings(primary_tolerance=1.0)
    assert compare_models("m", "regression", _regression(10.9, 6.0), REGRESSION_CHAMPION, rule, "x").passed
    assert not compare_models("m", "regression", _regression(11.1, 6.0), REGRESSION_CHAMPION, rule, "x").passed


def test_a_better_rmse_bought_with_a_worse_mae_is_refused_by_the_guard():
    result = compare_models("m", "regression", _regression(9.0, 7.5), REGRESSION_CHAMPION, RULE, "x")
    assert result.reasons == ("MAE 7.5000 > 7.0000 (retrain or relax promotion.guard_tolerance)",)
    relaxed = PromotionSettings(guard_tolerance=0.5)
    assert compare_models("m", "regression", _regression(9.0, 7.5), REGRESSION_CHAMPION, relaxed, "x").passed


def test_multiclass_rules_macro_f1_and_guards_log_loss_with_max_log_loss_increase():
    champion = ScoredModel("1", {"macro_f1": 0.50, "log_loss": 0.80, "accuracy": 0.7})
    worse_f1 = ScoredModel("2", {"macro_f1": 0.49, "log_loss": 0.70, "accuracy": 0.7})
    worse_loss = ScoredModel("2", {"macro_f1": 0.55, "log_loss": 0.82, "accuracy": 0.7})
    assert compare_models("m", "multiclass", worse_f1, champion, RULE, "x").reasons == (
        "macro F1 0.4900 < 0.5000 (retrain or relax promotion.primary_tolerance)",
    )
    assert compare_models("m", "multiclass", worse_loss, champion, RULE, "x").reasons == (
        "log loss 0.8200 > 0.8100 (retrain or relax promotion.max_log_loss_increase)",
    )


def test_without_a_champion_a_regression_model_must_beat_the_business_baseline():
    held_out = BaselineScores({"rmse": 9.0, "mae": 6.0, "r2": 0.4}, {"rmse": 10.0, "mae": 7.0, "r2": 0.2})
    scored = ScoredModel("1", held_out.model)
    result = compare_models("m", "regression", scored, None, RULE, "held-out", held_out)
    assert result.passed and result.basis == "baseline"
    assert [(c.check, c.value, c.threshold) for c in result.checks] == [("rmse_lift", 1.0, 0.0)]
    assert "RMSE lift over the baseline +1.0000 (min 0.0000)" in result.message()


def test_a_regression_model_no_better_than_the_baseline_is_refused():
    held_out = BaselineScores({"rmse": 10.5, "mae": 6.0, "r2": 0.1}, {"rmse": 10.0, "mae": 7.0, "r2": 0.2})
    result = compare_models("m", "regression", ScoredModel("1", held_out.model), None, RULE, "held-out", held_out)
    assert not result.passed
    (reason,) = result.reasons
    assert reason.startswith("on the held-out rows of its training run, RMSE 10.5 vs business baseline 10: lift -0.5")
    assert "does not beat the heuristic" in reason


def test_min_lift_demands_a_margin_over_the_baseline():
    held_out = BaselineScores({"macro_f1": 0.52, "log_loss": 0.9, "accuracy": 0.6}, {"macro_f1": 0.50})
    rule = PromotionSettings(min_lift=0.05)
    result = compare_models("m", "multiclass", ScoredModel("1", held_out.model), None, rule, "held-out", held_out)
    assert not result.passed and "promotion.min_lift" in result.reasons[0]
    assert result.checks[0].value == pytest.approx(0.02)


def test_a_binary_first_model_is_judged_by_baseline_roc_auc_alone_unless_min_lift_is_set():
    held_out = BaselineScores({"roc_auc": 0.61, "log_loss": 0.6}, {"roc_auc": 0.63, "log_loss": 0.7})
    scored = ScoredModel("1", {"roc_auc": 0.61, "log_loss": 0.6})
    plain = compare_models("m", "binary", scored, None, RULE, "held-out", held_out)
    assert plain.passed and [c.check for c in plain.checks] == ["roc_auc"]
    strict = compare_models("m", "binary", scored, None, PromotionSettings(min_lift=0.0), "held-out", held_out)
    assert not strict.passed and [c.check for c in strict.checks] == ["roc_auc", "roc_auc_lift"]


def test_comparison_rows_of_a_regression_comparison():
    result = compare_models("m", "regression", _regression(10.5, 6.0), REGRESSION_CHAMPION, RULE, "recent x")
    rows = comparison_rows(result)
    assert [(r.check, r.outcome, r.value, r.threshold) for r in rows] == [
        ("rmse", "failed", 10.5, 10.0),
        ("mae", "passed", 6.0, 7.0),
        ("decision", "failed", None, None),
    ]
    assert rows[0].detail == "champion on recent x" and rows[0].champion_version == "1"
    assert result.summary()["max_rmse"] == 10.0 and result.summary()["champion_mae"] == 7.0


def test_binary_keys_set_the_binary_rule_and_generic_keys_win_when_set():
    binary = resolve_rule(PromotionSettings(auc_tolerance=0.01, max_log_loss_increase=0.02), "binary")
    assert (binary.rule.primary_tolerance, binary.rule.guard_tolerance) == (0.01, 0.02)
    assert (binary.primary_key, binary.guard_key, binary.baseline_floor) == (
        "auc_tolerance",
        "max_log_loss_increase",
        0.6,
    )
    generic = resolve_rule(PromotionSettings(primary_tolerance=0.03, guard_tolerance=0.04), "binary")
    assert (generic.rule.primary_tolerance, generic.rule.guard_tolerance) == (0.03, 0.04)
    regression = resolve_rule(PromotionSettings(), "regression")
    assert (regression.rule.primary_tolerance, regression.rule.guard_tolerance, regression.check_lift) == (0, 0, True)


def test_an_unknown_promotion_key_fails_naming_it(monkeypatch):
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"promotion": {"primary_tolerence": 1.0}}))
    with pytest.raises(
        ConfigError, match=r"promotion\.primary_tolerence: unknown key \(allowed here: .*primary_tolerance"
    ):
        load_settings("staging")


@pytest.mark.parametrize("key", ["primary_tolerance", "guard_tolerance", "min_lift"])
def test_a_negative_generic_promotion_setting_fails_naming_it(monkeypatch, key):
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"promotion": {key: -1}}))
    with pytest.raises(ConfigError, match=rf"promotion\.{key}: Input should be greater than or equal to 0"):
        load_settings("staging")


def test_monitoring_primary_limit_is_a_setting(monkeypatch):
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"monitoring": {"primary_limit": 12.5}}))
    assert load_settings("staging").monitoring.primary_limit == 12.5


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("binary", ("test_roc_auc", "test_log_loss", "baseline_roc_auc")),
        ("multiclass", ("test_macro_f1", "test_log_loss", "baseline_macro_f1")),
        ("regression", ("test_rmse", "test_mae", "baseline_rmse")),
    ],
)
def test_required_metrics_default_to_the_tasks(task, expected):
    assert required_metrics(RULE, task) == expected
    facts = VersionFacts("m", "1", "r", {}, "d", {"test_rmse": 1.0}, 1, True, True, 1.0)
    only = RULE.model_copy(update={"compliance_checks": ("required_metrics",)})
    (result,) = check_facts(facts, only, task)
    assert not result.passed and result.detail == f"run r lacks metrics {[m for m in expected if m != 'test_rmse']}"


def test_score_computes_the_tasks_metrics():
    y, values = [1.0, 2.0, 4.0], [1.5, 2.0, 3.0]
    assert score("2", "regression", y, values).metrics == compute_metrics("regression", y, values)
    proba = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]
    assert score("2", "multiclass", [0, 1, 2], proba, CLASSES).metrics["accuracy"] == 1.0


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Real sklearn models saved and reloaded through MLflow's pyfunc, as the registry serves them."""
    import mlflow.pyfunc
    import mlflow.sklearn
    from sklearn.dummy import DummyClassifier, DummyRegressor

    x = np.arange(12, dtype="float64").reshape(-1, 1)
    folder = tmp_path_factory.mktemp("pyfunc")
    fitted = {
        "regressor": (DummyRegressor().fit(x, np.arange(12.0) * 3), "predict"),
        "classifier": (DummyClassifier(strategy="prior").fit(x, np.arange(12) % 3), "predict_proba"),
        "labels": (DummyClassifier(strategy="most_frequent").fit(x, np.arange(12) % 3), "predict"),
    }
    out = {}
    for name, (model, fn) in fitted.items():
        mlflow.sklearn.save_model(model, str(folder / name), serialization_format="skops", pyfunc_predict_fn=fn)
        out[name] = mlflow.pyfunc.load_model(str(folder / name))
    return out


def _sample():
    import pandas as pd

    return pd.DataFrame({"x": np.arange(5, dtype="float64")})


def test_the_predicts_check_accepts_regression_values(models):
    result = check_predictions(models["regressor"], _sample(), regression_usecase().model)
    assert result.passed and result.detail.startswith("5 finite predictions")


def test_the_predicts_check_accepts_multiclass_probability_rows(models):
    result = check_predictions(models["classifier"], _sample(), multiclass_usecase().model)
    assert result.passed and "5 rows of 3 class probabilities" in result.detail


def test_the_predicts_check_refuses_class_labels_for_a_multiclass_model(models):
    result = check_predictions(models["labels"], _sample(), multiclass_usecase().model)
    assert not result.passed and "pyfunc_predict_fn='predict_proba'" in result.detail


def test_the_predicts_check_refuses_non_finite_regression_values():
    """A real regressor whose inverse target transform is undefined for some inputs (sqrt of a negative)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression

    train = _sample().assign(x=np.arange(5.0))
    model = TransformedTargetRegressor(LinearRegression(), func=np.square, inverse_func=np.sqrt, check_inverse=False)
    model.fit(train, np.arange(5.0))  # x^2 on x: a line through negative values at x < 1
    sample = train.assign(x=[-100.0, 4.0, 5.0, 6.0, 7.0])
    with np.errstate(invalid="ignore"):
        result = check_predictions(model, sample, regression_usecase().model)
    assert not result.passed and result.detail == "1 of 5 predictions are NaN or infinite"


@pytest.fixture(scope="module", params=["delay_minutes", "delay_class"])
def registered(request, spark, tmp_path_factory):
    """A version of each test use case trained up to Jan 14 (Jan 15-18 stay unseen), in its own registry."""
    from datetime import date

    from mlflow import MlflowClient

    from tests.unit.task_usecases.flow import scored_model

    home = tmp_path_factory.mktemp(f"{request.param}_promotion")
    with scored_model(spark, home, request.param, (), date(2013, 1, 14), 14) as env:
        env.client = MlflowClient(tracking_uri=env.settings.mlflow.tracking_uri)
        env.name, env.version = env.trained.model_name, env.trained.version
        yield env


@pytest.mark.spark
def test_a_trained_version_passes_compliance(registered, spark, tmp_path):
    from mlops.registry.compliance import check_compliance
    from mlops.registry.evaluation import current_sample

    env = registered
    sample = current_sample(spark, env.lake, env.settings)
    report = check_compliance(
        env.client, env.settings.promotion, env.name, env.version, sample, tmp_path, env.usecase.model
    )
    assert report.passed, report.reasons
    predicts = next(r for r in report.results if r.check == "predicts")
    expected = "finite predictions" if env.usecase.model.task == "regression" else "rows of 3 class probabilities"
    assert expected in predicts.detail


@pytest.mark.spark
def test_a_first_version_is_judged_against_the_business_baseline_on_its_held_out_days(registered, spark):
    from mlops.registry.evaluation import compare_with_champion
    from mlops.task_metrics import lift, primary_metric

    env = registered
    task = env.usecase.model.task
    result = compare_with_champion(env.client, spark, env.lake, env.settings, env.name, env.version)
    primary = primary_metric(task).name
    assert result.basis == "baseline" and result.data == "held-out test days of its training run"
    (check,) = result.checks
    metrics = env.trained.metrics
    gain = lift(task, {primary: metrics[f"test_{primary}"]}, {primary: metrics[f"baseline_{primary}"]})
    assert check.check == f"{primary}_lift" and check.value == pytest.approx(gain)
    assert result.passed is (gain > 0)


@pytest.mark.spark
def test_a_version_is_scored_on_unseen_labelled_days_with_its_tasks_metrics(registered, spark):
    from datetime import date

    import mlflow.pyfunc

    from mlops.registry.evaluation import labelled_after, score_version
    from mlops.training.estimator import model_inputs, pyfunc_scores

    env = registered
    spec = env.usecase.model
    data = labelled_after(spark, env.lake, env.settings, date(2013, 1, 14))
    scored = score_version(env.client, env.name, env.version, data, env.usecase)
    output = mlflow.pyfunc.load_model(env.trained.model_uri).predict(model_inputs(data.frame, env.usecase))
    y = data.frame[env.usecase.labels.column]
    assert scored.metrics == compute_metrics(spec.task, y, pyfunc_scores(spec.task, output), spec.classes)


@pytest.mark.spark
def test_a_challenger_equal_to_its_champion_passes_the_rule(registered, spark):
    from mlops.registry.evaluation import compare_with_champion

    env = registered
    env.client.set_registered_model_alias(env.name, "champion", env.version)
    try:
        result = compare_with_champion(env.client, spark, env.lake, env.settings, env.name, env.version)
    finally:
        env.client.delete_registered_model_alias(env.name, "champion")
    assert result.basis == "champion" and result.data.startswith(
        "recent 2013-01-15..2013-01-17"
    )  # labels complete a day after Jan 17
    assert [c.check for c in result.checks] == (
        ["rmse", "mae"] if env.usecase.model.task == "regression" else ["macro_f1", "log_loss"]
    )
    assert result.passed, result.message()
