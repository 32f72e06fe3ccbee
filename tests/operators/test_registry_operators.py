"""Registry operators: templated fields, run links, bad input, the HITL approval decision, promote and rollback."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops.config import ENV_LAKEHOUSE_ROOT, load_settings
from mlops.registry import CD_DECISIONS, CHAMPION, PREVIOUS_CHAMPION, Audit, alias_version, promote, set_challenger
from mlops.registry.cd import parse_versions
from mlops.registry.transitions import record_tags
from mlops_airflow.operators.registry import (
    CheckComplianceOperator,
    CompareWithChampionOperator,
    PromoteModelOperator,
    PromotionApprovalOperator,
    RollbackModelOperator,
    run_link,
)

SETTINGS = load_settings("staging")
NAME = SETTINGS.mlflow.model_name
AUDIT = Audit("model_promotion", "manual__setup", "", "test")
_RUNS = itertools.count()


class _Dag:
    dag_id = "model_promotion"


class _TI:
    def __init__(self, xcom=None):
        self.xcom = xcom or {}

    def xcom_pull(self, task_ids=None, **_):
        return self.xcom.get(task_ids)


def _context(**extra) -> dict:
    return {"run_id": f"manual__op{next(_RUNS)}", "dag": _Dag(), "outlet_events": {}, "ti": _TI(), **extra}


@pytest.fixture(scope="module", autouse=True)
def tracking_uri(tmp_path_factory):
    """A registry of this module's own: its champion moves must not leak into other tests' models."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry_ops') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture
def client(tracking_uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    from mlops.lakehouse import Lakehouse

    monkeypatch.setenv(ENV_LAKEHOUSE_ROOT, str(tmp_path / "lakehouse"))
    return Lakehouse(str(tmp_path / "lakehouse" / "flight_delay"))  # each use case has its own folder


def _new_version(client) -> str:
    """A version of the environment's model that needs no files (the transitions read only tags)."""
    if not client.search_registered_models(f"name='{NAME}'"):
        client.create_registered_model(NAME)
    return str(client.create_model_version(NAME, source="file:///nonexistent/model").version)


def _ready(client, version: str) -> None:
    set_challenger(client, NAME, version, AUDIT)
    record_tags(client, NAME, version, {"cd.comparison": "passed"}, "compared")


@pytest.mark.parametrize(
    "operator", [CheckComplianceOperator, CompareWithChampionOperator, PromoteModelOperator, RollbackModelOperator]
)
def test_registry_operators_template_model_name_and_version(operator):
    assert {"model_name", "version"} <= set(operator.template_fields)


def test_run_link_points_at_the_airflow_run():
    assert run_link("model_promotion", "manual__1").endswith("/dags/model_promotion/runs/manual__1")


@pytest.mark.parametrize(("value", "expected"), [("7", ["7"]), ("7, 6", ["6", "7"]), ([3, "3", "10"], ["3", "10"])])
def test_parse_versions_reads_params_and_event_lists(value, expected):
    assert parse_versions(value) == expected


@pytest.mark.parametrize("value", ["", None, "v7", ["1", "latest"]])
def test_parse_versions_refuses_non_numbers(value):
    with pytest.raises(ValueError, match="positive integers"):
        parse_versions(value)


def test_check_compliance_fails_on_an_unknown_version(lake_env):
    operator = CheckComplianceOperator(task_id="check_compliance", version="99999")
    with pytest.raises(AirflowFailException, match="does not exist"):
        operator.execute(_context())


def test_registry_operator_refuses_another_model(lake_env):
    operator = PromoteModelOperator(task_id="promote", version="1", model_name="someone_elses_model")
    with pytest.raises(AirflowFailException, match="deploys 'flight_delay_staging'"):
        operator.execute(_context())


def _event(choice: str, user: str | None = "ana", timedout: bool = False) -> dict:
    who = {"id": user, "name": user} if user else None
    return {
        "chosen_options": [choice],
        "params_input": {},
        "responded_at": datetime.now(UTC),
        "responded_by_user": who,
        "timedout": timedout,
    }


def _approval(version: str) -> PromotionApprovalOperator:
    return PromotionApprovalOperator(task_id="approve", version=version)


def test_hitl_approval_records_who_approved(client, lake_env):
    version = _new_version(client)
    _ready(client, version)
    result = _approval(version).execute_complete(_context(), _event("Approve"))
    tags = client.get_model_version(NAME, version).tags
    assert result["approved"] and result["by"] == "user ana"
    assert (tags["cd.approval"], tags["cd.approved_by"], tags["cd.status"]) == ("approved", "user ana", "challenger")
    rows = lake_env.read_pandas(CD_DECISIONS)
    assert rows[["step", "outcome", "detail"]].values.tolist() == [["approval", "approved", "approved by user ana"]]


def test_hitl_reject_rejects_the_version_and_it_cannot_be_promoted(client, lake_env):
    version = _new_version(client)
    _ready(client, version)
    result = _approval(version).execute_complete(_context(), _event("Reject", "bob"))
    assert not result["approved"] and client.get_model_version(NAME, version).tags["cd.status"] == "rejected"
    with pytest.raises(AirflowFailException, match="rejected"):
        PromoteModelOperator(task_id="promote", version=version).execute(_context())


def test_hitl_timeout_default_rejects(client, lake_env):
    version = _new_version(client)
    _ready(client, version)
    result = _approval(version).execute_complete(_context(), _event("Reject", None, timedout=True))
    assert result["by"] == "user timeout"
    assert client.get_model_version(NAME, version).tags["cd.rejected_by"] == "user timeout"


def test_promote_operator_refuses_a_lost_race_and_records_it(client, lake_env):
    champion = alias_version(client, NAME, CHAMPION) if client.search_registered_models(f"name='{NAME}'") else None
    first, second = _new_version(client), _new_version(client)
    _ready(client, first), _ready(client, second)
    promote(client, NAME, first, champion, AUDIT)  # another run won
    operator = PromoteModelOperator(task_id="promote", version=second, expected_champion=str(champion))
    with pytest.raises(AirflowFailException, match=f"champion is now v{first}"):
        operator.execute(_context())
    assert alias_version(client, NAME, CHAMPION) == first
    assert lake_env.read_pandas(CD_DECISIONS)["outcome"].tolist() == ["refused"]


def test_promote_then_rollback_operators_move_champion_with_audit_rows(client, lake_env):
    first, second = _new_version(client), _new_version(client)
    current = alias_version(client, NAME, CHAMPION)
    _ready(client, first), promote(client, NAME, first, current, AUDIT)
    _ready(client, second)
    done = PromoteModelOperator(task_id="promote", version=second, expected_champion=first).execute(_context())
    back = RollbackModelOperator(task_id="rollback_champion", version="").execute(_context())
    assert (done["outcome"], back["version"], back["previous_champion"]) == ("promoted", first, second)
    assert (alias_version(client, NAME, CHAMPION), alias_version(client, NAME, PREVIOUS_CHAMPION)) == (first, second)
    rows = lake_env.read_pandas(CD_DECISIONS).sort_values("decided_at")
    assert rows["outcome"].tolist() == ["promoted", "rolled_back"]
