"""Racing registry writers in separate processes (spawn): a pool of two workers released together by a barrier."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from mlops.registry.transitions import CHAMPION, Audit

_BARRIER: Any = None


def _init(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def _act(uri: str, name: str, op: str, args: tuple[Any, ...], run_id: str) -> str:
    """One registry step, started when the other worker is ready too; a refusal is an outcome."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops.errors import Refusal
    from mlops.registry import transitions

    client = MlflowClient(tracking_uri=uri)
    client.get_registered_model(name)  # warm the store before the start line
    audit = Audit("race", run_id, "", "race")
    _BARRIER.wait(timeout=120)
    try:
        if op == "promote":
            return transitions.promote(client, name, args[0], args[1], audit).outcome
        if op == "reject":
            transitions.reject(client, name, args[0], "comparison", ["worse than the champion"], audit)
            return "rejected"
        if op == "rollback":
            return transitions.rollback(client, name, args[0], audit).outcome
    except Refusal as exc:
        return f"refused ({type(exc).__name__})"
    except MlflowException as exc:  # e.g. two writers inserting the same alias row at once
        return f"error ({str(exc).splitlines()[0][:120]})"
    raise ValueError(f"unknown op {op!r}")


class Racer:
    """Two spawned worker processes that run one step each, as close to the same moment as a barrier allows."""

    def __init__(self, uri: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.uri, self.barrier = uri, context.Barrier(2)
        self.pool = ProcessPoolExecutor(2, mp_context=context, initializer=_init, initargs=(self.barrier,))

    def race(self, name: str, first: tuple[str, tuple], second: tuple[str, tuple]) -> list[str]:
        futures = [
            self.pool.submit(_act, self.uri, name, op, args, f"run_{i}") for i, (op, args) in enumerate((first, second))
        ]
        return [f.result(timeout=180) for f in futures]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def build_model(
    client: Any, name: str, versions: int, champion: str, previous: str | None = None, ready: tuple[str, ...] = ()
) -> str:
    """A model written directly (fast): v`champion` champion, v`previous` previous champion, each of `ready`
    compared with the champion and passed (the last one holds `challenger`)."""
    client.create_registered_model(name)
    status = {champion: "champion", previous: "previous_champion", **dict.fromkeys(ready, "challenger")}
    passed = {"cd.compliance": "passed", "cd.comparison": "passed"}
    for v in map(str, range(1, versions + 1)):
        tags = {**passed, "cd.status": status[v]} if v in status else {}
        client.create_model_version(name, source="file:///nonexistent/model", tags=tags)
    client.set_registered_model_alias(name, CHAMPION, champion)
    if previous:
        client.set_registered_model_alias(name, "previous_champion", previous)
    if ready:
        client.set_registered_model_alias(name, "challenger", ready[-1])
    return name


def violations(client: Any, name: str) -> list[str]:
    """What breaks the registry invariants: not exactly one version tagged champion, the tag and the alias
    on different versions, a rejected champion, a `challenger` tag without the alias."""
    aliases = {k: str(v) for k, v in (client.get_registered_model(name).aliases or {}).items()}
    versions = client.search_model_versions(f"name='{name}'")
    tagged = sorted(str(v.version) for v in versions if (v.tags or {}).get("cd.status") == "champion")
    champion = aliases.get(CHAMPION)
    found = []
    if tagged != ([champion] if champion else []):
        found.append(f"versions tagged champion {tagged}, alias champion -> {champion}")
    for v in versions:
        tags = v.tags or {}
        if str(v.version) == champion and (tags.get("cd.status") == "rejected" or "cd.rejected_at" in tags):
            found.append(f"champion v{v.version} was rejected ({tags.get('cd.rejected_at')})")
        if tags.get("cd.status") == "challenger" and aliases.get("challenger") != str(v.version):
            found.append(f"v{v.version} tagged challenger, alias challenger -> {aliases.get('challenger')}")
    return found
