"""The promotion rule: challenger vs champion (or the business baseline), in the task type's metrics, pure.

The metrics and their directions come from `mlops.task_metrics` (ROC AUC / log loss for binary, macro F1 / log
loss for multiclass, RMSE / MAE for regression). With a champion, both scored on the same data: the primary
metric may be worse by at most `primary_tolerance`, the guard metric by at most `guard_tolerance`. With no
champion yet: a binary model must reach `promotion.baseline_roc_auc`; a model of another task type must beat
the business baseline scored on the same held-out rows (lift >= `min_lift`, strictly above 0), which binary
also checks when `promotion.min_lift` is set. `resolve_rule` maps the settings to these numbers and to the
key a refusal tells the reader to relax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.task_metrics import (
    PromotionRule,
    compare,
    compute_metrics,
    guard_metric,
    lift,
    metric_spec,
    primary_metric,
)

if TYPE_CHECKING:
    from mlops.config import PromotionSettings
    from mlops.task_metrics import MetricCheck, TaskType

SETTINGS = "promotion"


@dataclass(frozen=True)
class ScoredModel:
    """One model version's metrics (the task type's) on the comparison data."""

    version: str
    metrics: dict[str, float]

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]


@dataclass(frozen=True)
class ResolvedRule:
    """The promotion rule of one task type, with the `promotion.*` key behind each number."""

    rule: PromotionRule
    primary_key: str  # auc_tolerance or primary_tolerance
    guard_key: str  # max_log_loss_increase or guard_tolerance
    baseline_floor: float | None  # binary: promotion.baseline_roc_auc (no champion yet)
    check_lift: bool  # no champion yet: the primary metric must beat the business baseline's


def resolve_rule(cfg: PromotionSettings, task: TaskType) -> ResolvedRule:
    """The rule of a task type from the settings: task-generic keys when set, else the task's defaults
    (binary: `auc_tolerance`, `baseline_roc_auc`; log-loss guard: `max_log_loss_increase`; otherwise 0)."""
    binary = task == "binary"
    if cfg.primary_tolerance is not None or not binary:
        primary, primary_key = cfg.primary_tolerance or 0.0, "primary_tolerance"
    else:
        primary, primary_key = cfg.auc_tolerance, "auc_tolerance"
    if cfg.guard_tolerance is None and guard_metric(task).name == "log_loss":
        guard, guard_key = cfg.max_log_loss_increase, "max_log_loss_increase"
    else:
        guard, guard_key = cfg.guard_tolerance or 0.0, "guard_tolerance"
    rule = PromotionRule(primary_tolerance=primary, guard_tolerance=guard, min_lift=cfg.min_lift or 0.0)
    floor = cfg.baseline_roc_auc if binary else None
    return ResolvedRule(rule, primary_key, guard_key, floor, check_lift=not binary or cfg.min_lift is not None)


@dataclass(frozen=True)
class RuleCheck:
    """One check of the rule: the challenger's value against the worst value that passes.

    Attributes:
        check: the row name in monitoring.cd_decisions: the metric, or `<metric>_lift` against the baseline.
        value: the challenger's metric (for a lift check: its lift over the business baseline, in metric units).
        threshold: the worst passing value (for a lift check: the minimum lift).
        greater_is_better: the direction of `value`.
        passed: whether the value met the threshold.
        reason: on a refusal, observed vs required and what to do next; empty when passed.
    """

    check: str
    metric: str
    value: float
    threshold: float
    greater_is_better: bool
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class Comparison:
    """The outcome of the promotion rule for one challenger.

    Attributes:
        basis: `champion` (scored side by side on the same recent data) or `baseline` (no champion yet).
        data: where the metrics come from (`recent <first>..<last> (<rows> rows)` or `held-out test`).
    """

    model_name: str
    task: TaskType
    challenger: ScoredModel
    champion: ScoredModel | None
    basis: str
    checks: tuple[RuleCheck, ...]
    data: str

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the challenger was refused, one line per failed check (empty when passed)."""
        return tuple(c.reason for c in self.checks if not c.passed)

    @property
    def passed(self) -> bool:
        """True when the challenger meets every threshold."""
        return not self.reasons

    @property
    def champion_version(self) -> str | None:
        """The champion the challenger was compared with (None at the first deployment)."""
        return self.champion.version if self.champion else None

    def threshold(self, check: str) -> float | None:
        """The threshold of check `check` (a metric, or `<metric>_lift`), None when the rule has no such check."""
        return next((c.threshold for c in self.checks if c.check == check), None)

    def message(self) -> str:
        """One line for logs, tags, descriptions and the approval form."""
        against = f"champion v{self.champion.version}" if self.champion else "the business baseline"
        head = f"{self.model_name} v{self.challenger.version} vs {against} on {self.data}: {', '.join(self._figures())}"
        return f"{head}: {'passed' if self.passed else 'failed: ' + '; '.join(self.reasons)}"

    def _figures(self) -> list[str]:
        """The challenger's primary and guard metric, each with the bound it had to meet; then any lift."""
        figures = []
        for spec in (primary_metric(self.task), guard_metric(self.task)):
            if spec.name not in self.challenger.metrics:
                continue
            text = f"{spec.label} {self.challenger[spec.name]:.4f}"
            bound = self.threshold(spec.name)
            if bound is not None:
                text += f" ({'min' if spec.greater_is_better else 'max'} {bound:.4f})"
            figures.append(text)
        for check in self.checks:
            if check.check.endswith("_lift"):
                label = metric_spec(self.task, check.metric).label
                figures.append(f"{label} lift over the baseline {check.value:+.4f} (min {check.threshold:.4f})")
        return figures

    def summary(self) -> dict[str, Any]:
        """Small JSON-scalar dict for XCom: the challenger's and champion's primary and guard metrics and their
        bounds (binary: `roc_auc`, `log_loss`, `champion_roc_auc`, `min_roc_auc`, `max_log_loss`, ...)."""
        out: dict[str, Any] = {
            "model_name": self.model_name,
            "version": self.challenger.version,
            "champion_version": self.champion_version,
            "basis": self.basis,
            "passed": self.passed,
        }
        specs = (primary_metric(self.task), guard_metric(self.task))
        for spec in specs:
            out[spec.name] = _round(self.challenger.metrics.get(spec.name))
        for spec in specs:
            out[f"champion_{spec.name}"] = _round(self.champion.metrics.get(spec.name)) if self.champion else None
        for spec in specs:
            out[f"{'min' if spec.greater_is_better else 'max'}_{spec.name}"] = _round(self.threshold(spec.name))
        return {**out, "data": self.data, "message": self.message()}


@dataclass(frozen=True)
class BaselineScores:
    """The challenger's and the business baseline's metrics on the same held-out rows (its training run's)."""

    model: dict[str, float]
    baseline: dict[str, float]


def compare_models(
    model_name: str,
    task: TaskType,
    challenger: ScoredModel,
    champion: ScoredModel | None,
    cfg: PromotionSettings,
    data: str,
    baseline: BaselineScores | None = None,
) -> Comparison:
    """Apply the promotion rule of `task` (see the module docstring).

    Args:
        challenger: its metrics on `data` (with no champion: on the data the floor is judged on).
        champion: its metrics on the same data; None at the first deployment.
        baseline: with no champion, the challenger's and the business baseline's metrics on the same held-out
            rows; needed when the rule checks the lift (every task type but binary, unless `promotion.min_lift`
            is set).

    Raises:
        ValueError: the lift is to be checked but `baseline` is None, or a metric is missing.
    """
    resolved = resolve_rule(cfg, task)
    if champion is not None:
        outcome = compare(task, challenger.metrics, champion.metrics, resolved.rule, "champion")
        keys = {"primary": resolved.primary_key, "guard": resolved.guard_key}
        checks = tuple(_threshold_check(task, c, keys[c.role]) for c in outcome.checks)
        return Comparison(model_name, task, challenger, champion, "champion", checks, data)
    checks = []
    if resolved.baseline_floor is not None:
        checks.append(_floor_check(task, challenger, resolved.baseline_floor))
    if resolved.check_lift:
        if baseline is None:
            raise ValueError(f"Cannot judge {model_name} v{challenger.version} against the business baseline: no "
                             "baseline metrics on its held-out rows")  # fmt: skip
        checks.append(_lift_check(task, baseline, resolved.rule))
    return Comparison(model_name, task, challenger, None, "baseline", tuple(checks), data)


def _threshold_check(task: TaskType, check: MetricCheck, key: str) -> RuleCheck:
    """A champion check in the house format: `ROC AUC 0.6900 < 0.6950 (retrain or relax promotion.auc_tolerance)`."""
    reason = ""
    if not check.passed:
        if math.isnan(check.value) or math.isnan(check.threshold):
            reason = check.detail
        else:
            op = "<" if check.greater_is_better else ">"
            label = metric_spec(task, check.metric).label
            reason = f"{label} {check.value:.4f} {op} {check.threshold:.4f} (retrain or relax {SETTINGS}.{key})"
    return RuleCheck(
        check.metric, check.metric, check.value, check.threshold, check.greater_is_better, check.passed, reason
    )


def _floor_check(task: TaskType, challenger: ScoredModel, floor: float) -> RuleCheck:
    """Binary, no champion yet: ROC AUC must reach `promotion.baseline_roc_auc`."""
    spec = primary_metric(task)
    value = challenger[spec.name]
    passed = value >= floor
    reason = "" if passed else (
        f"{spec.label} {value:.4f} < {floor:.4f} (retrain or relax {SETTINGS}.baseline_roc_auc)"
    )  # fmt: skip
    return RuleCheck(spec.name, spec.name, value, floor, True, passed, reason)


def _lift_check(task: TaskType, scores: BaselineScores, rule: PromotionRule) -> RuleCheck:
    """No champion yet: the primary metric beats the business baseline's on the same rows, by `min_lift`."""
    check = compare(task, scores.model, scores.baseline, rule, "baseline").checks[0]
    gain = lift(task, scores.model, scores.baseline, check.metric)
    reason = "" if check.passed else f"on the held-out rows of its training run, {check.detail}"
    return RuleCheck(f"{check.metric}_lift", check.metric, gain, rule.min_lift, True, check.passed, reason)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def score(version: str, task: TaskType, y_true: Any, prediction: Any, classes: Any = None) -> ScoredModel:
    """The task's metrics of a version's predictions against the labels (binary: P(positive class), clipped
    to [1e-15, 1 - 1e-15]; multiclass: a probability matrix whose columns follow `classes`; regression: values).

    Raises:
        ValueError: binary labels holding a single class (ROC AUC is undefined), or invalid predictions.
    """
    import numpy as np

    if task == "binary":
        y_true = np.asarray(y_true, dtype="int64")
        if len(np.unique(y_true)) < 2:
            raise ValueError(f"Cannot score v{version}: the comparison labels hold a single class ({len(y_true)} rows)")
        prediction = np.clip(np.asarray(prediction, dtype="float64"), 1e-15, 1 - 1e-15)
    return ScoredModel(version, compute_metrics(task, y_true, prediction, classes))
