"""What a model's output becomes in the prediction tables, per task type.

| task       | columns of staging/gold.predictions                                    | monitored score |
|------------|------------------------------------------------------------------------|-----------------|
| binary     | `probability` P(positive class), `decision` (>= `threshold`), `threshold` | `probability`   |
| multiclass | `prediction` (the likeliest class), `probability` (its probability),   | `probability`   |
|            | `probabilities` (one per class of `ModelSpec.classes`, in that order)   |                 |
| regression | `prediction` (the predicted value)                                      | `prediction`    |

The lineage columns (model name, version, run id, engine, scored at, Airflow run id) follow in every case.
`monitoring.inference_log` keeps the score columns without the binary decision and threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import Column

    from mlops.task_metrics import TaskType

PROBABILITY, PREDICTION, PROBABILITIES = "probability", "prediction", "probabilities"
LINEAGE_FIELDS = (
    pa.field("model_name", pa.string()),
    pa.field("model_version", pa.string()),
    pa.field("model_run_id", pa.string()),
    pa.field("engine", pa.string()),
    pa.field("scored_at", pa.timestamp("us", tz="UTC")),
    pa.field("airflow_run_id", pa.string()),
)


@dataclass(frozen=True)
class PredictionOutput:
    """The prediction columns of one use case's model: its task type and, for multiclass, its classes."""

    task: TaskType
    classes: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.task == "multiclass" and not self.classes:
            raise ValueError("A multiclass model's predictions need its classes (ModelSpec.classes)")

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        """The score columns, in table order."""
        if self.task == "binary":
            return (
                pa.field(PROBABILITY, pa.float64()),
                pa.field("decision", pa.bool_()),
                pa.field("threshold", pa.float64()),
            )
        if self.task == "regression":
            return (pa.field(PREDICTION, pa.float64()),)
        return (
            pa.field(PREDICTION, self.class_type),
            pa.field(PROBABILITY, pa.float64()),
            pa.field(PROBABILITIES, pa.list_(pa.float64())),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the score columns."""
        return tuple(f.name for f in self.fields)

    @property
    def logged(self) -> tuple[str, ...]:
        """Score columns kept in monitoring.inference_log (the binary decision and threshold are not)."""
        return {"binary": (PROBABILITY,), "multiclass": (PREDICTION, PROBABILITY), "regression": (PREDICTION,)}[
            self.task
        ]

    @property
    def score_column(self) -> str:
        """The one number per row whose distribution monitoring profiles (the reference's `prediction`)."""
        return PREDICTION if self.task == "regression" else PROBABILITY

    @property
    def class_type(self) -> pa.DataType:
        """Arrow type of a predicted class: int64 when every class is an integer, else string."""
        integers = all(isinstance(c, int) and not isinstance(c, bool) for c in self.classes or ())
        return pa.int64() if integers else pa.string()

    def arrays(self, scores: Any, threshold: float) -> list[pa.Array]:
        """The score columns of a batch from the model's scores (`mlops.training.estimator.pyfunc_scores`)."""
        import numpy as np
        import pyarrow.compute as pc

        if self.task == "binary":
            proba = pa.array(scores, pa.float64())
            decision = pc.greater_equal(proba, pa.scalar(threshold))
            return [proba, decision, pa.array([threshold] * len(proba), pa.float64())]
        if self.task == "regression":
            return [pa.array(scores, pa.float64())]
        matrix = np.asarray(scores, dtype="float64")
        best = matrix.argmax(axis=1)
        labels = [self.classes[i] for i in best.tolist()]
        if self.class_type == pa.string():
            labels = [str(c) for c in labels]
        return [
            pa.array(labels, self.class_type),
            pa.array(matrix[np.arange(len(best)), best], pa.float64()),
            pa.array(matrix.tolist(), pa.list_(pa.float64())),
        ]

    def spark_result_type(self) -> str:
        """The `spark_udf` result type of the model's pyfunc output."""
        return "double" if self.task == "regression" else "array<double>"

    def spark_columns(self, output: Column, threshold: float) -> list[Column]:
        """The score columns as Spark expressions over the pyfunc UDF's output column."""
        from pyspark.sql import functions as F

        if self.task == "binary":
            probability = output.getItem(1)
            return [
                probability.alias(PROBABILITY),
                (probability >= F.lit(threshold)).alias("decision"),
                F.lit(threshold).cast("double").alias("threshold"),
            ]
        if self.task == "regression":
            return [output.cast("double").alias(PREDICTION)]
        top = F.array_max(output)
        kind = "long" if self.class_type == pa.int64() else "string"
        classes = F.array(*[F.lit(c if kind == "long" else str(c)).cast(kind) for c in self.classes or ()])
        return [
            F.element_at(classes, F.array_position(output, top).cast("int")).alias(PREDICTION),
            top.alias(PROBABILITY),
            output.alias(PROBABILITIES),
        ]
