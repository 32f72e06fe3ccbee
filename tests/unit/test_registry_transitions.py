"""Registry transitions against a real local MLflow registry: invariants, races, idempotence, bad input."""

from __future__ import annotations

import itertools

import pytest

from mlops.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    Audit,
    PromotionRaceError,
    RegistryInputError,
    alias_version,
    promote,
    reconcile_status,
    reject,
    rollback,
    set_challenger,
)
from mlops.registry.transitions import record_tags

AUDIT = Audit("model_promotion", "manual__1", "http://localhost:8080/dags/model_promotion/runs/manual__1", "auto")
_NAMES = itertools.count()


@pytest.fixture
def client():
    import os

    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])


def _model(client, versions: int = 3) -> str:
    """A registered model with `versions` versions that need no files (the transitions read only tags)."""
    name = f"transitions_{next(_NAMES)}"
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, source="file:///nonexistent/model")
    return name


def _ready(client, name: str, version: str) -> None:
    set_challenger(client, name, version, AUDIT)
    record_tags(client, name, version, {"cd.comparison": "passed"}, "compared")


def test_set_challenger_sets_alias_tag_and_run_link_in_description(client):
    name = _model(client, 1)
    set_challenger(client, name, "1", AUDIT)
    mv = client.get_model_version(name, "1")
    assert alias_version(client, name, CHALLENGER) == "1" and mv.tags["cd.compliance"] == "passed"
    assert "Compliance passed" in mv.description and AUDIT.run_link in mv.description


def test_first_promotion_makes_champion_without_previous(client):
    name = _model(client, 1)
    _ready(client, name, "1")
    done = promote(client, name, "1", None, AUDIT)
    assert (done.outcome, alias_version(client, name, CHAMPION), alias_version(client, name, CHALLENGER)) == (
        "promoted",
        "1",
        None,
    )


def test_promotion_keeps_previous_champion_alias(client):
    name = _model(client, 2)
    for version, expected in (("1", None), ("2", "1")):
        _ready(client, name, version)
        promote(client, name, version, expected, AUDIT)
    assert (alias_version(client, name, CHAMPION), alias_version(client, name, PREVIOUS_CHAMPION)) == ("2", "1")


def test_rejected_version_is_never_promoted_nor_challenger(client):
    name = _model(client, 1)
    _ready(client, name, "1")
    reject(client, name, "1", "comparison", ["ROC AUC 0.5 < 0.6"], AUDIT)
    with pytest.raises(RegistryInputError, match="rejected"):
        promote(client, name, "1", None, AUDIT)
    with pytest.raises(RegistryInputError, match="rejected"):
        set_challenger(client, name, "1", AUDIT)
    assert alias_version(client, name, CHAMPION) is None and alias_version(client, name, CHALLENGER) is None


def test_promote_refuses_a_version_that_skipped_the_checks(client):
    name = _model(client, 1)
    with pytest.raises(RegistryInputError, match="cd.compliance"):
        promote(client, name, "1", None, AUDIT)
    assert alias_version(client, name, CHAMPION) is None


def test_promote_again_by_another_run_is_a_no_op(client):
    name = _model(client, 2)
    _ready(client, name, "1"), promote(client, name, "1", None, AUDIT)
    _ready(client, name, "2"), promote(client, name, "2", "1", AUDIT)
    again = promote(client, name, "2", "1", Audit("model_promotion", "manual__2"))  # a later run, same version
    assert again.outcome == "already_champion"
    assert (alias_version(client, name, CHAMPION), alias_version(client, name, PREVIOUS_CHAMPION)) == ("2", "1")


def test_promote_retried_by_the_same_run_reports_promoted_once_in_the_description(client):
    name = _model(client, 1)
    _ready(client, name, "1")
    first, retry = promote(client, name, "1", None, AUDIT), promote(client, name, "1", None, AUDIT)
    assert (first.outcome, retry.outcome) == ("promoted", "promoted")
    assert client.get_model_version(name, "1").description.count("Promoted to champion") == 1


def test_statuses_follow_the_aliases_after_each_move(client):
    name = _model(client, 4)
    for version, expected in (("1", None), ("2", "1"), ("3", "2")):
        _ready(client, name, version)
        promote(client, name, version, expected, AUDIT)
    _ready(client, name, "4")
    set_challenger(client, name, "1", AUDIT)  # v4 loses challenger
    statuses = [client.get_model_version(name, v).tags["cd.status"] for v in "1234"]
    assert statuses == ["challenger", "previous_champion", "champion", "superseded"]
    assert reconcile_status(client, name) == {}


def test_reconcile_status_fixes_tags_that_disagree_with_the_aliases(client):
    name = _model(client, 2)
    _ready(client, name, "1"), promote(client, name, "1", None, AUDIT)
    client.set_model_version_tag(name, "2", "cd.status", "champion")  # e.g. written by an old, unlocked writer
    assert reconcile_status(client, name) == {"2": "retired"}


def test_racing_promotions_leave_one_champion_and_the_loser_moves_nothing(client):
    name = _model(client, 3)
    _ready(client, name, "1"), promote(client, name, "1", None, AUDIT)
    _ready(client, name, "2"), _ready(client, name, "3")
    promote(client, name, "2", "1", AUDIT)  # run A wins; run B compared v3 with v1 too
    with pytest.raises(PromotionRaceError, match="champion is now v2"):
        promote(client, name, "3", "1", AUDIT)
    assert (alias_version(client, name, CHAMPION), alias_version(client, name, PREVIOUS_CHAMPION)) == ("2", "1")
    assert client.get_model_version(name, "3").tags["cd.status"] == "challenger"


def test_rollback_moves_champion_back_and_keeps_the_demoted_as_previous(client):
    name = _model(client, 2)
    _ready(client, name, "1"), promote(client, name, "1", None, AUDIT)
    _ready(client, name, "2"), promote(client, name, "2", "1", AUDIT)
    done = rollback(client, name, None, AUDIT)
    assert (done.version, done.previous_champion) == ("1", "2")
    assert (alias_version(client, name, CHAMPION), alias_version(client, name, PREVIOUS_CHAMPION)) == ("1", "2")
    assert client.get_model_version(name, "2").tags["cd.status"] == "rolled_back"


def test_rollback_refuses_a_rejected_target(client):
    name = _model(client, 2)
    _ready(client, name, "1"), promote(client, name, "1", None, AUDIT)
    reject(client, name, "2", "compliance", ["signature: missing"], AUDIT)
    with pytest.raises(RegistryInputError, match="rejected or never passed"):
        rollback(client, name, "2", AUDIT)
    assert alias_version(client, name, CHAMPION) == "1"


@pytest.mark.parametrize("version", ["7", "x", "0"])
def test_unknown_or_invalid_version_is_refused_by_name(client, version):
    name = _model(client, 1)
    with pytest.raises(RegistryInputError, match=name):
        set_challenger(client, name, version, AUDIT)


def test_unknown_model_is_refused(client):
    with pytest.raises(RegistryInputError, match="no such registered model"):
        set_challenger(client, "no_such_model", "1", AUDIT)


def test_version_of_another_model_is_refused(client):
    small, large = _model(client, 1), _model(client, 3)
    with pytest.raises(RegistryInputError, match=r"versions \[1\]"):
        set_challenger(client, small, "3", AUDIT)
    assert alias_version(client, large, CHALLENGER) is None


def test_unreachable_server_fails_after_retries_and_moves_nothing(monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = MlflowClient(tracking_uri="http://127.0.0.1:9", registry_uri="http://127.0.0.1:9")
    with pytest.raises(MlflowException, match="127.0.0.1:9"):
        promote(down, "flight_delay", "1", None, AUDIT)


def test_registry_lock_waits_for_another_holder_and_times_out(tmp_path, monkeypatch):
    import fcntl

    from mlops.registry import RegistryBusyError, registry_lock
    from mlops.registry.lock import ENV_LOCK_DIR, lock_path

    monkeypatch.setenv(ENV_LOCK_DIR, str(tmp_path))
    with registry_lock("m/odel") as path, registry_lock("m/odel"):  # re-entrant in one thread
        assert path == lock_path("m/odel") and path.parent == tmp_path and "/" not in path.name
    with open(lock_path("m/odel"), "a") as other:  # another open file: another holder
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(RegistryBusyError, match="m/odel"), registry_lock("m/odel", timeout=0.1):
            pass
