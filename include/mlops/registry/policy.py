"""The promotion rule: challenger vs champion (or the business baseline), as pure functions and decisions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.config import PromotionSettings


@dataclass(frozen=True)
class ScoredModel:
    """One model version's metrics on the comparison data."""

    version: str
    roc_auc: float
    log_loss: float


@dataclass(frozen=True)
class Comparison:
    """The outcome of the promotion rule for one challenger.

    Attributes:
        basis: `champion` (scored side by side on the same recent data) or `baseline` (no champion yet).
        data: where the metrics come from (`recent <first>..<last> (<rows> rows)` or `held-out test`).
    """

    model_name: str
    challenger: ScoredModel
    champion: ScoredModel | None
    basis: str
    min_roc_auc: float
    max_log_loss: float | None
    data: str
    reasons: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when the challenger meets every threshold."""
        return not self.reasons

    @property
    def champion_version(self) -> str | None:
        """The champion the challenger was compared with (None at the first deployment)."""
        return self.champion.version if self.champion else None

    def message(self) -> str:
        """One line for logs, tags, descriptions and the approval form."""
        against = f"champion v{self.champion.version}" if self.champion else "the business baseline"
        head = (
            f"{self.model_name} v{self.challenger.version} vs {against} on {self.data}: "
            f"ROC AUC {self.challenger.roc_auc:.4f} (min {self.min_roc_auc:.4f}), "
            f"log loss {self.challenger.log_loss:.4f}"
        )
        if self.max_log_loss is not None:
            head += f" (max {self.max_log_loss:.4f})"
        return f"{head}: {'passed' if self.passed else 'failed: ' + '; '.join(self.reasons)}"

    def summary(self) -> dict[str, Any]:
        """Small JSON-scalar dict for XCom."""
        return {
            "model_name": self.model_name,
            "version": self.challenger.version,
            "champion_version": self.champion_version,
            "basis": self.basis,
            "passed": self.passed,
            "roc_auc": round(self.challenger.roc_auc, 6),
            "log_loss": round(self.challenger.log_loss, 6),
            "champion_roc_auc": round(self.champion.roc_auc, 6) if self.champion else None,
            "champion_log_loss": round(self.champion.log_loss, 6) if self.champion else None,
            "min_roc_auc": round(self.min_roc_auc, 6),
            "max_log_loss": round(self.max_log_loss, 6) if self.max_log_loss is not None else None,
            "data": self.data,
            "message": self.message(),
        }


def compare_models(
    model_name: str,
    challenger: ScoredModel,
    champion: ScoredModel | None,
    rule: PromotionSettings,
    data: str,
) -> Comparison:
    """Apply the promotion rule.

    With a champion: ROC AUC >= champion's - `auc_tolerance` and log loss <= champion's +
    `max_log_loss_increase`. Without one (first deployment): ROC AUC >= `baseline_roc_auc`.
    """
    if champion is None:
        min_auc, max_loss, basis = rule.baseline_roc_auc, None, "baseline"
    else:
        min_auc = champion.roc_auc - rule.auc_tolerance
        max_loss, basis = champion.log_loss + rule.max_log_loss_increase, "champion"
    reasons = []
    if challenger.roc_auc < min_auc:
        source = "promotion.baseline_roc_auc" if champion is None else "promotion.auc_tolerance"
        reasons.append(f"ROC AUC {challenger.roc_auc:.4f} < {min_auc:.4f} (retrain or relax {source})")
    if max_loss is not None and challenger.log_loss > max_loss:
        reasons.append(
            f"log loss {challenger.log_loss:.4f} > {max_loss:.4f} (retrain or relax promotion.max_log_loss_increase)"
        )
    return Comparison(model_name, challenger, champion, basis, min_auc, max_loss, data, tuple(reasons))


def score(version: str, y_true: Any, p_positive: Any) -> ScoredModel:
    """ROC AUC and log loss of P(positive class) against the labels.

    Raises:
        ValueError: the labels hold a single class (ROC AUC is undefined).
    """
    import numpy as np
    from sklearn.metrics import log_loss, roc_auc_score

    y = np.asarray(y_true, dtype="int64")
    if len(np.unique(y)) < 2:
        raise ValueError(f"Cannot score v{version}: the comparison labels hold a single class ({len(y)} rows)")
    p = np.clip(np.asarray(p_positive, dtype="float64"), 1e-15, 1 - 1e-15)
    return ScoredModel(version, float(roc_auc_score(y, p)), float(log_loss(y, p, labels=[0, 1])))
