"""Continuous deployment of models: compliance checks, the promotion rule, registry transitions, the audit table."""

from __future__ import annotations

from mlops.registry.compliance import CheckResult, ComplianceReport, VersionFacts, check_compliance, check_facts
from mlops.registry.decisions import CD_DECISIONS, DecisionRow, append_decisions, comparison_rows, compliance_rows
from mlops.registry.lock import RegistryBusyError, registry_lock
from mlops.registry.policy import Comparison, ScoredModel, compare_models
from mlops.registry.transitions import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    Audit,
    PromotionRaceError,
    RegistryInputError,
    Transition,
    alias_version,
    get_version,
    promote,
    reconcile_status,
    reject,
    rollback,
    set_challenger,
)

__all__ = [
    "CD_DECISIONS",
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "Audit",
    "CheckResult",
    "Comparison",
    "ComplianceReport",
    "DecisionRow",
    "PromotionRaceError",
    "RegistryBusyError",
    "RegistryInputError",
    "ScoredModel",
    "Transition",
    "VersionFacts",
    "alias_version",
    "append_decisions",
    "check_compliance",
    "check_facts",
    "compare_models",
    "comparison_rows",
    "compliance_rows",
    "get_version",
    "promote",
    "reconcile_status",
    "registry_lock",
    "reject",
    "rollback",
    "set_challenger",
]
