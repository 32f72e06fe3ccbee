"""The promotion rule and the decision rows, pure."""

from __future__ import annotations

import pytest

from mlops.config import PromotionSettings
from mlops.registry import ScoredModel, compare_models, comparison_rows
from mlops.registry.compliance import VersionFacts, check_facts
from mlops.registry.policy import score

RULE = PromotionSettings(auc_tolerance=0.005, max_log_loss_increase=0.01, baseline_roc_auc=0.55)


def _scored(version: str, auc: float, loss: float) -> ScoredModel:
    return ScoredModel(version, {"roc_auc": auc, "log_loss": loss})


CHAMPION = _scored("1", 0.700, 0.500)


@pytest.mark.parametrize(
    ("auc", "loss", "passed"),
    [(0.700, 0.500, True), (0.695, 0.510, True), (0.694, 0.500, False), (0.720, 0.511, False)],
)
def test_compare_models_applies_tolerance_and_log_loss_margin(auc, loss, passed):
    result = compare_models("m", "binary", _scored("2", auc, loss), CHAMPION, RULE, "recent")
    assert result.passed is passed and result.basis == "champion"


def test_compare_models_without_champion_uses_the_business_baseline():
    low = compare_models("m", "binary", _scored("1", 0.54, 9.0), None, RULE, "held-out")
    high = compare_models("m", "binary", _scored("1", 0.60, 9.0), None, RULE, "held-out")
    assert (low.passed, high.passed) == (False, True)
    assert "promotion.baseline_roc_auc" in low.message() and high.threshold("log_loss") is None


def test_comparison_rows_record_values_thresholds_and_decision():
    result = compare_models("m", "binary", _scored("2", 0.69, 0.49), CHAMPION, RULE, "recent")
    rows = comparison_rows(result)
    assert [(r.check, r.outcome) for r in rows] == [
        ("roc_auc", "failed"),
        ("log_loss", "passed"),
        ("decision", "failed"),
    ]
    assert rows[0].threshold == pytest.approx(0.695) and rows[0].champion_version == "1"


def test_score_refuses_single_class_labels():
    with pytest.raises(ValueError, match="single class"):
        score("3", "binary", [1, 1, 1], [0.2, 0.4, 0.9])


def _facts(**changes) -> VersionFacts:
    base = {
        "model_name": "m",
        "version": "1",
        "run_id": "r",
        "tags": {"mlops.code_version": "abc", "mlops.data_versions": "{}", "mlflow.user": "ana"},
        "description": "trained",
        "metrics": {"test_roc_auc": 0.6, "test_log_loss": 0.5, "baseline_roc_auc": 0.55},
        "dataset_inputs": 3,
        "has_signature": True,
        "has_input_example": True,
        "artifact_mb": 1.0,
    }
    return VersionFacts(**{**base, **changes})


def test_check_facts_passes_a_complete_version():
    assert all(r.passed for r in check_facts(_facts(), RULE, "binary"))


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"tags": {"mlops.code_version": "abc", "mlops.data_versions": "{}"}}, "required_tags"),
        ({"tags": {"mlops.code_version": "unknown", "mlops.data_versions": "{}", "mlops.owner": "x"}}, "required_tags"),
        ({"description": " "}, "description"),
        ({"has_signature": False}, "signature"),
        ({"has_input_example": False}, "input_example"),
        ({"dataset_inputs": 0}, "dataset_lineage"),
        ({"metrics": {"test_roc_auc": 0.6}}, "required_metrics"),
        ({"artifact_mb": 51.0}, "artifact_size"),
    ],
)
def test_check_facts_names_the_failed_check(changes, failed):
    results = check_facts(_facts(**changes), RULE, "binary")
    assert [r.check for r in results if not r.passed] == [failed]


def test_check_facts_runs_only_the_configured_checks():
    rule = RULE.model_copy(update={"compliance_checks": ("signature",)})
    assert [r.check for r in check_facts(_facts(has_signature=False, description=""), rule, "binary")] == ["signature"]
