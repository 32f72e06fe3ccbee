"""Regression test use case: the arrival delay in minutes (see the package docstring)."""

from __future__ import annotations

from tests.unit.task_usecases import regression_usecase as usecase

__all__ = ["usecase"]
