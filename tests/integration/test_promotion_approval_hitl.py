"""PromotionApprovalOperator through a real dag.test run (prod config): parks, resumes on approve and on reject."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "hitl_promotion_probe"
WAIT_SECONDS = 120
MODEL = "flight_delay"  # prod.yaml's mlflow.model_name

PROBE_DAG = '''
"""Approval then promotion of the `version` param, the two tasks of model_promotion under test."""

from datetime import datetime, timedelta

from airflow.sdk import dag

from mlops_airflow.operators.registry import PromoteModelOperator, PromotionApprovalOperator


@dag(schedule=None, start_date=datetime(2013, 1, 1), catchup=False, params={"version": "0"})
def hitl_promotion_probe():
    approved = PromotionApprovalOperator(
        task_id="approve", version="{{ params.version }}", response_timeout=timedelta(hours=1), retries=0
    )
    promoted = PromoteModelOperator(
        task_id="promote", version="{{ params.version }}", approved_by="{{ ti.xcom_pull(task_ids='approve')['by'] }}"
    )
    approved >> promoted


hitl_promotion_probe()
'''

RUNNER = """
import json, sys
from datetime import UTC, datetime
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
runs = {}
for day, version in enumerate(sys.argv[3:], start=1):
    dr = dag.test(logical_date=datetime(2013, 1, day, tzinfo=UTC), run_conf={"version": version})
    runs[version] = {"run_id": dr.run_id, "state": str(dr.state)}
print("RESULT " + json.dumps(runs))
"""


def _register_versions(tracking_uri: str, source: Path, count: int) -> list[str]:
    """Versions that already passed compliance and comparison (what precedes `approve` in model_promotion)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model(MODEL)
    versions = []
    for _ in range(count):
        mv = client.create_model_version(MODEL, source=source.as_uri())
        for key in ("cd.compliance", "cd.comparison"):
            client.set_model_version_tag(MODEL, mv.version, key, "passed")
        versions.append(str(mv.version))
    return versions


def _awaiting_ti(proc: subprocess.Popen, version: str) -> tuple[str, dict]:
    """Poll the metadata DB for the approve task of `version` parked in AWAITING_INPUT with its HITL row."""
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        with create_session() as session:
            row = (
                session.query(TaskInstance.run_id, HITLDetail.options, HITLDetail.subject)
                .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
                .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                .filter(TaskInstance.dag_id == DAG_ID, TaskInstance.task_id == "approve")
                .filter(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
                .filter(DagRun.conf["version"].as_string() == version)
                .one_or_none()
            )
        if row is not None:
            return row.run_id, {"options": list(row.options), "subject": row.subject}
        time.sleep(0.5)
    ended = "dag.test exited" if proc.poll() is not None else f"waited {WAIT_SECONDS}s"
    raise TimeoutError(f"approve of {DAG_ID} v{version} never in awaiting_input: {ended}")


def _respond(run_id: str, option: str, username: str) -> None:
    """Record the response exactly as PATCH .../taskInstances/approve/-1/hitlDetails does."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(
            dag_id=DAG_ID,
            dag_run_id=run_id,
            task_id="approve",
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
            user=SimpleAuthManagerUser(username=username, role="admin"),
            session=session,
            map_index=-1,
        )


def _task_states(run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter_by(dag_id=DAG_ID, run_id=run_id)
        return {task_id: str(state) for task_id, state in rows}


@pytest.fixture(scope="module")
def decided(airflow_db, tmp_path_factory):
    """Two dag.test runs in a subprocess: v1 approved by alice, v2 rejected by bob, answered from here."""
    from mlflow import MlflowClient

    home = tmp_path_factory.mktemp("hitl")
    (home / "dags").mkdir()
    (home / "dags" / f"{DAG_ID}.py").write_text(PROBE_DAG)
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    approve_v, reject_v = _register_versions(tracking_uri, home / "artifacts", 2)
    env = {
        **os.environ,
        "MLOPS_ENV": "prod",
        "MLOPS_LAKEHOUSE_ROOT": str(home / "lakehouse"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }
    cmd = [sys.executable, "-c", RUNNER, str(home / "dags"), DAG_ID, approve_v, reject_v]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first_run, first_hitl = _awaiting_ti(proc, approve_v)
        _respond(first_run, "Approve", "alice")
        second_run, second_hitl = _awaiting_ti(proc, reject_v)
        _respond(second_run, "Reject", "bob")
        output, _ = proc.communicate(timeout=WAIT_SECONDS)
    except (TimeoutError, subprocess.TimeoutExpired) as exc:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"{exc}\n--- dag.test output ---\n{output[-6000:]}")
    result = [line for line in output.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not result:
        pytest.fail(f"dag.test subprocess exited {proc.returncode}\n{output[-6000:]}")
    runs = json.loads(result[-1].removeprefix("RESULT "))
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return SimpleNamespace(
        approved=SimpleNamespace(version=approve_v, hitl=first_hitl, states=_task_states(first_run), **runs[approve_v]),
        rejected=SimpleNamespace(version=reject_v, hitl=second_hitl, states=_task_states(second_run), **runs[reject_v]),
        tags={v: client.get_model_version(MODEL, v).tags for v in (approve_v, reject_v)},
        aliases={k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()},
    )


def test_promotion_approval_parks_with_approve_and_reject_options(decided):
    assert decided.approved.hitl["options"] == ["Approve", "Reject"]
    assert decided.approved.hitl["subject"] == f"Promote {MODEL} v{decided.approved.version} to champion?"


def test_promotion_approval_approve_runs_promote(decided):
    assert decided.approved.state == "success"
    assert decided.approved.states == {"approve": "success", "promote": "success"}
    assert decided.aliases == {"champion": decided.approved.version}
    tags = decided.tags[decided.approved.version]
    assert tags["cd.approval"] == "approved" and tags["cd.approved_by"] == "user alice"
    assert tags["cd.status"] == "champion"


def test_promotion_approval_reject_skips_promote_and_rejects_version(decided):
    assert decided.rejected.state == "success"
    assert decided.rejected.states == {"approve": "success", "promote": "skipped"}
    tags = decided.tags[decided.rejected.version]
    assert tags["cd.approval"] == "rejected" and tags["cd.rejected_by"] == "user bob"
    assert tags["cd.status"] == "rejected" and tags["cd.rejected_at"] == "approval"
