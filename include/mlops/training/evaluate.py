"""Held-out evaluation: the task's metrics of the model and the use case's business baseline, plots, importance.

The baseline is the use case's (`ModelSpec.baseline`): what the business could do without a model. Every
run reports the same metrics for both (`mlops.task_metrics`: ROC AUC, PR AUC, log loss, ... for binary,
macro F1, log loss, accuracy for multiclass, RMSE, MAE, R2 for regression) and the lift of the primary and
guard metrics (positive: the model is better), so a model that merely matches the heuristic is visible at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.task_metrics import CALIBRATION_BINS, calibration_error, compute_metrics, guard_metric, lift, primary_metric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from mlops.task_metrics import TaskType

__all__ = ["CALIBRATION_BINS", "Evaluation", "Metrics", "calibration_error", "evaluate", "score_metrics"]

EPS = 1e-6  # binary probabilities are clipped to [EPS, 1 - EPS] before every metric
# sklearn scorer of each primary metric, for permutation importance (a drop in it is the importance).
IMPORTANCE_SCORER = {"roc_auc": "roc_auc", "macro_f1": "f1_macro", "rmse": "neg_root_mean_squared_error"}


@dataclass(frozen=True)
class Metrics:
    """The task type's metrics of one scorer on one data set, e.g. `metrics.roc_auc` or `metrics["rmse"]`."""

    task: TaskType
    values: Mapping[str, float]  # in `mlops.task_metrics` reporting order
    rows: int

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("values")
        if values is None or name not in values:
            raise AttributeError(f"{type(self).__name__} of a {self.__dict__.get('task')} model has no {name!r}")
        return values[name]

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Metric name -> value, then `rows`, names prefixed (e.g. `test_roc_auc`, `test_rows`)."""
        return {**{f"{prefix}{k}": float(v) for k, v in self.values.items()}, f"{prefix}rows": float(self.rows)}


@dataclass(frozen=True)
class Evaluation:
    """Model and baseline metrics on the same held-out rows."""

    model: Metrics
    baseline: Metrics

    @property
    def task(self) -> TaskType:
        """The task type both were scored as."""
        return self.model.task

    def lift(self, metric: str | None = None) -> float:
        """How much better the model is than the baseline on `metric` (default: the primary), in its units."""
        return lift(self.task, dict(self.model.values), dict(self.baseline.values), metric)

    def metrics(self) -> dict[str, float]:
        """Flat metrics for MLflow and the training_runs table: `test_*`, `baseline_*`, `<primary>_lift`,
        `<guard>_lift` (binary: `roc_auc_lift`, `log_loss_lift`)."""
        primary, guard = primary_metric(self.task).name, guard_metric(self.task).name
        return {
            **self.model.as_dict("test_"),
            **self.baseline.as_dict("baseline_"),
            f"{primary}_lift": self.lift(primary),
            f"{guard}_lift": self.lift(guard),
        }

    def table(self) -> pd.DataFrame:
        """One row per scorer: the small evaluation table logged with the run."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"scorer": name, **m.values, "rows": m.rows}
                for name, m in (("model", self.model), ("baseline", self.baseline))
            ]
        )


def score_metrics(task: TaskType, y: Any, prediction: Any, classes: Any = None) -> Metrics:
    """The task's metrics of `prediction` against `y` (binary: P(positive class), clipped to [EPS, 1 - EPS];
    multiclass: a probability matrix whose columns follow `classes`; regression: predicted values)."""
    import numpy as np

    if task == "binary":
        prediction = np.clip(np.asarray(prediction, dtype="float64"), EPS, 1 - EPS)
        y = np.asarray(y, dtype="int64")
    values = compute_metrics(task, y, prediction, classes)
    return Metrics(task, values, int(len(y)))


def evaluate(task: TaskType, y: Any, model_scores: Any, baseline_scores: Any, classes: Any = None) -> Evaluation:
    """Model and baseline metrics on the same labels."""
    return Evaluation(score_metrics(task, y, model_scores, classes), score_metrics(task, y, baseline_scores, classes))


def plot_evaluation(task: TaskType, y: np.ndarray, scores: dict[str, Any], folder: Path) -> list[Path]:
    """The task's evaluation plots of each scorer: ROC, precision-recall and calibration for binary,
    predicted vs actual for regression, none for multiclass. Returns the PNG paths."""
    if task == "binary":
        return plot_curves(y, scores, folder)
    if task == "regression":
        return [plot_predicted_vs_actual(y, scores, folder)]
    return []


def plot_curves(y: np.ndarray, scores: dict[str, np.ndarray], folder: Path) -> list[Path]:
    """ROC, precision-recall and calibration plots of each scorer; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, title in (("roc_curve", "ROC (held-out days)"), ("pr_curve", "Precision-recall"), ("calibration", "")):
        fig, ax = plt.subplots(figsize=(5, 4))
        for label, p in scores.items():
            if name == "roc_curve":
                fpr, tpr, _ = roc_curve(y, p)
                ax.plot(fpr, tpr, label=label)
                ax.set(xlabel="false positive rate", ylabel="true positive rate")
            elif name == "pr_curve":
                precision, recall, _ = precision_recall_curve(y, p)
                ax.plot(recall, precision, label=label)
                ax.set(xlabel="recall", ylabel="precision")
            else:
                observed, predicted = calibration_curve(y, p, n_bins=CALIBRATION_BINS, strategy="quantile")
                ax.plot(predicted, observed, marker="o", label=label)
                ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
                ax.set(xlabel="mean predicted probability", ylabel="observed positive rate")
        ax.set_title(title or "Calibration (quantile bins)")
        ax.legend(loc="best")
        fig.tight_layout()
        paths.append(folder / f"{name}.png")
        fig.savefig(paths[-1], dpi=80)
        plt.close(fig)
    return paths


def plot_predicted_vs_actual(y: np.ndarray, scores: dict[str, np.ndarray], folder: Path) -> Path:
    """Predicted against observed values of each scorer, with the identity line; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, values in scores.items():
        ax.scatter(y, values, s=4, alpha=0.4, label=label)
    low, high = float(np.min(y)), float(np.max(y))
    ax.plot([low, high], [low, high], linestyle=":", color="grey")
    ax.set(xlabel="observed", ylabel="predicted", title="Predicted vs actual (held-out days)")
    ax.legend(loc="best")
    fig.tight_layout()
    path = folder / "predicted_vs_actual.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def feature_importance(
    model: Pipeline, x: pd.DataFrame, y: np.ndarray, *, task: TaskType, seed: int, max_rows: int = 2000
) -> pd.DataFrame:
    """Permutation importance (drop in the task's primary metric) on up to `max_rows` held-out rows, largest first."""
    import pandas as pd
    from sklearn.inspection import permutation_importance

    if len(x) > max_rows:
        sample = x.sample(n=max_rows, random_state=seed)
        x, y = sample, y[x.index.get_indexer(sample.index)]
    scoring = IMPORTANCE_SCORER[primary_metric(task).name]
    result = permutation_importance(model, x, y, scoring=scoring, n_repeats=3, random_state=seed, n_jobs=1)
    table = pd.DataFrame(
        {"feature": x.columns, "importance_mean": result.importances_mean, "importance_std": result.importances_std}
    )
    return table.sort_values("importance_mean", ascending=False).reset_index(drop=True)
