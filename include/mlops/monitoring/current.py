"""Current data in the reference's bins: streamed from monitoring.inference_log, one Arrow batch at a time."""

from __future__ import annotations

from datetime import date

from mlops.monitoring.profile import PREDICTION, BinCounter, FeatureProfile, ReferenceProfile
from mlops.usecase.contract import ENTITY_DATE

INFERENCE_LOG = "monitoring.inference_log"


def current_profiles(
    lakehouse,
    reference: ReferenceProfile,
    first: date,
    last: date,
    model_version: str,
    score_column: str,
    batch_rows: int = 131_072,
) -> tuple[dict[str, FeatureProfile], int]:
    """Counts of what `model_version` scored for entity dates [first, last], in the reference's bins; and rows read.

    The reference's `prediction` profile is compared with the inference log's `score_column` (the task's
    monitored score: `probability` or `prediction`). Only counts are kept, whatever the number of rows:
    memory is one batch plus the bins.
    """
    column_of = {PREDICTION: score_column}  # profile name -> inference_log column
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not lakehouse.exists(INFERENCE_LOG):
        return {}, 0
    available = lakehouse.schema(INFERENCE_LOG).names
    counters = {f.name: BinCounter(f) for f in reference.features if column_of.get(f.name, f.name) in available}
    where = (
        (ds.field(ENTITY_DATE) >= pa.scalar(first, pa.date32()))
        & (ds.field(ENTITY_DATE) <= pa.scalar(last, pa.date32()))
        & (ds.field("model_version") == str(model_version))
    )
    columns = sorted({column_of.get(name, name) for name in counters})
    rows = 0
    _, batches = lakehouse.scan(INFERENCE_LOG, columns=columns, filter=where, batch_rows=batch_rows)
    for batch in batches:
        rows += batch.num_rows
        for name, counter in counters.items():
            counter.add(batch.column(column_of.get(name, name)))
    return {name: counter.profile() for name, counter in counters.items()}, rows
