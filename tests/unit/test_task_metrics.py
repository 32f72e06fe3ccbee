"""Metrics by task type: values against independent computations, direction-aware promotion and breaches."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

import mlops.task_metrics as task_metrics_module
from mlops.task_metrics import (
    PromotionRule,
    breaches,
    compare,
    compute_metrics,
    guard_metric,
    lift,
    metric_label,
    primary_metric,
    task_metrics,
)

RNG = np.random.default_rng(7)
Y_BIN = RNG.integers(0, 2, 300)
P_BIN = np.clip(0.3 * Y_BIN + RNG.uniform(0, 0.7, 300), 0, 1)


@pytest.mark.parametrize(
    ("task", "names"),
    [
        ("binary", ("roc_auc", "pr_auc", "log_loss", "brier", "calibration_error", "positive_rate")),
        ("multiclass", ("macro_f1", "log_loss", "accuracy")),
        ("regression", ("rmse", "mae", "r2")),
    ],
)
def test_compute_metrics_reports_the_task_metrics_in_order(task, names):
    y, pred = {
        "binary": ([0, 1, 1, 0], [0.2, 0.7, 0.6, 0.1]),
        "multiclass": ([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]),
        "regression": ([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]),
    }[task]
    assert tuple(s.name for s in task_metrics(task)) == names
    assert tuple(compute_metrics(task, y, pred)) == names


@pytest.mark.parametrize(
    ("task", "primary", "primary_up", "guard", "guard_up"),
    [
        ("binary", "roc_auc", True, "log_loss", False),
        ("multiclass", "macro_f1", True, "log_loss", False),
        ("regression", "rmse", False, "mae", False),
    ],
)
def test_primary_and_guard_metrics_and_their_directions(task, primary, primary_up, guard, guard_up):
    p, g = primary_metric(task), guard_metric(task)
    assert (p.name, p.greater_is_better, g.name, g.greater_is_better) == (primary, primary_up, guard, guard_up)


@pytest.mark.parametrize(
    ("task", "name", "label"),
    [
        ("binary", "roc_auc", "ROC AUC"),
        ("binary", "pr_auc", "PR AUC"),
        ("binary", "log_loss", "log loss"),
        ("multiclass", "macro_f1", "macro F1"),
        ("multiclass", "log_loss", "log loss"),
        ("regression", "rmse", "RMSE"),
        ("regression", "mae", "MAE"),
    ],
)
def test_metric_label_is_the_human_name(task, name, label):
    assert metric_label(task, name) == label


@pytest.mark.parametrize(
    ("task", "name", "match"),
    [
        ("regression", "roc_auc", "regression models report no metric 'roc_auc'; expected one of rmse, mae, r2"),
        ("ranking", "ndcg", "Unknown task type 'ranking'; expected one of binary, multiclass, regression"),
    ],
)
def test_metric_label_refuses_unknown_names(task, name, match):
    with pytest.raises(ValueError, match=match):
        metric_label(task, name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("roc_auc", roc_auc_score(Y_BIN, P_BIN)),
        ("pr_auc", average_precision_score(Y_BIN, P_BIN)),
        ("log_loss", log_loss(Y_BIN, P_BIN)),
        ("brier", brier_score_loss(Y_BIN, P_BIN)),
        ("positive_rate", Y_BIN.mean()),
    ],
)
def test_binary_metrics_match_sklearn(name, expected):
    assert compute_metrics("binary", Y_BIN, P_BIN)[name] == pytest.approx(expected, rel=1e-12)


def test_binary_calibration_error_is_the_bin_weighted_gap():
    # bins: [0.05] gap 0.05, [0.15, 0.15] gap |0.15 - 0.5|, [0.95, 1.0] gap |0.975 - 0.5| (1.0 in the last bin)
    y, p = [0, 1, 0, 1, 0], [0.05, 0.15, 0.15, 0.95, 1.0]
    expected = 0.2 * 0.05 + 0.4 * 0.35 + 0.4 * 0.475
    assert compute_metrics("binary", y, p)["calibration_error"] == pytest.approx(expected, abs=1e-12)


def test_binary_named_classes_score_the_second_as_positive():
    named = np.where(Y_BIN == 1, "delayed", "on_time")
    assert compute_metrics("binary", named, P_BIN, classes=("on_time", "delayed")) == compute_metrics(
        "binary", Y_BIN, P_BIN
    )


@pytest.mark.parametrize("label", [0, 1])
def test_binary_single_class_makes_ranking_metrics_nan_and_keeps_the_others(label):
    m = compute_metrics("binary", [label] * 4, [0.1, 0.4, 0.6, 0.9])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert m["log_loss"] == pytest.approx(log_loss([label] * 4, [0.1, 0.4, 0.6, 0.9], labels=[0, 1]))
    assert m["positive_rate"] == label


def _multiclass_data(n: int = 200, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def _macro_f1_by_hand(y: np.ndarray, predicted: np.ndarray) -> float:
    scores = []
    for c in np.union1d(y, predicted):
        tp = np.sum((predicted == c) & (y == c))
        fp, fn = np.sum((predicted == c) & (y != c)), np.sum((predicted != c) & (y == c))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def test_multiclass_metrics_match_independent_computations():
    y, proba = _multiclass_data()
    m = compute_metrics("multiclass", y, proba)
    assert m["macro_f1"] == pytest.approx(_macro_f1_by_hand(y, proba.argmax(axis=1)), rel=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, proba), rel=1e-9)
    assert m["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y), rel=1e-12)


@pytest.mark.parametrize("order", [("c", "a", "b"), ("b", "c", "a")])
def test_multiclass_columns_follow_the_given_classes_not_sorted_labels(order):
    y_idx, sorted_proba = _multiclass_data()
    names = np.array(["a", "b", "c"])
    y = names[y_idx]
    columns = [list(names).index(c) for c in order]
    m = compute_metrics("multiclass", y, sorted_proba[:, columns], classes=order)
    assert m == compute_metrics("multiclass", y, sorted_proba, classes=("a", "b", "c"))
    assert m["log_loss"] == pytest.approx(log_loss(y, sorted_proba), rel=1e-9)  # sklearn: sorted columns


def test_multiclass_macro_f1_ignores_a_class_absent_from_labels_and_predictions():
    proba = [[0.9, 0.05, 0.05], [0.1, 0.85, 0.05]]
    assert compute_metrics("multiclass", [0, 1], proba)["macro_f1"] == 1.0


def test_regression_metrics_match_numpy_by_hand():
    y = np.array([3.0, -1.0, 2.5, 7.0, 4.0])
    pred = np.array([2.5, 0.0, 2.0, 8.0, 3.0])
    m = compute_metrics("regression", y, pred)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)), rel=1e-12)
    assert m["mae"] == pytest.approx(np.mean(np.abs(y - pred)), rel=1e-12)
    assert m["r2"] == pytest.approx(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-12)


def test_regression_r2_is_nan_on_a_constant_target():
    m = compute_metrics("regression", [5.0, 5.0, 5.0], [4.0, 5.0, 6.0])
    assert math.isnan(m["r2"]) and m["mae"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("task", "y", "pred", "classes", "match"),
    [
        ("binary", [], [], None, "no rows: y_true is empty"),
        ("binary", [0, 1, 1, 0], [0.1, 0.2, 0.3], None, "3 predictions for 4 rows"),
        ("regression", [1.0, 2.0], [1.0], None, "1 predictions for 2 rows"),
        ("binary", [0, 1, 1], [0.1, float("nan"), 0.3], None, "1 predicted probabilities are NaN"),
        ("regression", [1.0, 2.0], [float("nan"), float("inf")], None, "2 of 2 predictions are NaN or infinite"),
        ("regression", [1.0, float("nan")], [1.0, 2.0], None, "1 of 2 y_true values are missing"),
        ("multiclass", ["a", None], [[1.0, 0.0], [0.0, 1.0]], ("a", "b"), "1 of 2 y_true values are missing"),
        ("binary", [0, 1], [0.5, 1.2], None, r"outside \[0, 1\]; pass probabilities, not scores"),
        ("binary", [0, 2], [0.5, 0.7], None, "Binary y_true must be 0/1"),
        ("binary", ["x", "y"], [0.5, 0.7], ("x", "z"), "labels not in classes .*: y"),
        ("binary", [0, 1], [[0.5, 0.5], [0.3, 0.7]], None, r"P\(positive class\).*got shape \(2, 2\)"),
        ("multiclass", [0, 1], [0.5, 0.7], None, r"\(n, k\) predict_proba matrix; got shape \(2,\)"),
        ("multiclass", ["a", "d"], [[1.0, 0.0], [0.0, 1.0]], ("a", "b"), "labels not in classes .*: d"),
        ("multiclass", [0, 1], [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], (0, 1), "3 columns for 2 classes"),
        ("multiclass", [0, 1], [[0.5, 0.3, 0.1], [0.1, 0.1, 0.8]], None, "1 probability rows do not sum to 1"),
        ("regression", [1.0, 2.0], ["a", "b"], None, "predictions must be numbers"),
        ("survival", [1.0], [1.0], None, "Unknown task type 'survival'"),
    ],
)
def test_compute_metrics_refuses_bad_input_naming_the_problem(task, y, pred, classes, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(task, y, pred, classes=classes)


def _scored(task: str, primary: float, guard: float) -> dict[str, float]:
    return {primary_metric(task).name: primary, guard_metric(task).name: guard}


@pytest.mark.parametrize(
    ("task", "challenger", "champion", "passed"),
    [
        ("regression", 11.5, 11.9, True),  # lower RMSE is better
        ("regression", 12.3, 11.9, False),
        ("binary", 0.72, 0.70, True),  # higher ROC AUC is better
        ("binary", 0.68, 0.70, False),
        ("multiclass", 0.61, 0.60, True),  # higher macro F1 is better
        ("multiclass", 0.58, 0.60, False),
    ],
)
def test_compare_primary_metric_is_direction_aware(task, challenger, champion, passed):
    rule = PromotionRule(primary_tolerance=0.01, guard_tolerance=None)
    outcome = compare(task, _scored(task, challenger, 1.0), _scored(task, champion, 1.0), rule)
    assert outcome.passed is passed and len(outcome.reasons) == (0 if passed else 1)


@pytest.mark.parametrize(
    ("task", "challenger", "champion", "tolerance", "passed"),
    [
        ("binary", 0.695, 0.700, 0.005, True),  # worse by exactly the tolerance
        ("binary", 0.694999, 0.700, 0.005, False),
        ("binary", 0.83, 0.9, 0.07, True),  # 0.9 - 0.07 is 0.8300000000000001 in floats: still on the boundary
        ("regression", 12.1, 11.9, 0.2, True),
        ("regression", 12.100001, 11.9, 0.2, False),
        ("regression", 0.8, 0.7, 0.1, True),  # 0.7 + 0.1 is 0.7999999999999999 in floats
        ("multiclass", 0.6, 0.6, 0.0, True),  # no tolerance: matching the champion passes
    ],
)
def test_compare_tolerance_boundary_passes_and_beyond_refuses(task, challenger, champion, tolerance, passed):
    rule = PromotionRule(primary_tolerance=tolerance, guard_tolerance=None)
    assert compare(task, _scored(task, challenger, 1.0), _scored(task, champion, 1.0), rule).passed is passed


@pytest.mark.parametrize(
    ("task", "guard", "champion_guard", "passed", "message"),
    [
        ("binary", 0.511, 0.500, False, "log loss 0.511 > champion 0.5 + 0.01 allowed increase"),
        ("binary", 0.510, 0.500, True, "log loss 0.51 <= champion 0.5 + 0.01 allowed increase"),
        ("multiclass", 0.95, 0.90, False, "log loss 0.95 > champion 0.9 + 0.01 allowed increase"),
        ("regression", 5.2, 5.0, False, "MAE 5.2 > champion 5 + 0.01 allowed increase"),
        ("regression", 4.0, 5.0, True, "MAE 4 <= champion 5 + 0.01 allowed increase"),
    ],
)
def test_compare_guard_metric_refuses_a_worse_guard_despite_a_better_primary(
    task, guard, champion_guard, passed, message
):
    better, worse = (0.9, 0.5) if primary_metric(task).greater_is_better else (1.0, 2.0)
    rule = PromotionRule(primary_tolerance=0.0, guard_tolerance=0.01)
    outcome = compare(task, _scored(task, better, guard), _scored(task, worse, champion_guard), rule)
    assert outcome.passed is passed and outcome.checks[1].detail.startswith(message)
    assert outcome.reasons == (() if passed else (message + "; retrain or relax promotion.guard_tolerance",))


def test_compare_without_guard_tolerance_checks_only_the_primary():
    rule = PromotionRule(primary_tolerance=0.0, guard_tolerance=None)
    outcome = compare("binary", _scored("binary", 0.8, 9.0), _scored("binary", 0.7, 0.5), rule)
    assert outcome.passed and [c.role for c in outcome.checks] == ["primary"]


@pytest.mark.parametrize(
    ("task", "challenger", "champion", "tolerance", "reason"),
    [
        ("regression", 12.3, 11.9, 0.2, "RMSE 12.3 > champion 11.9 + 0.2 tolerance"),
        ("binary", 0.69, 0.7, 0.005, "ROC AUC 0.69 < champion 0.7 - 0.005 tolerance"),
        ("multiclass", 0.5, 0.6, 0.0, "macro F1 0.5 < champion 0.6 - 0 tolerance"),
    ],
)
def test_compare_refusal_says_observed_required_and_what_to_do(task, challenger, champion, tolerance, reason):
    rule = PromotionRule(primary_tolerance=tolerance, guard_tolerance=None)
    outcome = compare(task, _scored(task, challenger, 1.0), _scored(task, champion, 1.0), rule)
    assert outcome.reasons == (f"{reason}; retrain or relax promotion.primary_tolerance",)


def test_compare_checks_carry_value_and_threshold_for_the_audit():
    rule = PromotionRule(primary_tolerance=0.2, guard_tolerance=0.5)
    outcome = compare("regression", _scored("regression", 12.0, 6.0), _scored("regression", 11.9, 5.0), rule)
    assert [(c.metric, c.role, c.value, c.passed) for c in outcome.checks] == [
        ("rmse", "primary", 12.0, True),
        ("mae", "guard", 6.0, False),
    ]
    assert [c.threshold for c in outcome.checks] == pytest.approx([12.1, 5.5])


@pytest.mark.parametrize(
    ("task", "model", "baseline", "min_lift", "passed"),
    [
        ("binary", 0.66, 0.62, 0.0, True),
        ("binary", 0.62, 0.62, 0.0, False),  # matching the heuristic does not beat it
        ("binary", 0.61, 0.62, 0.0, False),
        ("binary", 0.63, 0.62, 0.01, True),  # lift exactly min_lift
        ("binary", 0.7, 0.6, 0.1, True),  # 0.7 - 0.6 is 0.09999999999999998 in floats: still min_lift
        ("binary", 0.625, 0.62, 0.01, False),
        ("regression", 11.0, 12.0, 0.0, True),  # lower RMSE beats the baseline
        ("regression", 12.5, 12.0, 0.0, False),
        ("regression", 11.5, 12.0, 0.5, True),
        ("regression", 11.6, 12.0, 0.5, False),
        ("regression", 11.9, 12.0, 0.1, True),  # 12.0 - 11.9 is 0.09999999999999964 in floats
        ("multiclass", 0.55, 0.40, 0.1, True),
    ],
)
def test_compare_against_the_business_baseline_requires_a_lift(task, model, baseline, min_lift, passed):
    outcome = compare(
        task, _scored(task, model, 1.0), _scored(task, baseline, 1.0), PromotionRule(min_lift=min_lift), "baseline"
    )
    assert outcome.passed is passed and [c.role for c in outcome.checks] == ["baseline"]


@pytest.mark.parametrize(
    ("min_lift", "reason"),
    [
        (
            0.0,
            "RMSE 12.5 vs business baseline 12: lift -0.5, required > 0; the model does not beat the heuristic: "
            "retrain (more data, better features) before promoting",
        ),
        (
            1.0,
            "RMSE 11.5 vs business baseline 12: lift 0.5, required >= promotion.min_lift 1; the model does not "
            "beat the heuristic by the required margin: retrain or relax promotion.min_lift",
        ),
    ],
)
def test_compare_baseline_refusal_names_the_lift_and_what_to_relax(min_lift, reason):
    model = 12.5 if min_lift == 0 else 11.5
    rule = PromotionRule(min_lift=min_lift)
    outcome = compare("regression", {"rmse": model}, {"rmse": 12.0}, rule, "baseline")
    assert outcome.reasons == (reason,)


def test_compare_against_the_baseline_ignores_the_guard_metric():
    rule = PromotionRule(guard_tolerance=0.0)
    assert compare("binary", _scored("binary", 0.7, 9.0), _scored("binary", 0.6, 0.5), rule, "baseline").passed


@pytest.mark.parametrize(
    ("challenger", "reference", "basis", "match"),
    [
        (float("nan"), 0.7, "champion", "ROC AUC of the challenger is NaN"),
        (0.7, float("nan"), "champion", "ROC AUC of the champion is NaN"),
        (0.7, float("nan"), "baseline", "ROC AUC of the baseline is NaN"),
    ],
)
def test_compare_refuses_an_undefined_primary_metric(challenger, reference, basis, match):
    rule = PromotionRule(primary_tolerance=1.0, guard_tolerance=None)
    outcome = compare("binary", {"roc_auc": challenger}, {"roc_auc": reference}, rule, basis)
    assert not outcome.passed and outcome.reasons[0].startswith(match)


@pytest.mark.parametrize(
    ("challenger", "reference", "rule", "basis", "match"),
    [
        ({"rmse": 1.0}, {"rmse": 1.0, "mae": 1.0}, PromotionRule(), "champion", "challenger metrics lack 'mae'"),
        ({"rmse": 1.0}, {"mae": 1.0}, PromotionRule(), "baseline", r"baseline metrics lack 'rmse' \(have: mae\)"),
        ({"rmse": 1.0}, {"rmse": 1.0}, PromotionRule(), "holdout", "Unknown comparison basis 'holdout'"),
        ({"rmse": 1.0}, {"rmse": 1.0}, PromotionRule(primary="roc_auc"), "champion", "report no metric 'roc_auc'"),
    ],
)
def test_compare_refuses_malformed_calls(challenger, reference, rule, basis, match):
    with pytest.raises(ValueError, match=match):
        compare("regression", challenger, reference, rule, basis)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"primary_tolerance": -0.1}, "promotion.primary_tolerance must be a number >= 0"),
        ({"guard_tolerance": float("nan")}, "promotion.guard_tolerance must be a number >= 0"),
        ({"min_lift": -1.0}, "promotion.min_lift must be a number >= 0"),
    ],
)
def test_promotion_rule_refuses_negative_margins(changes, match):
    with pytest.raises(ValueError, match=match):
        PromotionRule(**changes)


def test_promotion_rule_refuses_a_descriptive_metric():
    with pytest.raises(ValueError, match="positive_rate describes the data"):
        compare("binary", {"positive_rate": 0.3}, {"positive_rate": 0.2}, PromotionRule(primary="positive_rate"))


def test_promotion_rule_metric_override_is_compared_in_its_direction():
    rule = PromotionRule(primary="pr_auc", guard="brier", primary_tolerance=0.0, guard_tolerance=0.0)
    outcome = compare("binary", {"pr_auc": 0.5, "brier": 0.21}, {"pr_auc": 0.4, "brier": 0.20}, rule)
    assert outcome.reasons == (
        "Brier score 0.21 > champion 0.2 + 0 allowed increase; retrain or relax promotion.guard_tolerance",
    )


@pytest.mark.parametrize(
    ("task", "model", "baseline", "expected"),
    [("binary", 0.70, 0.62, 0.08), ("regression", 11.0, 12.5, 1.5), ("regression", 13.0, 12.5, -0.5)],
)
def test_lift_is_positive_when_the_model_is_better(task, model, baseline, expected):
    name = primary_metric(task).name
    assert lift(task, {name: model}, {name: baseline}) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("task", "window", "limit", "breached"),
    [
        ("binary", {"roc_auc": 0.54}, 0.55, True),  # a minimum
        ("binary", {"roc_auc": 0.55}, 0.55, False),
        ("binary", {"roc_auc": 0.60}, 0.55, False),
        ("binary", {"roc_auc": float("nan")}, 0.55, False),  # single class: not measurable, no alert
        ("multiclass", {"macro_f1": 0.49}, 0.5, True),
        ("regression", {"rmse": 12.5}, 12.0, True),  # a maximum
        ("regression", {"rmse": 12.0}, 12.0, False),
        ("regression", {"rmse": 11.0}, 12.0, False),
    ],
)
def test_breaches_is_direction_aware(task, window, limit, breached):
    assert breaches(task, window, limit) is breached


def test_breaches_checks_another_metric_in_its_direction():
    assert breaches("binary", {"log_loss": 0.8}, 0.7, metric="log_loss")
    assert not breaches("binary", {"log_loss": 0.6}, 0.7, metric="log_loss")


def test_breaches_refuses_a_window_without_the_metric():
    with pytest.raises(ValueError, match=r"window metrics lack 'rmse' \(have: mae\)"):
        breaches("regression", {"mae": 3.0}, 12.0)


def test_import_loads_neither_numpy_nor_sklearn():
    code = "import sys, mlops.task_metrics; print(sorted({'numpy', 'sklearn'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(task_metrics_module.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
