"""Comparison data and scoring: recent labelled entities after both models' training windows, PIT features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mlops.registry.policy import Comparison, ScoredModel, compare_models, score
from mlops.registry.registry import CHAMPION, alias_version, get_version

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.usecase import UseCase

log = logging.getLogger(__name__)


class ComparisonDataError(ValueError):
    """There is no labelled data both models have not trained on (yet)."""


@dataclass(frozen=True)
class LabelledData:
    """Labelled entities with point-in-time features over [first, last]."""

    frame: pd.DataFrame
    first: date
    last: date
    kind: str = "recent"

    def describe(self) -> str:
        """E.g. `recent 2013-01-15..2013-01-18 (812 rows)`."""
        return f"{self.kind} {self.first}..{self.last} ({len(self.frame)} rows)"


def training_end(tags: dict[str, str], model_name: str, version: str) -> date:
    """Last entity date a version learnt from, from its `mlops.data_window` tag (`first..end`).

    Raises:
        ComparisonDataError: the tag is missing or malformed.
    """
    window = tags.get("mlops.data_window", "")
    try:
        return date.fromisoformat(window.split("..", 1)[1])
    except (IndexError, ValueError):
        raise ComparisonDataError(
            f"{model_name} v{version} has no valid mlops.data_window tag (got {window!r}); "
            "cannot tell which days it trained on"
        ) from None


def labelled_after(
    spark: SparkSession, lakehouse: Lakehouse, settings: Settings, after: date, days: int | None = None
) -> LabelledData | None:
    """Labelled entities from the day after `after` for up to `promotion.comparison_days` days; None if none.

    Only days whose labels are complete count: the window ends `labels.lag_days` before the latest
    published day, and its cutoff is the lag after its end.
    """
    from mlops.training.dataset import TrainingWindow, build_training_set, default_window_end
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    latest = default_window_end(lakehouse, usecase)
    first = after + timedelta(days=1)
    last = min(latest, first + timedelta(days=(days or settings.promotion.comparison_days) - 1))
    if last < first:
        return None
    window = TrainingWindow(last, (last - first).days + 1, 0, 0, usecase.labels.lag_days)
    frame = build_training_set(spark, lakehouse, settings, window).frame
    return LabelledData(frame, first, last) if len(frame) else None


def current_sample(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, rows: int = 200) -> pd.DataFrame:
    """Model inputs of up to `rows` entities of the latest day with complete labels (the predict check).

    That day is `labels.lag_days` before the latest published one: a sample of the latest day alone
    would be empty when labels arrive two days late.
    """
    from mlops.training.dataset import default_window_end
    from mlops.training.model import model_inputs
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    latest = default_window_end(lakehouse, usecase)  # the latest day with complete labels
    data = labelled_after(spark, lakehouse, settings, latest - timedelta(days=1), days=1)
    return model_inputs(data.frame.head(rows), usecase) if data else model_inputs_empty(usecase)


def model_inputs_empty(usecase: UseCase) -> pd.DataFrame:
    """An empty frame with the model's input columns."""
    import pandas as pd

    from mlops.training.model import feature_columns

    return pd.DataFrame(columns=feature_columns(usecase))


def score_version(
    client: MlflowClient, model_name: str, version: str, data: LabelledData, usecase: UseCase
) -> ScoredModel:
    """Load a version's pyfunc and score it on the data."""
    import mlflow.pyfunc
    import numpy as np

    from mlops.training.model import model_inputs

    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    output = np.asarray(model.predict(model_inputs(data.frame, usecase)), dtype="float64")
    return score(version, data.frame[usecase.labels.column], output[:, -1] if output.ndim == 2 else output)


def compare_with_champion(
    client: MlflowClient, spark: SparkSession, lakehouse: Lakehouse, settings: Settings, model_name: str, version: str
) -> Comparison:
    """Score challenger and champion on the same recent labelled data neither trained on, apply the rule.

    The data: labelled entities after both training windows when there are at least
    `promotion.min_comparison_rows` (a later promotion, or a backfill); else the challenger's held-out
    test days, when they fall after the champion's training window (a retrain deployed straight away,
    as drift_retraining does: nothing later exists yet, and neither model learnt from those days).
    With no champion, the challenger meets the business baseline on that data, or (as at the very first
    deployment) on its training run's held-out test days.

    Raises:
        ComparisonDataError: a champion exists but neither kind of data has enough labelled entities.
    """
    rule = settings.promotion
    challenger = get_version(client, model_name, version)
    champion_v = alias_version(client, model_name, CHAMPION)
    ends = [training_end(_tags(client, challenger), model_name, version)]
    if champion_v:
        ends.append(training_end(_tags(client, get_version(client, model_name, champion_v)), model_name, champion_v))
    data = labelled_after(spark, lakehouse, settings, max(ends))
    if data is not None and len(data.frame) < rule.min_comparison_rows:
        data = None
    if data is None and champion_v:
        data = _held_out_days(client, spark, lakehouse, settings, challenger, champion_end=ends[1])
    if data is None and champion_v:
        raise ComparisonDataError(
            f"Cannot compare {model_name} v{version} with champion v{champion_v}: fewer than "
            f"{rule.min_comparison_rows} labelled entities after {max(ends)} (promotion.min_comparison_rows), "
            f"and v{version}'s held-out test days are not all after v{champion_v}'s training window; "
            "run feature_refresh for later days, then re-run model_promotion"
        )
    if data is None:
        metrics = client.get_run(challenger.run_id).data.metrics
        scored = ScoredModel(str(version), metrics["test_roc_auc"], metrics["test_log_loss"])
        return compare_models(model_name, scored, None, rule, "held-out test days of its training run")
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    scored = score_version(client, model_name, str(version), data, usecase)
    champ = score_version(client, model_name, champion_v, data, usecase) if champion_v else None
    return compare_models(model_name, scored, champ, rule, data.describe())


def _held_out_days(
    client: MlflowClient,
    spark: SparkSession,
    lakehouse: Lakehouse,
    settings: Settings,
    challenger: Any,
    champion_end: date,
) -> LabelledData | None:
    """The challenger's held-out test days (from its run's params), if the champion never trained on them."""
    params = client.get_run(challenger.run_id).data.params
    try:
        end, test_days = date.fromisoformat(params["window_end"]), int(params["test_days"])
    except (KeyError, ValueError):
        return None
    first = end - timedelta(days=test_days - 1)
    if first <= champion_end:
        return None
    data = labelled_after(spark, lakehouse, settings, first - timedelta(days=1), days=test_days)
    if data is None or len(data.frame) < settings.promotion.min_comparison_rows:
        return None
    return LabelledData(data.frame, data.first, data.last, "held-out test days of the challenger")


def _tags(client: MlflowClient, mv: Any) -> dict[str, str]:
    run_tags = dict(client.get_run(mv.run_id).data.tags) if mv.run_id else {}
    return {**run_tags, **(mv.tags or {})}
