"""Great Expectations quality gates between layers: suites as code and a generic gate runner."""

from __future__ import annotations

from mlops.quality.gate import FailedExpectation, GateResult, run_gate, split_quarantine, to_gate_frame
from mlops.quality.suites import feature_suite, raw_suite

__all__ = [
    "FailedExpectation",
    "GateResult",
    "feature_suite",
    "raw_suite",
    "run_gate",
    "split_quarantine",
    "to_gate_frame",
]
