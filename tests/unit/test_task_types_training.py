"""Training per task type: evaluation metrics, early stopping, the logged model, the run's audit row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_squared_error,
    roc_auc_score,
)

from mlops.task_metrics import calibration_error, compute_metrics
from mlops.training.estimator import TuningBudget, _best_rounds, build_estimator, model_inputs, tune
from mlops.training.evaluate import evaluate
from mlops.training.train import fit_and_evaluate
from tests.unit._training import LAST, WINDOW_DAYS, _template
from tests.unit.task_usecases import CLASSES, multiclass_usecase, regression_usecase, task_settings

pytestmark = pytest.mark.spark
BUDGET = TuningBudget(trials=1, timeout_seconds=600)


def _training_set(spark, name: str):
    from mlops.config import load_settings
    from mlops.lakehouse import Lakehouse
    from mlops.training.dataset import TrainingWindow, build_training_set

    settings = task_settings(load_settings("staging"), name)
    window = TrainingWindow.from_settings(settings, LAST, WINDOW_DAYS)
    return build_training_set(spark, Lakehouse(str(_template())), settings, window)


@pytest.fixture(scope="module")
def minutes(spark):
    return _training_set(spark, "delay_minutes")


@pytest.fixture(scope="module")
def classes(spark):
    return _training_set(spark, "delay_class")


def _test_rows(training):
    test, train = training.part("test"), training.part("train")
    return test, train, test[training.label].to_numpy()


def test_regression_evaluation_reports_rmse_mae_r2_of_model_and_baseline(minutes):
    fitted = fit_and_evaluate(minutes, BUDGET, seed=42)
    test, train, y = _test_rows(minutes)
    metrics = fitted.evaluation.metrics()
    assert list(metrics) == [
        *(f"test_{m}" for m in ("rmse", "mae", "r2", "rows")),
        *(f"baseline_{m}" for m in ("rmse", "mae", "r2", "rows")),
        "rmse_lift",
        "mae_lift",
    ]
    model = compute_metrics("regression", y, fitted.model.predict(model_inputs(test, minutes.usecase)))
    baseline = compute_metrics("regression", y, minutes.usecase.model.baseline(test, train))
    assert {m: metrics[f"test_{m}"] for m in model} == model
    assert {m: metrics[f"baseline_{m}"] for m in baseline} == baseline
    assert metrics["rmse_lift"] == pytest.approx(baseline["rmse"] - model["rmse"])  # positive: the model is better
    assert metrics["mae_lift"] == pytest.approx(baseline["mae"] - model["mae"])
    assert set(fitted.importance["feature"]) == set(model_inputs(test, minutes.usecase).columns)


def test_multiclass_evaluation_reports_macro_f1_log_loss_accuracy(classes):
    fitted = fit_and_evaluate(classes, BUDGET, seed=42)
    test, train, y = _test_rows(classes)
    metrics = fitted.evaluation.metrics()
    assert [k for k in metrics if k.startswith("test_")] == [
        "test_macro_f1",
        "test_log_loss",
        "test_accuracy",
        "test_rows",
    ]
    assert {"macro_f1_lift", "log_loss_lift"} < set(metrics) and "roc_auc_lift" not in metrics
    proba = fitted.model.predict_proba(model_inputs(test, classes.usecase))
    assert tuple(fitted.model.classes_) == CLASSES
    model = compute_metrics("multiclass", y, proba, CLASSES)
    assert {m: metrics[f"test_{m}"] for m in model} == model
    baseline = compute_metrics("multiclass", y, classes.usecase.model.baseline(test, train), CLASSES)
    assert metrics["baseline_log_loss"] == baseline["log_loss"]
    assert metrics["log_loss_lift"] == pytest.approx(baseline["log_loss"] - model["log_loss"])


def test_binary_evaluation_keeps_its_keys_and_values():
    """The flights metrics, computed as before the task types existed: probabilities clipped to [1e-6, 1-1e-6]."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    model, baseline = np.clip(0.4 * y + rng.uniform(0, 0.6, 400), 0, 1), rng.uniform(0, 1, 400)
    baseline[:3] = (0.0, 1.0, 1e-9)  # clipped before any metric

    def legacy(p: np.ndarray) -> dict[str, float]:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return {
            "roc_auc": roc_auc_score(y, p),
            "pr_auc": average_precision_score(y, p),
            "log_loss": log_loss(y, p, labels=[0, 1]),
            "brier": brier_score_loss(y, p),
            "calibration_error": calibration_error(y, p),
            "positive_rate": y.mean(),
            "rows": 400.0,
        }

    old_model, old_baseline = legacy(model), legacy(baseline)
    expected = {
        **{f"test_{k}": v for k, v in old_model.items()},
        **{f"baseline_{k}": v for k, v in old_baseline.items()},
        "roc_auc_lift": old_model["roc_auc"] - old_baseline["roc_auc"],
        "log_loss_lift": old_baseline["log_loss"] - old_model["log_loss"],
    }
    metrics = evaluate("binary", y, model, baseline).metrics()
    assert list(metrics) == list(expected) and metrics == expected


def test_regression_early_stopping_picks_the_round_with_the_lowest_validation_mse(minutes):
    usecase, label = minutes.usecase, minutes.label
    train, valid = minutes.part("train"), minutes.part("validation")
    model = build_estimator(usecase, {"learning_rate": 0.3}, max_iter=60, seed=1)
    model.fit(model_inputs(train, usecase), train[label])
    n_iter, loss = _best_rounds(usecase, model, model_inputs(valid, usecase), valid[label].to_numpy())
    features = model[:-1].transform(model_inputs(valid, usecase))
    losses = [mean_squared_error(valid[label], p) for p in model[-1].staged_predict(features)]
    assert n_iter == int(np.argmin(losses)) + 1 < 60  # a fast learning rate overfits: stopping cuts rounds
    assert loss == pytest.approx(min(losses), rel=1e-12)


def test_multiclass_early_stopping_uses_the_multiclass_log_loss(classes):
    usecase, label = classes.usecase, classes.label
    train, valid = classes.part("train"), classes.part("validation")
    model = build_estimator(usecase, {"learning_rate": 0.3}, max_iter=40, seed=1)
    model.fit(model_inputs(train, usecase), train[label])
    n_iter, loss = _best_rounds(usecase, model, model_inputs(valid, usecase), valid[label].to_numpy())
    features = model[:-1].transform(model_inputs(valid, usecase))
    losses = [log_loss(valid[label], p, labels=list(CLASSES)) for p in model[-1].staged_predict_proba(features)]
    assert n_iter == int(np.argmin(losses)) + 1
    assert loss == pytest.approx(min(losses), rel=1e-9)


def _ridge(params, *, max_iter, seed, features, categorical):
    """A regressor without staged prediction: one-hot categoricals, imputed numbers, ridge."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    numeric = [c for c in features if c not in categorical]
    columns = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(categorical)),
            ("numeric", SimpleImputer(), numeric),
        ]
    )
    return Pipeline([("columns", columns), ("regressor", Ridge(**params))])


def test_an_estimator_without_staged_prediction_keeps_its_max_iter(minutes):
    spec = dataclasses.replace(minutes.usecase.model, build_estimator=_ridge, search_space={"alpha": (1.0,)})
    usecase = dataclasses.replace(minutes.usecase, model=spec)
    result = tune(usecase, minutes.part("train"), minutes.part("validation"), BUDGET, seed=0)
    trial = result.best
    train, valid = minutes.part("train"), minutes.part("validation")
    model = build_estimator(usecase, {"alpha": 1.0}, max_iter=0, seed=0)
    model.fit(model_inputs(train, usecase), train[minutes.label])
    expected = mean_squared_error(valid[minutes.label], model.predict(model_inputs(valid, usecase)))
    assert trial.n_iter == spec.max_iter and trial.validation_loss == pytest.approx(expected)


def test_the_model_specs_staged_scores_drive_early_stopping(minutes):
    """A spec's own per-round scores win over the estimator's: here round 3 predicts the labels exactly."""
    usecase, label = minutes.usecase, minutes.label
    valid = minutes.part("validation")
    y = valid[label].to_numpy()

    def staged(fitted, x):
        yield from (y + 5.0, y + 1.0, y, y - 2.0)

    spec = dataclasses.replace(usecase.model, staged_scores=staged)
    train = minutes.part("train")
    model = build_estimator(usecase, {}, max_iter=5, seed=0).fit(model_inputs(train, usecase), train[label])
    n_iter, loss = _best_rounds(dataclasses.replace(usecase, model=spec), model, model_inputs(valid, usecase), y)
    assert (n_iter, loss) == (3, 0.0)


@pytest.fixture(scope="module")
def trained_minutes(spark, tmp_path_factory):
    from tests.unit.task_usecases.flow import scored_model

    with scored_model(spark, tmp_path_factory.mktemp("minutes_training"), "delay_minutes") as env:
        yield env


def test_a_regression_model_is_logged_with_skops_and_its_pyfunc_predicts_values(trained_minutes):
    import mlflow.pyfunc
    from mlflow.models import Model

    uri = trained_minutes.trained.model_uri
    model = mlflow.pyfunc.load_model(uri)
    example = model.input_example
    values = np.asarray(model.predict(example))
    assert values.shape == (len(example),) and np.isfinite(values).all() and values.dtype.kind == "f"
    flavors = Model.load(uri).flavors
    assert flavors["sklearn"]["serialization_format"] == "skops"
    assert flavors["python_function"]["predict_fn"] == "predict"
    assert not (((values >= 0) & (values <= 1)).all())  # minutes of delay, not probabilities


def test_a_regression_run_logs_its_metrics_plot_and_description(trained_minutes):
    from mlflow import MlflowClient

    env = trained_minutes
    client = MlflowClient(tracking_uri=env.settings.mlflow.tracking_uri)
    run = client.get_run(env.trained.run_id)
    assert {"test_rmse", "test_mae", "baseline_rmse", "rmse_lift", "trial_validation_mse"} <= set(run.data.metrics)
    assert not any("roc_auc" in k for k in run.data.metrics)
    plots = {a.path for a in client.list_artifacts(env.trained.run_id, "plots")}
    assert plots == {"plots/predicted_vs_actual.png"}
    version = client.get_model_version(env.trained.model_name, env.trained.version)
    assert "Held-out RMSE" in version.description and ", MAE " in version.description
    assert version.tags["mlops.test_rmse"] == f"{run.data.metrics['test_rmse']:.4f}"
    summary = env.trained.summary()
    assert {"test_rmse", "test_mae", "test_r2", "baseline_rmse", "rmse_lift"} <= set(summary)


def test_a_regression_run_appends_its_task_metrics_to_training_runs(trained_minutes):
    from mlops.training import TRAINING_RUNS

    env = trained_minutes
    row = env.lake.read_pandas(TRAINING_RUNS).set_index("run_id").loc[env.trained.run_id]
    assert row["test_rmse"] == pytest.approx(env.trained.metrics["test_rmse"])
    assert "test_roc_auc" not in row.index and "baseline_mae" in row.index


def test_a_regression_reference_profiles_the_predicted_values(trained_minutes):
    from mlops.monitoring.profile import PREDICTION
    from mlops.monitoring.reference import load_reference

    env = trained_minutes
    profile = load_reference(env.lake, env.trained.model_name, env.trained.version).feature(PREDICTION)
    assert profile.kind == "numeric" and profile.edges[-2] > 1.0  # minutes, not a probability


def _labelled(labels_by_split: dict[str, list]):
    """A multiclass training set of the given labels per split (features are not looked at)."""
    import pandas as pd

    from mlops.training.dataset import TrainingSet, TrainingWindow

    rows = [(split, label) for split, labels in labels_by_split.items() for label in labels]
    frame = pd.DataFrame(rows, columns=["split", "delay_class"])
    return TrainingSet(frame, TrainingWindow(LAST, WINDOW_DAYS, 3, 3), (), 0, multiclass_usecase())


def test_a_multiclass_label_outside_the_model_classes_is_refused():
    from mlops.training.dataset import TrainingDataError, check_training_set

    training = _labelled({"train": [0, 1, 2, 5], "validation": [0, 1], "test": [1, 2]})
    with pytest.raises(TrainingDataError, match=r"Labels outside model.classes \[0, 1, 2\] .*holds \['5'\]"):
        check_training_set(training, 1)


def test_a_class_missing_from_the_train_split_is_refused():
    from mlops.training.dataset import TrainingDataError, check_training_set

    training = _labelled({"train": [0, 1, 0, 1], "validation": [0, 2], "test": [1, 2]})
    with pytest.raises(TrainingDataError, match=r"Classes \[2\] of model.classes never occur in the train split"):
        check_training_set(training, 1)


def test_a_regression_label_that_is_not_a_finite_number_is_refused():
    import pandas as pd

    from mlops.training.dataset import TrainingDataError, TrainingSet, TrainingWindow, check_training_set

    frame = pd.DataFrame({"split": ["train", "train", "validation", "test"], "delay_minutes": [1.0, None, 2.0, np.inf]})
    training = TrainingSet(frame, TrainingWindow(LAST, WINDOW_DAYS, 3, 3), (), 0, regression_usecase())
    with pytest.raises(
        TrainingDataError, match=r"2 of 4 labels of .* are missing or not finite numbers \(delay_minutes\)"
    ):
        check_training_set(training, 1)
