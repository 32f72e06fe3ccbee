"""Resumable registry steps: a step that fails at any of its registry writes, then is retried (as Airflow
retries a task), ends exactly as an unbroken run: aliases, every version's tags, description lines (no
duplicates) and the monitoring.cd_decisions rows of the promotion.

The failing write is injected by a client wrapper, either before the write reaches the registry (the
request failed) or after it (the write happened but the answer was lost).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from mlflow.exceptions import MlflowException

from mlops.config import load_settings
from mlops.errors import Refusal
from mlops.registry import Audit, promote, reject, rollback, set_challenger
from mlops.registry.cd import promote_version
from mlops.registry.transitions import record_tags

SETTINGS = load_settings("staging")
SETUP = Audit("setup", "setup", "", "setup")
AUDIT = Audit("model_promotion", "scheduled__2013-01-19", "http://localhost:8080/run", "auto")
WRITES = frozenset(
    {
        "set_model_version_tag",
        "delete_model_version_tag",
        "set_registered_model_alias",
        "delete_registered_model_alias",
        "update_model_version",
        "transition_model_version_stage",
        "set_registered_model_tag",
        "delete_registered_model_tag",
    }
)
_NAMES = itertools.count()
_STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\dZ\] ")


class FlakyClient:
    """An MlflowClient whose `fail_at`-th registry write raises, before or after reaching the registry."""

    def __init__(self, client: Any, fail_at: int | None = None, after: bool = False) -> None:
        self._client, self.fail_at, self.after, self.writes = client, fail_at, after, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            failing = self.writes == self.fail_at
            if failing and not self.after:
                raise MlflowException(f"injected: write {self.writes} ({name}) failed")
            result = attr(*args, **kwargs)
            if failing:
                raise MlflowException(f"injected: write {self.writes} ({name}) done, answer lost")
            return result

        return write


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path_factory.mktemp('registry_resume') / 'mlflow.db'}")


def _model(client, name: str | None = None, champion: str = "1", previous: str | None = None) -> str:
    """Three versions, written directly (fast): v`champion` champion, v2 (if not champion) challenger compared
    with it, v3 untouched; with `previous`, that version holds previous_champion."""
    name = name or f"resume_{next(_NAMES)}"
    if name == SETTINGS.mlflow.model_name and client.search_registered_models(f"name='{name}'"):
        client.delete_registered_model(name)
    client.create_registered_model(name)
    passed = {"cd.compliance": "passed", "cd.comparison": "passed", **SETUP.tags()}
    status = {champion: "champion", previous: "previous_champion"}
    for v in ("1", "2", "3"):
        tags = {**passed, "cd.status": status.get(v, "challenger")} if v != "3" else {}
        client.create_model_version(name, source="file:///nonexistent/model", tags=tags, description=f"v{v}")
    aliases = {"champion": champion, "previous_champion": previous, "challenger": "2" if champion != "2" else None}
    for alias, v in aliases.items():
        if v:
            client.set_registered_model_alias(name, alias, v)
    return name


def _rolled_forward(client, name: str | None = None) -> str:
    return _model(client, name, champion="2", previous="1")


def _state(client, name: str) -> dict[str, Any]:
    aliases = {k: str(v) for k, v in (client.get_registered_model(name).aliases or {}).items()}
    versions = {}
    for mv in client.search_model_versions(f"name='{name}'"):
        lines = [_STAMP.sub("", line) for line in (mv.description or "").splitlines() if line.strip()]
        versions[str(mv.version)] = {"tags": dict(mv.tags or {}), "lines": lines}
    return {"aliases": aliases, "versions": versions}


def _decisions(lakehouse) -> list[tuple]:
    from mlops.registry import CD_DECISIONS

    if not lakehouse.exists(CD_DECISIONS):
        return []
    cols = ["model_name", "version", "step", "check", "outcome", "detail", "champion_version", "airflow_run_id"]
    return sorted(map(tuple, lakehouse.read_pandas(CD_DECISIONS)[cols].astype(str).values.tolist()))


def _promote_flow(client, name, lakehouse):
    return promote_version(client, lakehouse, SETTINGS, "2", "1", AUDIT)["outcome"]


# step: (build the registry before it, the step; returns its outcome)
STEPS: dict[str, tuple[Callable, Callable]] = {
    "set_challenger": (_model, lambda c, n, _: set_challenger(c, n, "3", AUDIT)),
    "reject": (_model, lambda c, n, _: reject(c, n, "2", "comparison", ["worse than v1"], AUDIT)),
    "record_tags": (_model, lambda c, n, _: record_tags(c, n, "3", {"cd.comparison": "failed"}, AUDIT.line("Done."))),
    "promote": (_model, lambda c, n, _: promote(c, n, "2", "1", AUDIT).outcome),
    "rollback": (_rolled_forward, lambda c, n, _: rollback(c, n, None, AUDIT).outcome),
    "promote_version": (_model, _promote_flow),
}


def _run(client, step: str, lakehouse, fail_at: int | None = None, after: bool = False):
    build, act = STEPS[step]
    name = build(client, SETTINGS.mlflow.model_name if step == "promote_version" else None)
    flaky = FlakyClient(client, fail_at, after)
    if fail_at is None:
        outcome = act(flaky, name, lakehouse)
    else:
        with pytest.raises(MlflowException, match="injected"):
            act(flaky, name, lakehouse)
        try:
            outcome = act(client, name, lakehouse)  # the retry
        except Refusal as exc:
            outcome = f"retry refused: {exc}"
    return flaky.writes, outcome, _state(client, name), _decisions(lakehouse)


@pytest.mark.parametrize("step", list(STEPS))
def test_registry_step_retried_after_a_failure_at_any_write_ends_as_an_unbroken_run(client, tmp_path, step):
    from mlops.lakehouse import Lakehouse

    writes, *expected = _run(client, step, Lakehouse(str(tmp_path / "unbroken")))
    assert writes > 0
    for line_list in (v["lines"] for v in expected[1]["versions"].values()):
        assert len(line_list) == len(set(line_list)), line_list
    broken = []
    for fail_at, after in itertools.product(range(1, writes + 1), (False, True)):
        lake = Lakehouse(str(tmp_path / f"fail_{fail_at}_{after}"))
        _, *got = _run(client, step, lake, fail_at, after)
        if got != expected:
            diff = [k for k, a, b in zip(("outcome", "registry", "cd_decisions"), got, expected, strict=True) if a != b]
            broken.append(f"write {fail_at} {'after' if after else 'before'}: {', '.join(diff)} differ")
    assert not broken, f"{step}: {len(broken)} of {2 * writes} failure points end differently:\n" + "\n".join(broken)
