"""Held-out evaluation: probability metrics of the model and the use case's business baseline, curves, importance.

The baseline is the use case's (`ModelSpec.baseline`): what the business could do without a model. Every
run reports the same metrics for both, and the lift (model minus baseline), so a model that merely matches
the heuristic is visible at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

CALIBRATION_BINS = 10
EPS = 1e-6


@dataclass(frozen=True)
class Metrics:
    """Probability-quality metrics of one scorer on one data set."""

    roc_auc: float
    pr_auc: float
    log_loss: float
    brier: float
    calibration_error: float  # expected calibration error over CALIBRATION_BINS equal-width bins
    positive_rate: float
    rows: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Metric name -> value, names prefixed (e.g. `test_roc_auc`)."""
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Evaluation:
    """Model and baseline metrics on the same held-out rows."""

    model: Metrics
    baseline: Metrics

    @property
    def roc_auc_lift(self) -> float:
        """Model ROC AUC minus baseline ROC AUC."""
        return self.model.roc_auc - self.baseline.roc_auc

    def metrics(self) -> dict[str, float]:
        """Flat metrics for MLflow and the training_runs table."""
        return {
            **self.model.as_dict("test_"),
            **self.baseline.as_dict("baseline_"),
            "roc_auc_lift": self.roc_auc_lift,
            "log_loss_lift": self.baseline.log_loss - self.model.log_loss,
        }

    def table(self) -> pd.DataFrame:
        """One row per scorer: the small evaluation table logged with the run."""
        import pandas as pd

        return pd.DataFrame(
            [{"scorer": "model", **asdict(self.model)}, {"scorer": "baseline", **asdict(self.baseline)}]
        )


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: bin-weighted |mean prediction - observed rate|."""
    import numpy as np

    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def score_metrics(y: np.ndarray, p: np.ndarray) -> Metrics:
    """Metrics of probabilities `p` against 0/1 labels `y` (both classes must be present)."""
    import numpy as np
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    p = np.clip(np.asarray(p, dtype="float64"), EPS, 1 - EPS)
    y = np.asarray(y, dtype="int64")
    return Metrics(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        log_loss=float(log_loss(y, p, labels=[0, 1])),
        brier=float(brier_score_loss(y, p)),
        calibration_error=calibration_error(y, p),
        positive_rate=float(y.mean()),
        rows=int(len(y)),
    )


def evaluate(y: np.ndarray, model_p: np.ndarray, baseline_p: np.ndarray) -> Evaluation:
    """Model and baseline metrics on the same labels."""
    return Evaluation(score_metrics(y, model_p), score_metrics(y, baseline_p))


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


def feature_importance(
    model: Pipeline, x: pd.DataFrame, y: np.ndarray, *, seed: int, max_rows: int = 2000
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) on up to `max_rows` held-out rows, largest first."""
    import pandas as pd
    from sklearn.inspection import permutation_importance

    if len(x) > max_rows:
        sample = x.sample(n=max_rows, random_state=seed)
        x, y = sample, y[x.index.get_indexer(sample.index)]
    result = permutation_importance(model, x, y, scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=1)
    table = pd.DataFrame(
        {"feature": x.columns, "importance_mean": result.importances_mean, "importance_std": result.importances_std}
    )
    return table.sort_values("importance_mean", ascending=False).reset_index(drop=True)
