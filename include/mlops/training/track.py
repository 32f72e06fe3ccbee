"""MLflow logging of a training run (params, metrics, artifacts, datasets, model), registration, run audit table."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.config import PROJECT_ROOT
from mlops.lakehouse import WriterId
from mlops.task_metrics import guard_metric, metric_label, primary_metric
from mlops.training.dataset import TrainingSet
from mlops.training.estimator import model_inputs
from mlops.usecase.contract import ENTITY_DATE

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo
    from sklearn.pipeline import Pipeline

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse, WriteResult
    from mlops.training.estimator import TuningResult
    from mlops.training.evaluate import Evaluation
    from mlops.usecase import UseCase

log = logging.getLogger(__name__)

TRAINING_RUNS = "monitoring.training_runs"
MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class RunIdentity:
    """Who asked for the training run and why (Airflow DAG and run, or a plain call)."""

    reason: str = "manual"
    dag_id: str | None = None
    run_id: str | None = None


def code_version() -> str:
    """The git commit of the project checkout, or "unknown" outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def run_tags(settings: Settings, training: TrainingSet, who: RunIdentity, code: str) -> dict[str, str]:
    """Tags of the MLflow run: code version, environment, Airflow identity, data window."""
    window = training.window
    return {
        "mlops.code_version": code,
        "mlops.env": settings.env,
        "mlops.reason": who.reason,
        "mlops.data_window": f"{window.first}..{window.end}",
        "mlops.cutoff": window.cutoff.isoformat(),
        "airflow.dag_id": who.dag_id or "",
        "airflow.run_id": who.run_id or "",
        "mlflow.note.content": (
            f"{training.usecase.name} model for {settings.env}, trained on {window.describe()} ({who.reason}). "
            f"{training.usecase.description}"
        ),
    }


def log_datasets(training: TrainingSet) -> None:
    """Train/validation/test rows and every source Delta table at its version, as MLflow dataset inputs."""
    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    schedule = next(s for s in training.sources if s.table == training.usecase.entity.table)
    entity_source = DeltaDatasetSource(path=schedule.uri, delta_table_version=schedule.version)
    datasets, contexts, tags = [], [], []
    for split in ("train", "validation", "test"):
        rows = training.part(split).drop(columns=[ENTITY_DATE, "split"])
        datasets.append(mlflow.data.from_pandas(rows, source=entity_source, targets=training.label, name=split))
        contexts.append("training" if split == "train" else split)
        tags.append({"window": training.window.describe()})
    for source in training.sources:
        delta = DeltaDatasetSource(path=source.uri, delta_table_version=source.version)
        datasets.append(MetaDataset(delta, name=source.table))
        contexts.append("source")
        tags.append({"table": source.table, "version": str(source.version)})
    mlflow.log_inputs(datasets=datasets, contexts=contexts, tags_list=tags)


def log_evaluation_artifacts(
    evaluation: Evaluation, tuning: TuningResult, plots: list[Path], importance: pd.DataFrame
) -> None:
    """The task's plots (curves and calibration, or predicted vs actual), importance, evaluation and tuning tables."""
    import mlflow
    import pandas as pd

    from mlops.training.estimator import VALIDATION_LOSS

    for path in plots:
        mlflow.log_artifact(str(path), artifact_path="plots")
    mlflow.log_table(evaluation.table(), artifact_file="evaluation/metrics.json")
    mlflow.log_table(importance, artifact_file="evaluation/feature_importance.json")
    loss = f"validation_{VALIDATION_LOSS[evaluation.task]}"
    trials = pd.DataFrame([{**t.params, "n_iter": t.n_iter, loss: t.validation_loss} for t in tuning.trials])
    mlflow.log_table(trials, artifact_file="tuning/trials.json")


def log_model(model: Pipeline, sample: pd.DataFrame, usecase: UseCase) -> ModelInfo:
    """The pipeline as an MLflow model, skops-serialised: its pyfunc returns class probabilities (classifiers,
    `predict_proba`) or predicted values (regression, `predict`); loading trusts only the model spec's types."""
    import mlflow
    import mlflow.sklearn
    import sklearn
    import skops
    from mlflow.models import infer_signature

    predict_fn = "predict" if usecase.model.task == "regression" else "predict_proba"
    example = model_inputs(sample.head(5), usecase)
    signature = infer_signature(example, getattr(model, predict_fn)(example))
    requirements = [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"skops=={skops.__version__}",
    ]
    return mlflow.sklearn.log_model(
        model,
        name=MODEL_ARTIFACT,
        signature=signature,
        input_example=example,
        pyfunc_predict_fn=predict_fn,
        serialization_format="skops",
        skops_trusted_types=list(usecase.model.skops_trusted_types),  # named by the model spec: loading stays safe
        pip_requirements=requirements,
    )


def register_version(
    settings: Settings, model_uri: str, run_id: str, training: TrainingSet, evaluation: Evaluation, tags: dict[str, str]
) -> ModelVersion:
    """A new version of the environment's model, with a description and lineage tags; no alias."""
    import mlflow
    from mlflow import MlflowClient

    name = settings.mlflow.model_name
    primary = primary_metric(evaluation.task).name
    version_tags = {
        **{k: v for k, v in tags.items() if k.startswith(("mlops.", "airflow."))},
        "mlops.run_id": run_id,
        "mlops.data_versions": json.dumps({s.table: s.version for s in training.sources}),
        f"mlops.test_{primary}": f"{evaluation.model[primary]:.4f}",
        f"mlops.baseline_{primary}": f"{evaluation.baseline[primary]:.4f}",
    }
    version = mlflow.register_model(model_uri, name, tags=version_tags)
    description = (
        f"Trained on {training.usecase.entity.noun}s {training.window.describe()} "
        f"({tags.get('mlops.reason', 'manual')}, run {run_id}). {describe_evaluation(evaluation)} "
        "No alias: model_promotion decides."
    )
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    return client.update_model_version(name, version.version, description=description)


def describe_evaluation(evaluation: Evaluation) -> str:
    """One sentence: held-out primary metric vs the baseline's (with the lift) and the guard metric, e.g.
    `Held-out ROC AUC 0.7012 vs baseline 0.6500 (lift +0.0512), log loss 0.5000.`"""
    task = evaluation.task
    primary, guard = primary_metric(task).name, guard_metric(task).name
    return (
        f"Held-out {metric_label(task, primary)} {evaluation.model[primary]:.4f} vs baseline "
        f"{evaluation.baseline[primary]:.4f} (lift {evaluation.lift(primary):+.4f}), "
        f"{metric_label(task, guard)} {evaluation.model[guard]:.4f}."
    )


def append_training_run(lakehouse: Lakehouse, row: dict[str, Any]) -> WriteResult:
    """Append one run's summary to monitoring.training_runs (once per MLflow run id, even on retry).

    The table takes its columns from the first row, so a use case's runs carry its task's metrics
    (`test_roc_auc`, ... for binary, `test_rmse`, ... for regression); each use case has its own table.
    """
    import pyarrow as pa

    record = {**row, "recorded_at": datetime.now(UTC)}
    table = pa.Table.from_pylist([record])
    # A plain call has no Airflow identity: keep those columns typed (string), not null-typed.
    table = table.cast(pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]))
    return lakehouse.append(TRAINING_RUNS, table, writer=WriterId(f"training_runs/{row['run_id']}"))


def temporary_folder() -> tempfile.TemporaryDirectory[str]:
    """Scratch space for artifacts before they are logged."""
    return tempfile.TemporaryDirectory(prefix="mlops-training-")
