"""Metrics by task type: what each task type reports, how it is computed, and the direction-aware rules over it.

A task type (`binary`, `multiclass`, `regression`) decides the metrics of evaluation, promotion and performance
monitoring. Each has a primary metric (the one a model must not lose on) and a guard metric (a second check that
a better primary metric was not bought with, say, overconfident probabilities):

| task       | primary   | guard    | also reported                                      |
|------------|-----------|----------|----------------------------------------------------|
| binary     | roc_auc   | log_loss | pr_auc, brier, calibration_error, positive_rate    |
| multiclass | macro_f1  | log_loss | accuracy                                           |
| regression | rmse      | mae      | r2                                                 |

Everything here is pure: arrays or metric dicts in, numbers and decisions out. Callers map configuration to a
`PromotionRule` and name the data a comparison ran on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import numpy as np

TaskType = Literal["binary", "multiclass", "regression"]
Basis = Literal["champion", "baseline"]
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)

CALIBRATION_BINS = 10
LOG_LOSS_EPS = 1e-15  # probabilities are clipped to [eps, 1 - eps] for log loss only
ROW_SUM_TOLERANCE = 1e-6  # a multiclass probability row must sum to 1 within this
_CLOSE = 1e-12  # values this close to a threshold count as on it (float arithmetic of `champion + tolerance`)
_SETTINGS = "promotion"  # the configuration section named in refusal messages


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a task type.

    Attributes:
        name: the metric's key in metric dicts (`roc_auc`, `rmse`, ...).
        greater_is_better: True when higher is better, False when lower is better, None for a descriptive
            value of the data (`positive_rate`) that is never used in a rule.
        needs: what the metric is computed from: `proba` (probabilities), `label` (class labels: the predicted
            class, or only the observed labels for `positive_rate`) or `value` (predicted values).
        label: the metric's name in human text.
    """

    name: str
    greater_is_better: bool | None
    needs: Literal["proba", "label", "value"]
    label: str


TASK_METRICS: dict[TaskType, tuple[MetricSpec, ...]] = {
    "binary": (
        MetricSpec("roc_auc", True, "proba", "ROC AUC"),
        MetricSpec("pr_auc", True, "proba", "PR AUC"),
        MetricSpec("log_loss", False, "proba", "log loss"),
        MetricSpec("brier", False, "proba", "Brier score"),
        MetricSpec("calibration_error", False, "proba", "calibration error"),
        MetricSpec("positive_rate", None, "label", "positive rate"),
    ),
    "multiclass": (
        MetricSpec("macro_f1", True, "label", "macro F1"),
        MetricSpec("log_loss", False, "proba", "log loss"),
        MetricSpec("accuracy", True, "label", "accuracy"),
    ),
    "regression": (
        MetricSpec("rmse", False, "value", "RMSE"),
        MetricSpec("mae", False, "value", "MAE"),
        MetricSpec("r2", True, "value", "R2"),
    ),
}
PRIMARY_METRIC: dict[TaskType, str] = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}
GUARD_METRIC: dict[TaskType, str] = {"binary": "log_loss", "multiclass": "log_loss", "regression": "mae"}


def task_metrics(task: TaskType) -> tuple[MetricSpec, ...]:
    """The metrics of a task type, in reporting order.

    Raises:
        ValueError: `task` is not a known task type.
    """
    if task not in TASK_METRICS:
        raise ValueError(f"Unknown task type {task!r}; expected one of {', '.join(TASK_TYPES)}")
    return TASK_METRICS[task]


def metric_spec(task: TaskType, name: str) -> MetricSpec:
    """The spec of metric `name` of a task type.

    Raises:
        ValueError: unknown task type, or a metric the task type does not report.
    """
    specs = {s.name: s for s in task_metrics(task)}
    if name not in specs:
        raise ValueError(f"{task} models report no metric {name!r}; expected one of {', '.join(specs)}")
    return specs[name]


def primary_metric(task: TaskType) -> MetricSpec:
    """The metric a model is judged on: `roc_auc`, `macro_f1` or `rmse`."""
    return metric_spec(task, PRIMARY_METRIC.get(task, ""))


def guard_metric(task: TaskType) -> MetricSpec:
    """The second metric a challenger must not worsen by much: `log_loss`, `log_loss` or `mae`."""
    return metric_spec(task, GUARD_METRIC.get(task, ""))


def metric_label(task: TaskType, name: str) -> str:
    """Human text for a metric: "ROC AUC", "macro F1", "log loss", "RMSE", ..."""
    return metric_spec(task, name).label


def compute_metrics(task: TaskType, y_true: Any, prediction: Any, classes: Any = None) -> dict[str, float]:
    """Every metric of the task type, in `TASK_METRICS` order.

    Args:
        task: `binary`, `multiclass` or `regression`.
        y_true: observed labels or values, one per row.
        prediction: binary: P(positive class), a 1-d array; multiclass: an (n, k) probability matrix whose
            columns follow `classes`; regression: predicted values.
        classes: binary: optional (negative, positive) labels, else `y_true` must be 0/1; multiclass: the
            label of each probability column (a model's `classes_`), default 0..k-1; regression: unused.

    Returns:
        Metric name -> value. `roc_auc` and `pr_auc` are NaN when `y_true` holds a single class, `r2` when
        `y_true` is constant: the metric is undefined there, and a NaN is never a breach or a pass.

    Raises:
        ValueError: unknown task type, no rows, lengths that differ, missing (NaN) labels or predictions,
            probabilities outside [0, 1], a prediction of the wrong shape, or labels that are not among `classes`.
    """
    task_metrics(task)
    y, pred = _as_arrays(y_true, prediction)
    if task == "binary":
        return _binary_metrics(_binary_labels(y, classes), _probabilities(pred, 1))
    if task == "multiclass":
        proba = _probabilities(pred, 2)
        return _multiclass_metrics(_class_index(y, classes, proba.shape[1]), proba)
    return _regression_metrics(_values(y, "observed values"), _values(pred, "predictions"))


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: bin-weighted |mean prediction - observed rate| over equal-width bins."""
    import numpy as np

    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


@dataclass(frozen=True)
class PromotionRule:
    """The promotion rule of one use case, in the units of its task type's metrics.

    Field names are the configuration keys under `promotion.` that refusal messages tell the reader to relax.

    Attributes:
        primary_tolerance: how much worse than the champion the primary metric may be (absolute, metric units);
            worse by more refuses, worse by exactly this passes.
        guard_tolerance: how much worse than the champion the guard metric may be (an increase of log loss or
            MAE); None: no guard check.
        min_lift: against the business baseline, the primary metric must beat the baseline's (lift > 0) by at
            least this much (lift >= min_lift); lift is model minus baseline, sign-flipped for lower-is-better.
        primary: the primary metric; None: the task type's (`PRIMARY_METRIC`).
        guard: the guard metric; None: the task type's (`GUARD_METRIC`).
    """

    primary_tolerance: float = 0.0
    guard_tolerance: float | None = 0.0
    min_lift: float = 0.0
    primary: str | None = None
    guard: str | None = None

    def __post_init__(self) -> None:
        for key in ("primary_tolerance", "guard_tolerance", "min_lift"):
            value = getattr(self, key)
            if value is not None and not value >= 0:
                raise ValueError(f"{_SETTINGS}.{key} must be a number >= 0, got {value!r}")

    def metrics(self, task: TaskType) -> tuple[MetricSpec, MetricSpec]:
        """The (primary, guard) specs of this rule for a task type; both must have a direction.

        Raises:
            ValueError: an unknown metric, or a descriptive one (`positive_rate`) that has no better side.
        """
        specs = (
            metric_spec(task, self.primary) if self.primary else primary_metric(task),
            metric_spec(task, self.guard) if self.guard else guard_metric(task),
        )
        for spec in specs:
            if spec.greater_is_better is None:
                raise ValueError(f"{spec.name} describes the data and has no better side; it cannot rule promotion")
        return specs


@dataclass(frozen=True)
class MetricCheck:
    """One check of a comparison: the challenger's value against the threshold it had to meet.

    Attributes:
        metric: the metric's name.
        role: `primary`, `guard` or `baseline` (the primary metric against the business baseline).
        value: the challenger's value.
        threshold: the worst value that passes (NaN when the reference value was NaN). Against the baseline the
            challenger must also be strictly better than the baseline itself.
        greater_is_better: the metric's direction.
        passed: whether the value met the threshold.
        detail: one line in house style: observed vs required, and on a refusal what to do next.
    """

    metric: str
    role: Literal["primary", "guard", "baseline"]
    value: float
    threshold: float
    greater_is_better: bool
    passed: bool
    detail: str


@dataclass(frozen=True)
class ComparisonOutcome:
    """The promotion rule's verdict on one challenger.

    Attributes:
        passed: True when every check passed.
        reasons: the detail of each failed check, in check order (empty when passed).
        checks: every check, passed or not (for the audit rows of value vs threshold).
    """

    passed: bool
    reasons: tuple[str, ...]
    checks: tuple[MetricCheck, ...]


def compare(
    task: TaskType,
    challenger: dict[str, float],
    reference: dict[str, float],
    rule: PromotionRule,
    basis: Basis = "champion",
) -> ComparisonOutcome:
    """Apply the promotion rule to a challenger's metrics, direction-aware.

    Against the champion (`basis="champion"`, both scored on the same data): the primary metric may be worse than
    the champion's by at most `rule.primary_tolerance`, and the guard metric by at most `rule.guard_tolerance`.
    Against the business baseline (`basis="baseline"`, the heuristic scored on the same rows): the primary metric
    must beat the baseline's, by at least `rule.min_lift`. A NaN value on either side refuses.

    Raises:
        ValueError: unknown task type or basis, a metric missing from either dict, or an invalid rule metric.
    """
    primary, guard = rule.metrics(task)
    if basis == "baseline":
        checks = [_baseline_check(primary, challenger, reference, rule.min_lift)]
    elif basis == "champion":
        checks = [_champion_check(primary, "primary", challenger, reference, rule.primary_tolerance)]
        if rule.guard_tolerance is not None:
            checks.append(_champion_check(guard, "guard", challenger, reference, rule.guard_tolerance))
    else:
        raise ValueError(f"Unknown comparison basis {basis!r}; expected champion or baseline")
    reasons = tuple(c.detail for c in checks if not c.passed)
    return ComparisonOutcome(not reasons, reasons, tuple(checks))


def lift(task: TaskType, model: dict[str, float], baseline: dict[str, float], metric: str | None = None) -> float:
    """How much better the model is than the baseline on a metric (default: the primary), in metric units.

    Positive means better whatever the direction: ROC AUC model - baseline, RMSE baseline - model.

    Raises:
        ValueError: a metric without direction, or missing from either dict.
    """
    spec = metric_spec(task, metric) if metric else primary_metric(task)
    if spec.greater_is_better is None:
        raise ValueError(f"{spec.name} describes the data and has no better side; it has no lift")
    diff = _metric(model, spec, "model") - _metric(baseline, spec, "baseline")
    return diff if spec.greater_is_better else -diff


def breaches(task: TaskType, window_metrics: dict[str, float], limit: float, metric: str | None = None) -> bool:
    """Whether a monitoring window's metric (default: the primary) is worse than `limit`.

    `limit` is a minimum for greater-is-better metrics (ROC AUC 0.55: a window at 0.54 breaches) and a maximum
    for lower-is-better ones (RMSE 12: a window at 12.5 breaches). On the limit is no breach, and neither is NaN
    (no labels, a single class): a window that cannot be measured does not alert.

    Raises:
        ValueError: a metric without direction, or missing from `window_metrics`.
    """
    spec = metric_spec(task, metric) if metric else primary_metric(task)
    if spec.greater_is_better is None:
        raise ValueError(f"{spec.name} describes the data and has no better side; it cannot breach")
    value = _metric(window_metrics, spec, "window")
    return value < limit if spec.greater_is_better else value > limit


def _champion_check(
    spec: MetricSpec, role: Literal["primary", "guard"], challenger: dict, champion: dict, tolerance: float
) -> MetricCheck:
    value, ref = _metric(challenger, spec, "challenger"), _metric(champion, spec, "champion")
    up = bool(spec.greater_is_better)
    threshold = ref - tolerance if up else ref + tolerance
    if math.isnan(value) or math.isnan(ref):
        side = "challenger" if math.isnan(value) else "champion"
        detail = f"{spec.label} of the {side} is NaN (undefined on this data); score both on data where it is defined"
        return MetricCheck(spec.name, role, value, threshold, up, False, detail)
    passed = _at_least(value, threshold, up)
    op = (">=" if passed else "<") if up else ("<=" if passed else ">")
    allowance = "tolerance" if role == "primary" else f"allowed {'decrease' if up else 'increase'}"
    detail = f"{spec.label} {_fmt(value)} {op} champion {_fmt(ref)} {'-' if up else '+'} {_fmt(tolerance)} {allowance}"
    if not passed:
        detail += f"; retrain or relax {_SETTINGS}.{role}_tolerance"
    return MetricCheck(spec.name, role, value, threshold, up, passed, detail)


def _baseline_check(spec: MetricSpec, model: dict, baseline: dict, min_lift: float) -> MetricCheck:
    value, ref = _metric(model, spec, "challenger"), _metric(baseline, spec, "baseline")
    up = bool(spec.greater_is_better)
    threshold = ref + min_lift if up else ref - min_lift
    if math.isnan(value) or math.isnan(ref):
        side = "challenger" if math.isnan(value) else "baseline"
        detail = f"{spec.label} of the {side} is NaN (undefined on this data); evaluate on data where it is defined"
        return MetricCheck(spec.name, "baseline", value, threshold, up, False, detail)
    gain = value - ref if up else ref - value
    passed = gain > _CLOSE and _at_least(gain, min_lift, True)
    required = f">= {_SETTINGS}.min_lift {_fmt(min_lift)}" if min_lift > 0 else "> 0"
    detail = f"{spec.label} {_fmt(value)} vs business baseline {_fmt(ref)}: lift {_fmt(gain)}, required {required}"
    if not passed:
        detail += (
            f"; the model does not beat the heuristic by the required margin: retrain or relax {_SETTINGS}.min_lift"
            if min_lift > 0
            else "; the model does not beat the heuristic: retrain (more data, better features) before promoting"
        )
    return MetricCheck(spec.name, "baseline", value, threshold, up, passed, detail)


def _at_least(value: float, threshold: float, greater_is_better: bool) -> bool:
    if math.isclose(value, threshold, rel_tol=_CLOSE, abs_tol=_CLOSE):
        return True
    return value > threshold if greater_is_better else value < threshold


def _metric(metrics: dict[str, float], spec: MetricSpec, whose: str) -> float:
    if spec.name not in metrics:
        raise ValueError(f"The {whose} metrics lack {spec.name!r} (have: {', '.join(sorted(metrics)) or 'none'})")
    return float(metrics[spec.name])


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _as_arrays(y_true: Any, prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    y, pred = np.asarray(y_true), np.asarray(prediction)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-d (one label or value per row), got shape {y.shape}")
    if len(y) == 0:
        raise ValueError("Cannot compute metrics on no rows: y_true is empty")
    if pred.ndim == 0 or len(pred) != len(y):
        raise ValueError(f"{0 if pred.ndim == 0 else len(pred)} predictions for {len(y)} rows of y_true")
    missing = _missing(y)
    if missing:
        raise ValueError(f"{missing} of {len(y)} y_true values are missing (NaN/None); drop unlabelled rows first")
    return y, pred


def _missing(values: np.ndarray) -> int:
    import numpy as np

    if values.dtype.kind in "fc":
        return int((~np.isfinite(values)).sum())
    if values.dtype.kind == "O":
        return sum(v is None or v != v for v in values.ravel())
    return 0


def _values(values: np.ndarray, what: str) -> np.ndarray:
    if values.ndim != 1:
        raise ValueError(f"Regression {what} must be 1-d (one value per row), got shape {values.shape}")
    if values.dtype.kind not in "biuf":
        raise ValueError(f"Regression {what} must be numbers, got dtype {values.dtype}")
    values = values.astype("float64")
    bad = _missing(values)
    if bad:
        raise ValueError(f"{bad} of {len(values)} {what} are NaN or infinite")
    return values


def _probabilities(pred: np.ndarray, ndim: int) -> np.ndarray:
    if pred.ndim != ndim:
        hint = "P(positive class), e.g. predict_proba(x)[:, 1]" if ndim == 1 else "an (n, k) predict_proba matrix"
        raise ValueError(f"The prediction must be {hint}; got shape {pred.shape}")
    if pred.dtype.kind not in "biuf":
        raise ValueError(f"The prediction must hold probabilities, got dtype {pred.dtype}")
    p = pred.astype("float64")
    bad = _missing(p)
    if bad:
        raise ValueError(f"{bad} predicted probabilities are NaN or infinite")
    outside = int(((p < 0) | (p > 1)).sum())
    if outside:
        raise ValueError(f"{outside} predicted probabilities are outside [0, 1]; pass probabilities, not scores")
    return p


def _binary_labels(y: np.ndarray, classes: Any) -> np.ndarray:
    import numpy as np

    if classes is not None:
        classes = list(classes)
        if len(classes) != 2:
            raise ValueError(f"Binary classes must be (negative, positive), got {classes!r}")
        return _index_of(y, classes)  # 1 for the positive (second) class
    found = np.unique(y)
    if not np.isin(found, [0, 1]).all():
        shown = ", ".join(map(str, found[:5]))
        raise ValueError(f"Binary y_true must be 0/1 (or pass classes=(negative, positive)), found {shown}")
    return y.astype("int64")


def _class_index(y: np.ndarray, classes: Any, k: int) -> np.ndarray:
    classes = list(range(k)) if classes is None else list(classes)
    if len(classes) != k:
        raise ValueError(f"The probability matrix has {k} columns for {len(classes)} classes {classes!r}")
    if len(set(classes)) != k or k < 2:
        raise ValueError(f"Multiclass classes must be 2 or more distinct labels, got {classes!r}")
    return _index_of(y, classes)


def _index_of(y: np.ndarray, classes: list) -> np.ndarray:
    import numpy as np

    position = {c: i for i, c in enumerate(classes)}
    found, inverse = np.unique(y, return_inverse=True)
    unknown = [str(v) for v in found if v not in position]
    if unknown:
        raise ValueError(f"y_true holds labels not in classes {classes!r}: {', '.join(unknown[:5])}")
    return np.array([position[v] for v in found], dtype="int64")[inverse.ravel()]


def _binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    both = len(np.unique(y)) == 2
    nan = float("nan")
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else nan,
        "pr_auc": float(average_precision_score(y, p)) if both else nan,
        "log_loss": float(log_loss(y, np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p, labels=[0, 1])),
        "calibration_error": calibration_error(y, p),
        "positive_rate": float(y.mean()),
    }


def _multiclass_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import f1_score

    sums = proba.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if off.size:
        raise ValueError(
            f"{off.size} probability rows do not sum to 1 (row {off[0]} sums to {sums[off[0]]:.6g}); "
            "pass predict_proba output"
        )
    predicted = proba.argmax(axis=1)
    true_p = np.clip(proba[np.arange(len(y)), y], LOG_LOSS_EPS, 1.0)
    return {
        "macro_f1": float(f1_score(y, predicted, average="macro")),
        "log_loss": float(-np.log(true_p).mean()),
        "accuracy": float((predicted == y).mean()),
    }


def _regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    constant = bool(np.all(y == y[0]))
    return {
        "rmse": float(root_mean_squared_error(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float("nan") if constant else float(r2_score(y, pred)),
    }
