"""Registry transitions racing in separate processes against a real (SQLite-backed) MLflow registry.

Each trial builds a fresh model, releases two spawned workers at once and checks the invariants: exactly one
version tagged champion and it holds the alias, the champion was never rejected, one winner per race.
"""

from __future__ import annotations

import itertools

import pytest

from tests.unit._registry_race import Racer, build_model, violations

TRIALS = 20
_NAMES = itertools.count()


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('registry_races') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


@pytest.fixture(scope="module")
def racer(uri, client):
    client.search_registered_models()  # create the schema before the workers open the store
    racer = Racer(uri)
    yield racer
    racer.close()


def _trials(client, racer, build, first, second) -> tuple[list[str], list[list[str]]]:
    problems, outcomes = [], []
    for trial in range(TRIALS):
        name = build()
        results = racer.race(name, first, second)
        found = violations(client, name)
        if results.count("promoted") > 1:
            found.append("both promoted")
        found += [r for r in results if r.startswith("error")]
        outcomes.append(results)
        if found:
            problems.append(f"trial {trial} {results}: {'; '.join(found)}")
    return problems, outcomes


def test_racing_promotions_leave_one_champion(client, racer):
    def build():  # v2 and v3 both compared with champion v1
        return build_model(client, f"race_{next(_NAMES)}", 3, champion="1", ready=("2", "3"))

    problems, outcomes = _trials(client, racer, build, ("promote", ("2", "1")), ("promote", ("3", "1")))
    assert not problems, f"{len(problems)} of {TRIALS} trials broke the invariants:\n" + "\n".join(problems)
    assert all(sorted(o) == ["promoted", "refused (PromotionRaceError)"] for o in outcomes), outcomes


def test_promotion_racing_a_refusal_never_makes_a_rejected_champion(client, racer):
    def build():
        return build_model(client, f"race_{next(_NAMES)}", 2, champion="1", ready=("2",))

    problems, outcomes = _trials(client, racer, build, ("promote", ("2", "1")), ("reject", ("2",)))
    assert not problems, f"{len(problems)} of {TRIALS} trials broke the invariants:\n" + "\n".join(problems)
    allowed = (["promoted", "refused (RegistryInputError)"], ["refused (RegistryInputError)", "rejected"])
    assert all(o in allowed for o in outcomes), outcomes


def test_promotion_racing_a_rollback_leaves_one_champion(client, racer):
    def build():  # v3 compared with champion v2
        return build_model(client, f"race_{next(_NAMES)}", 3, champion="2", previous="1", ready=("3",))

    problems, outcomes = _trials(client, racer, build, ("promote", ("3", "2")), ("rollback", (None,)))
    assert not problems, f"{len(problems)} of {TRIALS} trials broke the invariants:\n" + "\n".join(problems)
    allowed = (["promoted", "rolled_back"], ["refused (PromotionRaceError)", "rolled_back"])
    assert all(o in allowed for o in outcomes), outcomes
