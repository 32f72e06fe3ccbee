"""The training fingerprint changes with what determines the model (rows, choices, settings) and nothing else."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlops.config import load_settings
from mlops.training.fingerprint import training_fingerprint
from tests.unit._training import shared_training_set

pytestmark = pytest.mark.spark

CHOICES = {"model_family": "hist_gradient_boosting", "tuning_trials": 4, "tuning_timeout_seconds": 60}


@pytest.fixture(scope="module")
def training(spark):
    return shared_training_set(spark)


@pytest.fixture(scope="module")
def settings():
    return load_settings("staging")


def test_fingerprint_ignores_row_order(settings, training):
    shuffled = replace(training, frame=training.frame.sample(frac=1.0, random_state=7))
    assert training_fingerprint(settings, shuffled, CHOICES) == training_fingerprint(settings, training, CHOICES)


def test_fingerprint_changes_with_one_label(settings, training):
    frame = training.frame.copy()
    frame.loc[frame.index[0], training.label] = 1 - frame.loc[frame.index[0], training.label]
    changed = replace(training, frame=frame)
    assert training_fingerprint(settings, changed, CHOICES) != training_fingerprint(settings, training, CHOICES)


def test_fingerprint_changes_with_the_tuning_budget_and_the_seed(settings, training):
    base = training_fingerprint(settings, training, CHOICES)
    assert training_fingerprint(settings, training, {**CHOICES, "tuning_trials": 2}) != base
    reseeded = settings.model_copy(update={"training": settings.training.model_copy(update={"seed": 7})})
    assert training_fingerprint(reseeded, training, CHOICES) != base
