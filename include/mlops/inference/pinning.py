"""Which model scores: the champion (resolved once per run), the champion of the data date, or a given version."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from mlops.errors import NothingToDo

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.config import Settings
    from mlops.lakehouse import Lakehouse

CHAMPION = "champion"
CHAMPION_OF_THE_TIME = "champion_of_the_time"
SELECTOR = re.compile(rf"^({CHAMPION}|{CHAMPION_OF_THE_TIME}|[1-9][0-9]*)$")


class NoModelError(NothingToDo, LookupError):
    """No model can score: no champion (yet), or none was champion for the data date."""


@dataclass(frozen=True)
class ScoringModel:
    """One registered model version, pinned for a whole scoring run."""

    name: str
    version: str
    run_id: str
    source: str  # champion, champion_of_the_time or version: how it was chosen

    @property
    def uri(self) -> str:
        """The pinned registry URI (`models:/<name>/<version>`); never the moving alias."""
        return f"models:/{self.name}/{self.version}"

    def summary(self) -> dict[str, Any]:
        """Small dict for XCom and logs."""
        return {**asdict(self), "uri": self.uri}


def resolve_model(
    settings: Settings, selector: str = CHAMPION, day: date | None = None, lakehouse: Lakehouse | None = None
) -> ScoringModel:
    """Pin the model version that scores: `champion` (now), `champion_of_the_time` for `day`, or a number.

    Raises:
        NoModelError: no registered model, no champion, or no champion for `day`.
        RegistryInputError: the selector is none of these, or the given version does not exist or was rejected
            (a rejected model never scores).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops.registry.transitions import CHAMPION as CHAMPION_ALIAS
    from mlops.registry.transitions import RegistryInputError, alias_version, get_version, is_rejected

    selector = str(selector or CHAMPION).strip()
    if not SELECTOR.match(selector):
        raise RegistryInputError(
            f"model_version must be '{CHAMPION}', '{CHAMPION_OF_THE_TIME}' or a version number, got {selector!r}"
        )
    name = settings.mlflow.model_name
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    if selector == CHAMPION:
        try:
            version = alias_version(client, name, CHAMPION_ALIAS)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise NoModelError(f"No registered model {name}: train and promote a model first") from None
        if version is None:
            raise NoModelError(f"{name} has no champion yet (alias @{CHAMPION_ALIAS}): nothing to score with")
        source = CHAMPION
    elif selector == CHAMPION_OF_THE_TIME:
        if day is None or lakehouse is None:
            raise RegistryInputError(f"'{CHAMPION_OF_THE_TIME}' needs the data date and the lakehouse")
        version, source = champion_for_date(client, lakehouse, name, day), CHAMPION_OF_THE_TIME
    else:
        version, source = selector, "version"
    mv = get_version(client, name, version)
    if is_rejected(mv):
        reason = (mv.tags or {}).get("cd.reason", "no reason recorded")
        raise RegistryInputError(f"Not scoring with {name} v{version}: it was rejected ({reason})")
    return ScoringModel(name, str(mv.version), mv.run_id, source)


def champion_history(client: MlflowClient, lakehouse: Lakehouse, model_name: str) -> list[tuple[date, str]]:
    """(effective data date, version) of every champion change, oldest first, from monitoring.cd_decisions.

    A change takes effect on the data clock, not the wall clock: from the training cutoff of the newest
    model involved so far (a model cannot serve dates before its data existed; a rollback keeps the clock).
    In live operation the two clocks agree; in a replay only the data clock is meaningful.
    """
    from mlops.registry.decisions import CD_DECISIONS

    if not lakehouse.exists(CD_DECISIONS):
        return []
    rows = lakehouse.read_pandas(CD_DECISIONS, columns=["model_name", "version", "step", "outcome", "decided_at"])
    moves = rows[
        (rows["model_name"] == model_name)
        & (((rows["step"] == "promotion") & (rows["outcome"] == "promoted")) | (rows["outcome"] == "rolled_back"))
    ].sort_values("decided_at", kind="stable")
    history, clock = [], date.min
    for version in moves["version"].astype(str):
        cutoff = (client.get_model_version(model_name, version).tags or {}).get("mlops.cutoff")
        if cutoff:
            clock = max(clock, datetime.fromisoformat(cutoff).date())
        history.append((clock, version))
    return history


def champion_for_date(client: MlflowClient, lakehouse: Lakehouse, model_name: str, day: date) -> str:
    """The version that was champion for data date `day` (see `champion_history`).

    Raises:
        NoModelError: no champion change took effect on or before `day`.
    """
    found = None
    for effective, version in champion_history(client, lakehouse, model_name):
        if effective <= day:
            found = version
    if found is None:
        raise NoModelError(
            f"No version of {model_name} was champion for {day} (monitoring.cd_decisions has no promotion "
            "effective by then); pass a version number to score it anyway"
        )
    return found
