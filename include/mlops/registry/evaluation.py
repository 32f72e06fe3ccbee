"""Comparison data and scoring: recent labelled entities after both models' training windows, PIT features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mlops.errors import Refusal
from mlops.registry.policy import BaselineScores, Comparison, ScoredModel, compare_models, resolve_rule, score
from mlops.registry.transitions import CHAMPION, alias_version, get_version
from mlops.task_metrics import guard_metric, primary_metric, task_metrics

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse
    from mlops.task_metrics import TaskType
    from mlops.usecase import UseCase

log = logging.getLogger(__name__)


class ComparisonDataError(Refusal, ValueError):
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
    frame = build_training_set(spark, lakehouse, settings, window, check_labels=False).frame
    return LabelledData(frame, first, last) if len(frame) else None


def current_sample(spark: SparkSession, lakehouse: Lakehouse, settings: Settings, rows: int = 200) -> pd.DataFrame:
    """Model inputs of up to `rows` entities of the latest day with complete labels (the predict check).

    That day is `labels.lag_days` before the latest published one: a sample of the latest day alone
    would be empty when labels arrive two days late.
    """
    from mlops.training.dataset import default_window_end
    from mlops.training.estimator import model_inputs
    from mlops.usecase import usecase_of

    usecase = usecase_of(settings)
    latest = default_window_end(lakehouse, usecase)  # the latest day with complete labels
    data = labelled_after(spark, lakehouse, settings, latest - timedelta(days=1), days=1)
    return model_inputs(data.frame.head(rows), usecase) if data else model_inputs_empty(usecase)


def model_inputs_empty(usecase: UseCase) -> pd.DataFrame:
    """An empty frame with the model's input columns."""
    import pandas as pd

    from mlops.training.estimator import feature_columns

    return pd.DataFrame(columns=feature_columns(usecase))


def score_version(
    client: MlflowClient, model_name: str, version: str, data: LabelledData, usecase: UseCase
) -> ScoredModel:
    """Load a version's pyfunc and compute the task's metrics of its predictions on the data."""
    import mlflow.pyfunc

    from mlops.training.estimator import model_inputs, pyfunc_scores

    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    spec = usecase.model
    scores = pyfunc_scores(spec.task, model.predict(model_inputs(data.frame, usecase)))
    return score(version, spec.task, data.frame[usecase.labels.column], scores, spec.classes)


def compare_with_champion(
    client: MlflowClient, spark: SparkSession, lakehouse: Lakehouse, settings: Settings, model_name: str, version: str
) -> Comparison:
    """Score challenger and champion on the same recent labelled data neither trained on, apply the rule.

    The data: labelled entities after both training windows when there are at least
    `promotion.min_comparison_rows` (a later promotion, or a backfill); else the challenger's held-out
    test days, when they fall after the champion's training window (a retrain deployed straight away,
    as drift_retraining does: nothing later exists yet, and neither model learnt from those days).
    With no champion, the challenger meets the business baseline (`_compare_with_baseline`).

    Raises:
        ComparisonDataError: a champion exists but neither kind of data has enough labelled entities, or the
            challenger's run lacks the metrics the rule needs.
    """
    from mlops.usecase import usecase_of

    rule, usecase = settings.promotion, usecase_of(settings)
    challenger = get_version(client, model_name, version)
    champion_v = alias_version(client, model_name, CHAMPION)
    if not champion_v:
        return _compare_with_baseline(client, spark, lakehouse, settings, usecase, challenger)
    ends = [training_end(_tags(client, challenger), model_name, version)]
    ends.append(training_end(_tags(client, get_version(client, model_name, champion_v)), model_name, champion_v))
    data = labelled_after(spark, lakehouse, settings, max(ends))
    if data is not None and len(data.frame) < rule.min_comparison_rows:
        data = None
    if data is None:
        data = _held_out_days(client, spark, lakehouse, settings, challenger, champion_end=ends[1])
    if data is None:
        raise ComparisonDataError(
            f"Cannot compare {model_name} v{version} with champion v{champion_v}: fewer than "
            f"{rule.min_comparison_rows} labelled entities after {max(ends)} (promotion.min_comparison_rows), "
            f"and v{version}'s held-out test days are not all after v{champion_v}'s training window (to {ends[1]}) "
            "or hold fewer labelled entities than that; run feature_refresh for later days, then re-run "
            "model_promotion"
        )
    scored = score_version(client, model_name, str(version), data, usecase)
    champ = score_version(client, model_name, champion_v, data, usecase)
    return compare_models(model_name, usecase.model.task, scored, champ, rule, data.describe())


def _compare_with_baseline(
    client: MlflowClient, spark: SparkSession, lakehouse: Lakehouse, settings: Settings, usecase: UseCase, mv: Any
) -> Comparison:
    """No champion yet: the business baseline, judged on the challenger's training run (model and baseline
    scored on the same held-out rows). A binary model must also reach `promotion.baseline_roc_auc`, on
    labelled entities after its training window when there are enough, else on those held-out days."""
    name, version, task, rule = mv.name, str(mv.version), usecase.model.task, settings.promotion
    resolved, data = resolve_rule(rule, task), None
    if resolved.baseline_floor is not None:
        data = labelled_after(spark, lakehouse, settings, training_end(_tags(client, mv), name, version))
        if data is not None and len(data.frame) < rule.min_comparison_rows:
            data = None
    held_out = _held_out_scores(client, mv, task, resolved.check_lift) if data is None or resolved.check_lift else None
    if data is None:
        scored = ScoredModel(version, held_out.model)
        return compare_models(name, task, scored, None, rule, "held-out test days of its training run", held_out)
    scored = score_version(client, name, version, data, usecase)
    return compare_models(name, task, scored, None, rule, data.describe(), held_out)


def _held_out_scores(client: MlflowClient, mv: Any, task: TaskType, with_baseline: bool) -> BaselineScores:
    """The run's `test_<metric>` and `baseline_<metric>` of the task's metrics.

    Raises:
        ComparisonDataError: the run lacks the primary or guard test metric, or (`with_baseline`) the
            baseline's primary metric.
    """
    logged = client.get_run(mv.run_id).data.metrics
    names = [m.name for m in task_metrics(task)]
    primary, guard = primary_metric(task).name, guard_metric(task).name
    needed = [f"test_{primary}", f"test_{guard}", *([f"baseline_{primary}"] if with_baseline else [])]
    missing = [k for k in needed if k not in logged]
    if missing:
        raise ComparisonDataError(
            f"Cannot judge {mv.name} v{mv.version} on its held-out days: its run {mv.run_id} lacks metrics "
            f"{missing}; retrain it with this platform version"
        )
    return BaselineScores(
        {m: logged[f"test_{m}"] for m in names if f"test_{m}" in logged},
        {m: logged[f"baseline_{m}"] for m in names if f"baseline_{m}" in logged},
    )


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
