"""The use case keeps the platform's contract: it loads, its settings validate, its source is deterministic."""

from __future__ import annotations

from datetime import date

import pytest

from mlops.landing_csv import read_landing_file
from mlops.usecase import check_usecase

from .. import NAME, usecase
from ..datasets import DATASETS
from ._lake import usecase_settings


def test_the_usecase_passes_the_platforms_contract_check():
    case = usecase()
    check_usecase(case)
    assert case.name == NAME and case.labels.lag_days >= 1


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_settings_of_every_environment_load(env):
    settings = usecase_settings(env)
    assert settings.usecase == NAME and settings.mlflow.model_name == f"{NAME}_{env}"
    days = settings.training.validation_days + settings.training.test_days
    assert settings.training.train_window_days > days


def test_each_day_is_landed_byte_identically_and_passes_its_contract(tmp_path):
    settings = usecase_settings("staging", tmp_path)
    case = usecase()
    first = case.land_day(settings, date(2024, 3, 9))
    content = [p.read_bytes() for p in first]
    assert [p.read_bytes() for p in case.land_day(settings, date(2024, 3, 9))] == content
    assert [p.read_bytes() for p in case.land_day(settings, date(2024, 3, 10))] != content[1:] + content[:1]
    for dataset, path in zip(DATASETS, first, strict=True):
        rows = read_landing_file(path, dataset).num_rows
        assert rows == settings.data.customers, dataset.name
