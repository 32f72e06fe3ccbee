"""Every DAG imports cleanly and follows the house conventions; DAG files stay light to parse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
PIPELINE_FILES = [p for p in DAG_FILES if p.stem != "usecase_check"]  # usecase_check defines no DAG
USECASE = "flight_delay"  # the first use case the staging config enables (the checks of its DAGs' wiring)
USECASES = ("flight_delay", "bike_demand")  # every use case the staging config enables
HEAVY_MODULES = {"pyspark", "mlflow", "sklearn", "great_expectations", "pandas", "deltalake", "pyarrow"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_staging_enables_both_built_in_use_cases():
    from mlops.config import enabled_usecases

    assert enabled_usecases("staging") == USECASES


def test_dagbag_has_one_dag_per_pipeline_file_and_use_case(dagbag):
    assert sorted(dagbag.dags) == sorted(f"{u}.{p.stem}" for u in USECASES for p in PIPELINE_FILES)


@pytest.mark.parametrize("usecase", USECASES)
@pytest.mark.parametrize("dag_file", PIPELINE_FILES, ids=lambda p: p.stem)
def test_dag_has_owner_tags_docs_and_retries(dagbag, dag_file, usecase):
    from mlops.config import load_settings

    dag = dagbag.dags[f"{usecase}.{dag_file.stem}"]
    assert dag.tags and usecase in dag.tags, f"{dag.dag_id} has no tags naming its use case"
    assert f"## Use case `{usecase}`" in dag.doc_md, f"{dag.dag_id} doc_md lacks its use case section"
    assert dag.doc_md and len(dag.doc_md) > 200, f"{dag.dag_id} needs doc_md explaining how to run and fix it"
    # Airflow creates no task for a logical date before start_date: a run of the use case's data would be empty.
    replay_start = load_settings("staging", usecase=usecase).data.replay_start
    assert dag.start_date.date() <= replay_start, f"{dag.dag_id} starts after its data ({replay_start})"
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", f"{dag.dag_id}.{task.task_id} has no owner"
        assert task.retries is not None
        assert getattr(task, "usecase", usecase) == usecase, f"{dag.dag_id}.{task.task_id} works for another use case"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_file_has_no_heavy_import_at_module_level(dag_file):
    tree = ast.parse(dag_file.read_text())
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    imported = set()
    for node in top_level:
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        imported.update(name.split(".")[0] for name in names)
    assert not imported & HEAVY_MODULES, f"{dag_file.name} imports {imported & HEAVY_MODULES} at module level"


def test_feature_refresh_waits_validates_and_publishes_each_feature_table(dagbag):
    from usecases.flight_delay.features import FEATURE_TABLES

    dag = dagbag.dags[f"{USECASE}.feature_refresh"]
    for spec in FEATURE_TABLES:
        publish = dag.get_task(f"{spec.short_name}.publish")
        assert f"{spec.short_name}.validate" in publish.upstream_task_ids
        assert [a.name for a in publish.outlets] == [f"{USECASE}.{spec.name}"]
    assert {"ingest_flights", "ingest_weather", "ingest_planes"} <= set(dag.task_ids)


def test_batch_inference_validates_before_and_after_scoring_and_follows_the_champion(dagbag):
    dag = dagbag.dags[f"{USECASE}.batch_inference"]
    order = ["resolve_model", "build_scoring_set", "validate_scoring_set", "score", "validate_predictions", "publish"]
    for upstream, downstream in zip(order, order[1:], strict=False):
        # each step follows the one before; the XComArgs it takes (the pinned model, the scoring summary) add
        # only earlier steps
        upstream_ids = dag.get_task(downstream).upstream_task_ids
        assert upstream in upstream_ids and upstream_ids <= set(order[: order.index(downstream)]), downstream
    outlets = sorted(a.name for a in dag.get_task("publish").outlets)
    assert outlets == [f"{USECASE}.gold.predictions", f"{USECASE}.monitoring.inference_log"]
    # inference.on_champion_change is true in staging: a champion move also starts a run.
    condition = dag.timetable.asset_condition
    assert getattr(condition, "name", None) == "mlflow.models.flight_delay_staging.champion"
    assert dag.params["model_version"] == "champion" and dag.max_active_runs == 1
    # The version is pinned once: every later task takes it from resolve_model's XCom (an XComArg), never
    # from the alias, so a promotion during the run cannot mix two versions in one date's predictions.
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    assert dag.get_task("resolve_model").multiple_outputs
    for task_id in order[1:]:
        task = dag.get_task(task_id)
        version, day = getattr(task, "model_version", None), task.day
        assert isinstance(day, PlainXComArg) and (day.operator.task_id, day.key) == ("resolve_model", "date")
        if task_id != "validate_scoring_set":
            assert isinstance(version, PlainXComArg), task_id
            assert (version.operator.task_id, version.key) == ("resolve_model", "version"), task_id


def test_model_promotion_hands_the_challenger_and_the_compared_champion_on_as_xcomargs(dagbag):
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    dag = dagbag.dags[f"{USECASE}.model_promotion"]
    promote = dag.get_task("promote")
    pulls = {name: getattr(promote, name) for name in ("version", "expected_champion", "approved_by")}
    assert all(isinstance(arg, PlainXComArg) for arg in pulls.values())
    assert {name: (arg.operator.task_id, arg.key) for name, arg in pulls.items()} == {
        "version": ("check_compliance", "challenger"),
        "expected_champion": ("compare_with_champion", "champion_version"),
        "approved_by": ("approve", "by"),
    }
    assert promote.upstream_task_ids == {"check_compliance", "compare_with_champion", "approve"}


@pytest.mark.parametrize("usecase", USECASES)
def test_registry_writing_tasks_run_in_the_models_one_slot_pool(dagbag, usecase):
    from mlops.config import load_settings
    from mlops_airflow.pools import registry_pool

    pool = registry_pool(load_settings("staging", usecase=usecase).mlflow.model_name)
    writers = {
        f"{dag_id}.{task.task_id}": task.pool
        for dag_id, dag in dagbag.dags.items()
        for task in dag.tasks
        if type(task).__module__ == "mlops_airflow.operators.registry" and dag_id.startswith(f"{usecase}.")
    }
    assert set(writers) == {
        f"{usecase}.model_promotion.{t}" for t in ("check_compliance", "compare_with_champion", "approve", "promote")
    } | {f"{usecase}.model_rollback.rollback_champion"}
    assert set(writers.values()) == {pool}, writers


@pytest.mark.parametrize("usecase", USECASES)
def test_setup_creates_the_registry_pool_with_one_slot(airflow_db, usecase):
    from airflow.models.pool import Pool

    from mlops.config import load_settings
    from mlops_airflow.pools import registry_pool

    created = Pool.get_pool(registry_pool(load_settings("staging", usecase=usecase).mlflow.model_name))
    assert created is not None and (created.slots, created.include_deferred) == (1, False)
