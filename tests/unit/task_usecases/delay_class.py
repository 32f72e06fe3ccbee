"""Multiclass test use case: on time / late / very late (see the package docstring)."""

from __future__ import annotations

from tests.unit.task_usecases import multiclass_usecase as usecase

__all__ = ["usecase"]
