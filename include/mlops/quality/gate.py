"""The generic quality gate: validate a DataFrame with a GX suite before the write it protects."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

GateMode = Literal["fail", "quarantine"]
MODES = ("fail", "quarantine")
REASON_COLUMN = "_quarantine_reason"
_SAMPLE = 5  # unexpected values kept per failed expectation
_LONGEST = 80  # characters of an unexpected value shown in a message
# GX result format of a gate's first pass; a batch with any failure is validated again with COMPLETE.
FIRST_PASS_FORMAT = "BASIC"
_NOT_REQUIREMENTS = {"batch_id", "column", "column_list", "result_format", "catch_exceptions"}


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold: what, where, how many rows, what was seen and required."""

    expectation_type: str
    columns: tuple[str, ...]
    kind: Literal["row", "batch"]
    unexpected_count: int | None
    observed: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    row_index: tuple[int, ...] = ()

    def describe(self) -> str:
        """`expect_x on column c: observed ... vs required ...`."""
        where = f" on column {', '.join(self.columns)}" if self.columns else ""
        required = ", ".join(f"{k}={_text(v)}" for k, v in self.kwargs.items() if k not in _NOT_REQUIREMENTS)
        return f"{self.expectation_type}{where}: observed {self.observed} vs required {required or 'all rows'}"


@dataclass(frozen=True)
class GateResult:
    """Outcome of one gate run; the full GX result and Data Docs are at `result_path`/`data_docs_path`."""

    success: bool
    mode: str
    suite_name: str
    asset_name: str
    evaluated: int
    rows: int
    failed: tuple[FailedExpectation, ...]
    bad_row_index: tuple[int, ...]
    result_path: str | None
    data_docs_path: str | None

    @property
    def batch_failures(self) -> tuple[FailedExpectation, ...]:
        """Failures no quarantine can fix (column set, row count, uniqueness, freshness...)."""
        return tuple(f for f in self.failed if f.kind == "batch")

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset-event metadata."""
        return {
            "success": self.success,
            "mode": self.mode,
            "suite": self.suite_name,
            "asset": self.asset_name,
            "evaluated": self.evaluated,
            "rows": self.rows,
            "failed": [f"{f.expectation_type}({', '.join(f.columns)})" for f in self.failed],
            "bad_rows": len(self.bad_row_index),
            "result_path": self.result_path,
            "data_docs_path": self.data_docs_path,
        }

    def message(self) -> str:
        """Human-readable verdict naming the asset, each failed expectation and its column(s)."""
        if not self.failed:
            return f"Quality gate passed for {self.asset_name} (suite {self.suite_name}, {self.evaluated} expectations)"
        verdict = "passed with quarantined rows" if self.success else "failed"
        lines = [
            f"Quality gate {verdict} for {self.asset_name} (suite {self.suite_name}, mode {self.mode}): "
            f"{len(self.failed)} of {self.evaluated} expectations failed on {self.rows} rows"
        ]
        lines += [f"  - [{f.kind}] {f.describe()}" for f in self.failed]
        if self.data_docs_path:
            lines.append(f"  Data Docs: {self.data_docs_path}")
        return "\n".join(lines)


def to_gate_frame(table: pa.Table) -> pd.DataFrame:
    """pandas view of an Arrow table for the gate: integer columns stay integers (nullable Int64)."""
    import pandas as pd
    import pyarrow as pa

    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def run_gate(
    data: pd.DataFrame,
    suite: gx.ExpectationSuite,
    *,
    mode: GateMode = "fail",
    store_dir: Path,
    asset_name: str,
    build_docs: bool = True,
    keep_refused: bool = True,
) -> GateResult:
    """Validate `data` with `suite`; store the result JSON and Data Docs under `store_dir/asset_name`.

    In `fail` mode any failed expectation fails the gate. In `quarantine` mode failures of
    row-level expectations only mark rows (`bad_row_index`); batch-level failures still fail.
    The GX context is ephemeral (created here), with a file-backed results store so the Data Docs
    site of an asset (`<store_dir>/<asset_name>/data_docs/index.html`) lists its run history.
    `build_docs=False` skips the Data Docs build (most of a small gate's time) unless the batch fails:
    a run over many dates builds them once, with its last date. `keep_refused=False` stores nothing for a
    refused batch (a first try whose failure the caller examines another way).
    """
    if mode not in MODES:
        raise ValueError(f"Gate mode must be one of {MODES}, got {mode!r}")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    home = Path(store_dir) / asset_name
    context = _context(home)
    # GX binds the suite to this ephemeral context (it sets ids); gating it again binds it to the next one.
    # No copy first: copying a 60-expectation suite took a fifth of a small gate's time.
    suite = context.suites.add(suite)
    batch = context.data_sources.add_pandas("gate").add_dataframe_asset(asset_name)
    definition = gx.ValidationDefinition(
        name=f"{asset_name}:{suite.name}", data=batch.add_batch_definition_whole_dataframe("whole"), suite=suite
    )
    definition = context.validation_definitions.add(definition)
    run_id = _run_identifier()
    # A batch that passes needs no row indexes: GX's BASIC result (observed values, counts, a sample of
    # unexpected values) took two thirds of COMPLETE's time on a 60-expectation raw suite. Only a batch with a
    # failure is validated again for the COMPLETE result (every unexpected row's index, for quarantine and the
    # message), which replaces the first in the results store: one result per gate run either way.
    result = definition.run(
        batch_parameters={"dataframe": data}, result_format={"result_format": FIRST_PASS_FORMAT}, run_id=run_id
    )
    if not result.success:
        _forget(context, run_id)
        if not keep_refused:
            return _refused_unstored(suite.name, asset_name, mode, result, len(data))
        run_id = _run_identifier()
        result = definition.run(
            batch_parameters={"dataframe": data}, result_format={"result_format": "COMPLETE"}, run_id=run_id
        )
    failed = tuple(_failure(r) for r in result.results if not r.success)
    success = not failed if mode == "fail" else not any(f.kind == "batch" for f in failed)
    result_path, docs_path = _locate_outputs(context, run_id, build_docs or not success)
    gate = GateResult(
        success=success,
        mode=mode,
        suite_name=suite.name,
        asset_name=asset_name,
        evaluated=len(result.results),
        rows=len(data),
        failed=failed,
        bad_row_index=tuple(sorted({i for f in failed if f.kind == "row" for i in f.row_index})),
        result_path=result_path,
        data_docs_path=docs_path,
    )
    log.info("%s", gate.message())
    return gate


def split_quarantine(df: pd.DataFrame, result: GateResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows that passed, and rows that broke row-level expectations with a `_quarantine_reason` column."""
    reasons: dict[int, list[str]] = {}
    for failure in result.failed:
        if failure.kind == "row":
            for index in failure.row_index:
                reasons.setdefault(index, []).append(f"{failure.expectation_type}({', '.join(failure.columns)})")
    bad_mask = df.index.isin(list(reasons))
    bad = df[bad_mask].copy()
    bad[REASON_COLUMN] = ["; ".join(reasons[i]) for i in bad.index]
    return df[~bad_mask].copy(), bad


def _context(home: Path) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    results_store = defaults.stores[defaults.validation_results_store_name]
    results_store["store_backend"] = {
        "class_name": "TupleFilesystemStoreBackend",
        "base_directory": str(home / "results"),
    }
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(home / "data_docs")},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        data_docs_sites={"local_site": site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _run_identifier() -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    now = datetime.now(UTC)
    return RunIdentifier(run_name=f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", run_time=now)


def _refused_unstored(suite_name: str, asset_name: str, mode: str, result: Any, rows: int) -> GateResult:
    failed = tuple(_failure(r) for r in result.results if not r.success)
    gate = GateResult(False, mode, suite_name, asset_name, len(result.results), rows, failed, (), None, None)
    log.info("%s (not stored)", gate.message())
    return gate


def _forget(context: Any, run_id: Any) -> None:
    """Remove the stored result of run `run_id` (a first pass that is validated again in full)."""
    store = context.validation_results_store
    for key in [k for k in store.list_keys() if k.run_id.run_name == run_id.run_name]:
        store.remove_key(key)


def _locate_outputs(context: Any, run_id: Any, build_docs: bool) -> tuple[str | None, str | None]:
    """Path of this run's result JSON and (after an incremental build) of its Data Docs page."""
    store = context.validation_results_store
    keys = [k for k in store.list_keys() if k.run_id.run_name == run_id.run_name]
    if not keys:
        return None, None
    result_path = _file_path(store.store_backend.get_url_for_key(keys[0].to_tuple()))
    if not build_docs:
        return result_path, None
    context.build_data_docs(resource_identifiers=keys)
    urls = context.get_docs_sites_urls(resource_identifier=keys[0], only_if_exists=False)
    page = urls[0].get("site_url") if urls else None
    return result_path, _file_path(page) if page else None


def _file_path(url: str) -> str:
    return url.removeprefix("file://")


def _failure(result: Any) -> FailedExpectation:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    columns = tuple(kwargs.get("column_list") or ([kwargs["column"]] if "column" in kwargs else []))
    outcome = result.result or {}
    level = (config.meta or {}).get("level")
    if level not in ("row", "batch"):
        unique = "unique" in config.type
        level = "row" if "unexpected_index_list" in outcome and not unique else "batch"
    return FailedExpectation(
        expectation_type=config.type,
        columns=columns,
        kind=level,
        unexpected_count=outcome.get("unexpected_count"),
        observed=_observed(result, outcome),
        kwargs={k: v for k, v in kwargs.items() if k != "batch_id"},
        row_index=tuple(_row_indices(outcome.get("unexpected_index_list") or [])),
    )


def _observed(result: Any, outcome: Mapping[str, Any]) -> str:
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"error {result.exception_info.get('exception_message')}"
    if "observed_value" in outcome:
        return repr(_plain(outcome["observed_value"]))
    sample = [_plain(v) for v in (outcome.get("partial_unexpected_list") or [])[:_SAMPLE]]
    return f"{outcome.get('unexpected_count')} of {outcome.get('element_count')} rows unexpected, e.g. {sample!r}"


def _row_indices(items: list[Any]) -> list[int]:
    """Row labels from `unexpected_index_list` (ints, or dicts for multi-column expectations)."""
    out = []
    for item in items:
        value = item.get("index") if isinstance(item, Mapping) else item
        if value is not None:
            out.append(int(value))
    return out


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else repr(value)


def _plain(value: Any) -> Any:
    """Numpy/pandas scalars as plain Python values, so messages read `5000` not `np.int64(5000)`; a long string is
    cut to its first characters and its length (a 1 MB value must not become a 1 MB message)."""
    if isinstance(value, str) and len(value) > _LONGEST:
        return f"{value[: _LONGEST - 20]}... ({len(value)} characters)"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value
