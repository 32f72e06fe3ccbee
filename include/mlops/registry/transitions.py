"""Registry transitions over mlflow.MlflowClient: challenger, reject, promote (race-checked), roll back.

Every action writes `cd.*` tags and one description line naming the Airflow run (with its link), and
checks everything it needs before its first write, so a refusal moves nothing.

Serialised: each transition holds the model's registry lock (`registry.lock`) from its first read to its
last write, so its re-checks (champion unchanged, version not rejected) still hold when it writes; MLflow
has no compare-and-set on aliases. Resumable: each converges on its end state, so a retry after a failure
at any registry call ends as an unbroken run would (a promotion or rollback tags its target with the run
that moves it before moving anything, and a retry of that run finishes the move). Statuses follow the
aliases: after every move `reconcile_status` makes each version's `cd.status` agree with them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops.errors import Refusal
from mlops.registry.lock import registry_lock

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
MAX_TAG_CHARS = 4000
# The run that moves the champion, tagged on the target before the move: a retry of that run finishes it.
PROMOTED_BY, PROMOTED_OVER = "cd.promoted_by_run", "cd.promoted_over"
ROLLED_BACK_BY, ROLLED_BACK_FROM = "cd.rollback_run", "cd.rolled_back_from"
_STAMP = re.compile(r"^\[[^\]]*Z\] ")  # the time stamp Audit.line starts with


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

    @property
    def key(self) -> str:
        """`<dag_id>/<run_id>`: the run a retry belongs to."""
        return f"{self.dag_id}/{self.run_id}"

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


def cd_pending(mv: ModelVersion) -> bool:
    """True while CD has not decided the version: no `cd.status` yet, or `challenger` (compared, not promoted)."""
    return (mv.tags or {}).get("cd.status") in (None, "challenger")


def is_rejected(mv: ModelVersion) -> bool:
    """True once any check or decision rejected the version."""
    tags = mv.tags or {}
    return tags.get("cd.status") == "rejected" or "cd.rejected_at" in tags


def set_challenger(client: MlflowClient, model_name: str, version: str, audit: Audit, note: str = "") -> None:
    """Compliance passed: alias `challenger` and tag `cd.compliance=passed` (refused for a rejected version)."""
    with registry_lock(model_name):
        mv = get_version(client, model_name, version)
        if is_rejected(mv):
            raise RegistryInputError(f"Not making {model_name} v{version} challenger: it was rejected ({_reason(mv)})")
        if alias_version(client, model_name, CHAMPION) == str(version):  # re-checked champion: no challenger
            _tag(client, model_name, version, {"cd.compliance": "passed"})
            return
        _tag(client, model_name, version, {"cd.compliance": "passed", "cd.status": "challenger", **audit.tags()})
        client.set_registered_model_alias(model_name, CHALLENGER, str(version))
        reconcile_status(client, model_name)
        line = audit.line(f"Compliance passed{': ' + note if note else ''}; alias challenger.")
        _describe(client, model_name, version, line)


def reject(client: MlflowClient, model_name: str, version: str, step: str, reasons: list[str], audit: Audit) -> None:
    """Tag the version rejected with the reasons; it loses `challenger` and can never become champion.

    Raises:
        RegistryInputError: the version is the current champion (roll back instead).
    """
    with registry_lock(model_name):  # a promotion of the same version waits, then finds it rejected
        get_version(client, model_name, version)
        if alias_version(client, model_name, CHAMPION) == str(version):
            raise RegistryInputError(f"Not rejecting {model_name} v{version}: it is the champion; run model_rollback")
        reason = "; ".join(reasons) or step
        tags = {"cd.status": "rejected", "cd.rejected_at": step, "cd.reason": reason[:MAX_TAG_CHARS], **audit.tags()}
        if step == "compliance":
            tags["cd.compliance"] = "failed"
        _tag(client, model_name, version, tags)
        if alias_version(client, model_name, CHALLENGER) == str(version):
            client.delete_registered_model_alias(model_name, CHALLENGER)
        _describe(client, model_name, version, audit.line(f"Rejected at {step}: {reason}"))


def record_tags(client: MlflowClient, model_name: str, version: str, tags: dict[str, str], line: str) -> None:
    """Write decision tags (e.g. the comparison result) and a description line."""
    with registry_lock(model_name):
        get_version(client, model_name, version)
        _tag(client, model_name, version, tags)
        _describe(client, model_name, version, line)


def promote(
    client: MlflowClient, model_name: str, version: str, expected_champion: str | None, audit: Audit
) -> Transition:
    """Move `champion` to the version; the old champion keeps `previous_champion`.

    Under the model's registry lock the champion alias is re-read: if it no longer points to
    `expected_champion` (the one the comparison used), another run promoted meanwhile and this one refuses,
    moving nothing. A version that already is champion: a retry of the run that promoted it finishes what a
    failure interrupted and reports `promoted`; any other run reports `already_champion`.

    Raises:
        RegistryInputError: the version was rejected or has not passed compliance and comparison.
        PromotionRaceError: the champion changed since the comparison.
    """
    version = str(version)
    with registry_lock(model_name):
        mv = get_version(client, model_name, version)
        current = alias_version(client, model_name, CHAMPION)
        tags = mv.tags or {}
        if current == version and tags.get(PROMOTED_BY) != audit.key:
            log.info("%s v%s is already champion: nothing to move", model_name, version)
            _settle(client, model_name, version)
            previous = alias_version(client, model_name, PREVIOUS_CHAMPION)
            return Transition(model_name, version, "already_champion", previous)
        if current == version:  # this run moved the alias, then failed: finish
            previous = tags.get(PROMOTED_OVER) or None
        else:
            _check_promotable(mv)
            _check_expected(model_name, version, current, expected_champion)
            previous = current
            _tag(client, model_name, version, {PROMOTED_BY: audit.key, PROMOTED_OVER: current or ""})
            if current:
                client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, current)
            client.set_registered_model_alias(model_name, CHAMPION, version)
        _tag(client, model_name, version, {"cd.status": "champion", **audit.tags()})
        _settle(client, model_name, version)
        before = f"v{previous}" if previous else "none"
        _describe(client, model_name, version, audit.line(f"Promoted to champion (previous champion: {before})."))
    return Transition(model_name, version, "promoted", previous)


def rollback(client: MlflowClient, model_name: str, to_version: str | None, audit: Audit) -> Transition:
    """Point `champion` back at `to_version` (default: the `previous_champion`); the demoted one keeps
    `previous_champion`. A retry of the run that rolled back finishes that rollback; it does not roll again.

    Raises:
        RegistryInputError: no target, a rejected or non-compliant target, or it already is champion.
    """
    with registry_lock(model_name):
        current = alias_version(client, model_name, CHAMPION)
        if current:
            tags = get_version(client, model_name, current).tags or {}
            if tags.get(ROLLED_BACK_BY) == audit.key and str(to_version or current) == current:
                return _finish_rollback(client, model_name, current, tags.get(ROLLED_BACK_FROM) or None, audit)
        target = str(to_version) if to_version else alias_version(client, model_name, PREVIOUS_CHAMPION)
        if not target:
            raise RegistryInputError(f"Cannot roll back {model_name}: no version given and no previous_champion alias")
        mv = get_version(client, model_name, target)
        tags = mv.tags or {}
        if is_rejected(mv) or tags.get("cd.compliance") != "passed":
            raise RegistryInputError(
                f"Not rolling {model_name} back to v{target}: it is rejected or never passed compliance "
                f"(cd.status={tags.get('cd.status')!r}, cd.compliance={tags.get('cd.compliance')!r})"
            )
        if current == target:
            raise RegistryInputError(f"Not rolling back {model_name}: v{target} already is champion")
        _tag(client, model_name, target, {ROLLED_BACK_BY: audit.key, ROLLED_BACK_FROM: current or ""})
        client.set_registered_model_alias(model_name, CHAMPION, target)
        return _finish_rollback(client, model_name, target, current, audit)


def reconcile_status(client: MlflowClient, model_name: str) -> dict[str, str]:
    """Make each version's `cd.status` agree with the aliases; returns the versions changed and their status.

    The holder of `champion` is `champion`, of `challenger` `challenger`, of `previous_champion`
    `previous_champion` (or `rolled_back`, kept); a version that lost `champion` or `previous_champion` is
    `retired`, one that lost `challenger` `superseded`. Other statuses (rejected, superseded) stay.
    """
    aliases = client.get_registered_model(model_name).aliases or {}
    holders = {str(v): alias for alias, v in aliases.items() if alias != CHAMPION}
    if CHAMPION in aliases:  # a version holding several aliases is what its strongest one says
        holders[str(aliases[CHAMPION])] = CHAMPION
    changed = {}
    for mv in client.search_model_versions(f"name='{model_name}'"):
        number, status = str(mv.version), (mv.tags or {}).get("cd.status")
        wanted = _derived_status(status, holders.get(number))
        if wanted is not None and wanted != status:
            client.set_model_version_tag(model_name, number, "cd.status", wanted)
            changed[number] = wanted
    return changed


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


def _check_expected(model_name: str, version: str, current: str | None, expected: str | None) -> None:
    if current != (str(expected) if expected else None):
        raise PromotionRaceError(
            f"Not promoting {model_name} v{version}: champion is now v{current}, but the comparison was "
            f"against {'v' + str(expected) if expected else 'no champion'}. Another promotion "
            "won the race; re-run model_promotion to compare with the new champion."
        )


def _settle(client: MlflowClient, model_name: str, champion: str) -> None:
    """After a champion move: the champion is no challenger, and every status follows the aliases."""
    if alias_version(client, model_name, CHALLENGER) == champion:
        client.delete_registered_model_alias(model_name, CHALLENGER)
    reconcile_status(client, model_name)


def _finish_rollback(client: MlflowClient, name: str, target: str, demoted: str | None, audit: Audit) -> Transition:
    if demoted:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, demoted)
        _tag(client, name, demoted, {"cd.status": "rolled_back", **audit.tags()})
    _tag(client, name, target, {"cd.status": "champion", **audit.tags()})
    _settle(client, name, target)
    if demoted:
        _describe(client, name, demoted, audit.line(f"Rolled back: champion is now v{target}."))
    _describe(client, name, target, audit.line(f"Champion again by rollback from v{demoted}."))
    return Transition(name, target, "rolled_back", demoted)


def _derived_status(status: str | None, alias: str | None) -> str | None:
    if alias == CHAMPION:
        return "champion"
    if alias == CHALLENGER:
        return "challenger"
    if alias == PREVIOUS_CHAMPION:
        return status if status == "rolled_back" else "previous_champion"
    return {"champion": "retired", "previous_champion": "retired", "challenger": "superseded"}.get(status, status)


def _reason(mv: ModelVersion) -> str:
    return (mv.tags or {}).get("cd.reason", "no reason recorded")


def _tag(client: MlflowClient, model_name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)


def _describe(client: MlflowClient, model_name: str, version: str, line: str) -> None:
    """Append a line to the version's description, read afresh; a line already there (a retry) is not repeated."""
    old = client.get_model_version(model_name, str(version)).description or ""
    if any(_STAMP.sub("", seen) == _STAMP.sub("", line) for seen in old.splitlines()):
        return
    client.update_model_version(model_name, str(version), description=f"{old}\n{line}".strip())
