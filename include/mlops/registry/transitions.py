"""Registry transitions over mlflow.MlflowClient: challenger, reject, promote (race-checked, idempotent), roll back.

Every action writes `cd.*` tags and one description line naming the Airflow run (with its link), and
checks everything it needs before its first write, so a refusal moves nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops.errors import Refusal

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
MAX_TAG_CHARS = 4000


class RegistryInputError(Refusal, ValueError):
    """The model or version does not exist, or the version cannot take the requested transition."""


class PromotionRaceError(Refusal, RuntimeError):
    """The champion alias moved since the comparison: another promotion won; this one moves nothing."""


@dataclass(frozen=True)
class Audit:
    """Who acts: the Airflow DAG and run (with a link to it) and the person or rule that decided."""

    dag_id: str = "manual"
    run_id: str = "manual"
    run_link: str = ""
    actor: str = "model_promotion"

    def line(self, text: str) -> str:
        """A description line: date, action, run and link."""
        link = f" {self.run_link}" if self.run_link else ""
        stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z"
        return f"[{stamp}] {text} (by {self.actor}, Airflow {self.dag_id}/{self.run_id}{link})"

    def tags(self) -> dict[str, str]:
        """The `cd.*` tags naming this run."""
        return {"cd.airflow_dag_id": self.dag_id, "cd.airflow_run_id": self.run_id, "cd.actor": self.actor}


@dataclass(frozen=True)
class Transition:
    """What a promotion or rollback did."""

    model_name: str
    version: str
    outcome: str  # promoted, already_champion, rolled_back
    previous_champion: str | None

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and asset events."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "outcome": self.outcome,
            "previous_champion": self.previous_champion,
        }


def get_version(client: MlflowClient, model_name: str, version: str | int) -> ModelVersion:
    """The model version, or a RegistryInputError naming what exists.

    Raises:
        RegistryInputError: the version is not a positive integer, or the model or version is unknown.
    """
    from mlflow.exceptions import MlflowException

    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise RegistryInputError(f"Model version must be a positive integer, got {version!r} for {model_name}")
    try:
        return client.get_model_version(model_name, text)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name='{model_name}'"))
    except MlflowException:
        known = []
    hint = f"it has versions {known}" if known else "no such registered model (or it has no versions)"
    raise RegistryInputError(f"{model_name} v{text} does not exist in the registry: {hint}")


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version an alias points to, or None."""
    model = client.get_registered_model(model_name)
    found = (model.aliases or {}).get(alias)
    return str(found) if found is not None else None


def is_rejected(mv: ModelVersion) -> bool:
    """True once any check or decision rejected the version."""
    return (mv.tags or {}).get("cd.status") == "rejected"


def set_challenger(client: MlflowClient, model_name: str, version: str, audit: Audit, note: str = "") -> None:
    """Compliance passed: alias `challenger` and tag `cd.compliance=passed` (refused for a rejected version)."""
    mv = get_version(client, model_name, version)
    if is_rejected(mv):
        raise RegistryInputError(f"Not making {model_name} v{version} challenger: it was rejected ({_reason(mv)})")
    if alias_version(client, model_name, CHAMPION) == str(version):  # re-checked champion: keep it, no challenger
        _tag(client, model_name, version, {"cd.compliance": "passed"})
        return
    _tag(client, model_name, version, {"cd.compliance": "passed", "cd.status": "challenger", **audit.tags()})
    client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    _describe(client, mv, audit.line(f"Compliance passed{': ' + note if note else ''}; alias challenger."))


def reject(client: MlflowClient, model_name: str, version: str, step: str, reasons: list[str], audit: Audit) -> None:
    """Tag the version rejected with the reasons; it loses `challenger` and can never become champion.

    Raises:
        RegistryInputError: the version is the current champion (roll back instead).
    """
    mv = get_version(client, model_name, version)
    if alias_version(client, model_name, CHAMPION) == str(version):
        raise RegistryInputError(f"Not rejecting {model_name} v{version}: it is the champion; run model_rollback")
    reason = "; ".join(reasons) or step
    tags = {"cd.status": "rejected", "cd.rejected_at": step, "cd.reason": reason[:MAX_TAG_CHARS], **audit.tags()}
    if step == "compliance":
        tags["cd.compliance"] = "failed"
    _tag(client, model_name, version, tags)
    if alias_version(client, model_name, CHALLENGER) == str(version):
        client.delete_registered_model_alias(model_name, CHALLENGER)
    _describe(client, mv, audit.line(f"Rejected at {step}: {reason}"))


def record_tags(client: MlflowClient, model_name: str, version: str, tags: dict[str, str], line: str) -> None:
    """Write decision tags (e.g. the comparison result) and a description line."""
    mv = get_version(client, model_name, version)
    _tag(client, model_name, version, tags)
    _describe(client, mv, line)


def promote(
    client: MlflowClient, model_name: str, version: str, expected_champion: str | None, audit: Audit
) -> Transition:
    """Move `champion` to the version; the old champion keeps `previous_champion`.

    Idempotent: a version that already is champion is a no-op (a retry after a crash). Before moving,
    the champion alias is re-read: if it no longer points to `expected_champion` (the one the
    comparison used), another run promoted meanwhile and this one refuses, moving nothing.

    Raises:
        RegistryInputError: the version was rejected or has not passed compliance and comparison.
        PromotionRaceError: the champion changed since the comparison.
    """
    mv = get_version(client, model_name, version)
    current = alias_version(client, model_name, CHAMPION)
    if current == str(version):
        log.info("%s v%s is already champion: nothing to move", model_name, version)
        previous = alias_version(client, model_name, PREVIOUS_CHAMPION)
        return Transition(model_name, str(version), "already_champion", previous)
    _check_promotable(mv)
    if current != (str(expected_champion) if expected_champion else None):
        raise PromotionRaceError(
            f"Not promoting {model_name} v{version}: champion is now v{current}, but the comparison was "
            f"against {'v' + str(expected_champion) if expected_champion else 'no champion'}. Another promotion "
            "won the race; re-run model_promotion to compare with the new champion."
        )
    if current:
        client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, current)
        _tag(client, model_name, current, {"cd.status": "previous_champion"})
    client.set_registered_model_alias(model_name, CHAMPION, str(version))
    if alias_version(client, model_name, CHALLENGER) == str(version):
        client.delete_registered_model_alias(model_name, CHALLENGER)
    _tag(client, model_name, version, {"cd.status": "champion", **audit.tags()})
    before = f"v{current}" if current else "none"
    _describe(client, mv, audit.line(f"Promoted to champion (previous champion: {before})."))
    return Transition(model_name, str(version), "promoted", current)


def rollback(client: MlflowClient, model_name: str, to_version: str | None, audit: Audit) -> Transition:
    """Point `champion` back at `to_version` (default: the `previous_champion`); the demoted one keeps
    `previous_champion`.

    Raises:
        RegistryInputError: no target, a rejected or non-compliant target, or it already is champion.
    """
    target = str(to_version) if to_version else alias_version(client, model_name, PREVIOUS_CHAMPION)
    if not target:
        raise RegistryInputError(f"Cannot roll back {model_name}: no version given and no previous_champion alias")
    mv = get_version(client, model_name, target)
    if is_rejected(mv) or (mv.tags or {}).get("cd.compliance") != "passed":
        raise RegistryInputError(
            f"Not rolling {model_name} back to v{target}: it is rejected or never passed compliance "
            f"(cd.status={(mv.tags or {}).get('cd.status')!r}, cd.compliance={(mv.tags or {}).get('cd.compliance')!r})"
        )
    current = alias_version(client, model_name, CHAMPION)
    if current == target:
        raise RegistryInputError(f"Not rolling back {model_name}: v{target} already is champion")
    client.set_registered_model_alias(model_name, CHAMPION, target)
    if current:
        client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, current)
        _tag(client, model_name, current, {"cd.status": "rolled_back", **audit.tags()})
        demoted = get_version(client, model_name, current)
        _describe(client, demoted, audit.line(f"Rolled back: champion is now v{target}."))
    _tag(client, model_name, target, {"cd.status": "champion", **audit.tags()})
    _describe(client, mv, audit.line(f"Champion again by rollback from v{current}."))
    return Transition(model_name, target, "rolled_back", current)


def mirror_stage(client: MlflowClient, model_name: str, version: str, stage: str) -> None:
    """Also set the deprecated registry stage (promotion.mirror_legacy_stages) for old consumers."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(model_name, str(version), stage, archive_existing_versions=False)


def _check_promotable(mv: ModelVersion) -> None:
    tags = mv.tags or {}
    if is_rejected(mv):
        raise RegistryInputError(f"Not promoting {mv.name} v{mv.version}: it was rejected ({_reason(mv)})")
    missing = [k for k in ("cd.compliance", "cd.comparison") if tags.get(k) != "passed"]
    if missing:
        raise RegistryInputError(
            f"Not promoting {mv.name} v{mv.version}: {', '.join(missing)} is not 'passed' "
            f"(got {[tags.get(k) for k in missing]}); run model_promotion's checks first"
        )


def _reason(mv: ModelVersion) -> str:
    return (mv.tags or {}).get("cd.reason", "no reason recorded")


def _tag(client: MlflowClient, model_name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)


def _describe(client: MlflowClient, mv: ModelVersion, line: str) -> None:
    """Append a line to the version's description (a retried step does not repeat the same action)."""
    old = mv.description or ""
    action = line.split("] ", 1)[-1].split(" (by ", 1)[0]
    if action and action in old and line.split("Airflow ", 1)[-1] in old:
        return
    client.update_model_version(mv.name, mv.version, description=f"{old}\n{line}".strip())
