"""Per-environment settings: one YAML per environment, loaded into a frozen, validated object."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops.errors import Refusal

ENVIRONMENTS = ("dev", "staging", "prod")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "include" / "config"

# Environment variables that override URIs so production can point at object storage and a server.
ENV_LAKEHOUSE_ROOT = "MLOPS_LAKEHOUSE_ROOT"
ENV_LANDING_ROOT = "MLOPS_LANDING_ROOT"
ENV_REPORTS_ROOT = "MLOPS_REPORTS_ROOT"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_HOME = "MLOPS_HOME"
ENV_SELECTOR = "MLOPS_ENV"
# A YAML/JSON mapping merged over the environment's file, e.g. '{"retraining": {"poke_seconds": 5}}'
# (a replay, a one-off operation); validated like the file itself.
ENV_SETTINGS = "MLOPS_SETTINGS"


class ConfigError(Refusal, ValueError):
    """A configuration file is missing, unreadable or invalid."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LakehouseSettings(_Frozen):
    """Where tables, landing files and reports live (local paths are relative to MLOPS_HOME)."""

    root: str  # a path or an object-store URI (s3://, gs://, az://): tables go through delta-rs
    landing_root: str
    # GX results and Data Docs (`_quality/`), drift reports (`_reports/`): files on a filesystem. Default:
    # the lakehouse root when it is a path, `<env>/reports` under MLOPS_HOME when it is a URI.
    reports_root: str

    @model_validator(mode="before")
    @classmethod
    def _reports_beside_local_tables(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("reports_root"):
            root = data.get("root")
            if isinstance(root, str) and "://" not in root:
                data = {**data, "reports_root": root}
        return data

    @model_validator(mode="after")
    def _reports_on_a_filesystem(self) -> LakehouseSettings:
        if "://" in self.reports_root:
            raise ValueError(
                f"lakehouse.reports_root must be a filesystem path (GX Data Docs and drift reports are files), "
                f"got {self.reports_root!r}; mount the bucket or keep reports on a volume"
            )
        return self


class MlflowSettings(_Frozen):
    """Tracking server and registry names for this environment (names default to `<use case>_<env>`)."""

    tracking_uri: str
    experiment_name: str = ""
    model_name: str = ""


class DataSettings(_Frozen):
    """Which part of the use case's data this environment replays; a use case may extend it (`data_settings`)."""

    sample_fraction: float = Field(1.0, gt=0.0, le=1.0)
    replay_start: date = date(2013, 1, 1)
    replay_days: int = Field(14, ge=1, le=365)


class UseCaseRegistry(_Frozen):
    """Which use cases this deployment runs (`enabled`) and where those without an entry point live."""

    enabled: tuple[str, ...] = ()
    packages: dict[str, str] = Field(default_factory=dict)  # name -> Python package exposing usecase()


class SparkSettings(_Frozen):
    """Local Spark defaults; a cluster or Spark Connect endpoint comes from an Airflow connection."""

    master: str = "local[2]"
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str = "2g"


class FeatureSettings(_Frozen):
    """Point-in-time feature rules."""

    prediction_lead_minutes: int = Field(120, ge=0)
    max_feature_age_hours: int = Field(48, ge=1)


class QualitySettings(_Frozen):
    """Gate behaviour between layers."""

    mode: Literal["fail", "quarantine"] = "fail"
    row_count_band: float = Field(0.5, gt=0.0, lt=1.0)
    max_null_fraction: float = Field(0.05, ge=0.0, le=1.0)
    landing_timeout_minutes: int = Field(60, ge=1)
    landing_poke_seconds: int = Field(30, ge=1)
    # A landing file without a done marker (`<file>.done`) is complete once its size and mtime have not
    # changed for this long; before that it is waited for, never read (mlops.landing).
    landing_stable_seconds: float = Field(30.0, ge=0.0)


class TrainingSettings(_Frozen):
    """Training window and the restricted tuning budget used by automated retraining."""

    model_family: Literal["hist_gradient_boosting"] = "hist_gradient_boosting"
    train_window_days: int = Field(90, ge=1)
    validation_days: int = Field(7, ge=1)
    test_days: int = Field(7, ge=1)
    tuning_trials: int = Field(4, ge=1)
    tuning_timeout_seconds: int = Field(60, ge=1)
    min_training_rows: int = Field(1000, ge=1)
    seed: int = 42
    # OpenMP threads for fitting; null uses every core. One thread is faster on small, shared machines,
    # where idle-spinning OpenMP workers compete with Spark and other jobs.
    n_threads: int | None = Field(1, ge=1)


ComplianceCheck = Literal[
    "required_tags",
    "description",
    "signature",
    "input_example",
    "dataset_lineage",
    "required_metrics",
    "predicts",
    "artifact_size",
]


class PromotionSettings(_Frozen):
    """Continuous-deployment rule and approval mode.

    The rule is in the units of the use case's task type (`mlops.task_metrics`): its primary metric (ROC AUC,
    macro F1, RMSE) may be worse than the champion's by at most a tolerance, its guard metric (log loss, log
    loss, MAE) too. Binary models keep their named keys (`auc_tolerance`, `max_log_loss_increase`,
    `baseline_roc_auc`); the task-generic keys, when set, take precedence for every task type.
    """

    approval: Literal["auto", "human"] = "auto"
    auc_tolerance: float = Field(0.005, ge=0.0)  # binary: how much lower than the champion's ROC AUC may be
    max_log_loss_increase: float = Field(0.01, ge=0.0)  # classifiers: how much higher than the champion's log loss
    baseline_roc_auc: float = Field(0.60, gt=0.0, lt=1.0)  # binary, no champion yet: the ROC AUC to reach
    # Task-generic rule, in the primary / guard metric's units. None: binary uses auc_tolerance, other tasks 0
    # (no worse than the champion); the guard uses max_log_loss_increase for log loss, else 0.
    primary_tolerance: float | None = Field(None, ge=0.0)
    guard_tolerance: float | None = Field(None, ge=0.0)
    # No champion yet: the primary metric must beat the business baseline's, on the training run's held-out
    # days, by at least this. None: binary is ruled by baseline_roc_auc alone; other tasks need lift > 0.
    min_lift: float | None = Field(None, ge=0.0)
    approval_timeout_hours: int = Field(24, ge=1)
    compliance_checks: tuple[ComplianceCheck, ...] = get_args(ComplianceCheck)
    # Run metrics a version must have; None: the task's test_<primary>, test_<guard>, baseline_<primary>
    # (binary: test_roc_auc, test_log_loss, baseline_roc_auc).
    required_metrics: tuple[str, ...] | None = None
    max_artifact_mb: float = Field(50.0, gt=0.0)
    comparison_days: int = Field(7, ge=1)  # recent labelled days after both models' training windows
    min_comparison_rows: int = Field(200, ge=1)
    mirror_legacy_stages: bool = False  # also set the deprecated Staging/Production/Archived stage


class InferenceSettings(_Frozen):
    """Batch scoring: which engine, how big its batches, the decision threshold."""

    # spark: mlflow.pyfunc.spark_udf on the cluster; arrow: stream Arrow record batches from the Delta table
    # through the model in this process (bounded memory); auto: arrow below `spark_min_rows`, else spark.
    engine: Literal["auto", "spark", "arrow"] = "auto"
    spark_min_rows: int = Field(5_000_000, ge=1)
    batch_rows: int = Field(131_072, ge=1_000)  # rows per Arrow record batch in the arrow engine
    # decision = probability >= threshold. When positives are a minority (20-35%), probabilities centre near
    # centre near that rate: 0.5 would flag almost none, 0.3 flags those likelier than usual to be late.
    decision_threshold: float = Field(0.3, gt=0.0, lt=1.0)
    on_champion_change: bool = True  # batch_inference also runs when the champion alias moves
    # Scoring-set gate, per model input: nulls are normal (a sensor without a reading, an entity with no recent
    # in 24 h: ~50% each in January), an input that is almost always null means a broken upstream join.
    max_feature_null_fraction: float = Field(0.9, ge=0.0, le=1.0)


class DriftThresholds(_Frozen):
    """Per-feature override of the drift thresholds (unset keys keep the defaults)."""

    psi: float | None = Field(None, gt=0.0)
    wasserstein: float | None = Field(None, gt=0.0)
    jensen_shannon: float | None = Field(None, gt=0.0)


class MonitoringSettings(_Frozen):
    """Reference profiles, drift and performance thresholds."""

    profile_bins: int = Field(100, ge=10, le=1000)  # numeric quantile bins kept in a reference profile
    top_categories: int = Field(30, ge=1)  # categories kept per categorical feature; the rest pool as __other__
    psi_threshold: float = Field(0.2, gt=0.0)  # on reference deciles (numeric) or categories
    wasserstein_threshold: float = Field(0.1, gt=0.0)  # Wasserstein distance / reference std
    jensen_shannon_threshold: float = Field(0.1, gt=0.0)
    feature_thresholds: dict[str, DriftThresholds] = Field(default_factory=dict)
    drifted_share_threshold: float = Field(0.3, gt=0.0, le=1.0)  # dataset drift: share of drifted features
    drift_window_days: int = Field(7, ge=1)  # scored days compared with the reference per run (a week: all weekdays)
    # Computed and stored, but not counted in the dataset rule: calendar inputs whose distribution in a window is
    # set by the calendar (a week in May has no January holidays), not by a change in the data.
    ignore_features: tuple[str, ...] = ()
    performance_window_days: int = Field(7, ge=1)
    min_roc_auc: float = Field(0.6, gt=0.0, lt=1.0)  # binary: per performance window
    # Task-generic limit of the primary metric per window: a minimum for ROC AUC / macro F1, a maximum for RMSE.
    # None: binary uses min_roc_auc; other tasks measure performance but never breach on it.
    primary_limit: float | None = None
    violation_k: int = Field(2, ge=1)  # a breach: k of the last n windows beyond the limit, the latest included
    violation_n: int = Field(3, ge=1)


class RetrainingSettings(_Frozen):
    """Guardrails of drift-triggered retraining (counted on the data clock: entity dates, not wall time)."""

    enabled: bool = True  # false: signals are recorded as declined, training is never triggered
    signal_kinds: tuple[Literal["data_drift", "prediction_drift", "performance"], ...] = (
        "data_drift",
        "prediction_drift",
        "performance",
    )
    cooldown_days: int = Field(7, ge=0)  # since the data the last model was trained up to
    min_new_labelled_rows: int = Field(1000, ge=0)  # labelled entities since that date
    max_retrains: int = Field(2, ge=1)  # drift-triggered retrains allowed ...
    period_days: int = Field(30, ge=1)  # ... per this many days
    poke_seconds: int = Field(60, ge=1)  # how often the deferred sensor looks for a signal
    wait_hours: int = Field(24, ge=1)  # a sensor run ends (skipped) after this long without a signal


class MaintenanceSettings(_Frozen):
    """Table upkeep by `table_maintenance`: how long time travel must keep working, how much staging to keep."""

    # Files a version committed in the last this-many hours needs are never deleted; older removed files are.
    # A table whose `delta.deletedFileRetentionDuration` asks for longer keeps its own, longer window.
    vacuum_retention_hours: int = Field(168, ge=1)
    # Each staging.* table keeps its last this-many data dates, counted back from its newest (the data clock).
    staging_retention_days: int = Field(14, ge=1)
    compact: bool = True  # rewrite a partition's small files into larger ones (a new version, same rows)


class Schedules(_Frozen):
    """Cron presets or expressions per pipeline; null disables the time schedule."""

    feature_refresh: str | None = "@daily"
    model_training: str | None = "@weekly"
    batch_inference: str | None = "@daily"
    model_monitoring: str | None = "@daily"
    table_maintenance: str | None = "@weekly"
    train_on_feature_updates: bool = False  # model_training also runs when every feature table has updated


class Settings(_Frozen):
    """Everything one environment needs; load it with `load_settings`."""

    env: Literal["dev", "staging", "prod"]
    usecases: UseCaseRegistry = UseCaseRegistry()
    usecase: str | None = None  # the use case these settings belong to (None: the platform's alone)
    lakehouse: LakehouseSettings
    mlflow: MlflowSettings
    data: DataSettings = DataSettings()
    spark: SparkSettings = SparkSettings()
    features: FeatureSettings = FeatureSettings()
    quality: QualitySettings = QualitySettings()
    training: TrainingSettings = TrainingSettings()
    promotion: PromotionSettings = PromotionSettings()
    inference: InferenceSettings = InferenceSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    schedules: Schedules = Schedules()

    @model_validator(mode="after")
    def _prod_needs_human_approval(self) -> Settings:
        if self.env == "prod" and self.promotion.approval != "human":
            raise ValueError("promotion.approval must be 'human' in prod")
        return self


def mlops_home() -> Path:
    """Base directory for local state (tables, landing zone, MLflow, Airflow home)."""
    return Path(os.environ.get(ENV_HOME) or PROJECT_ROOT / ".mlops").resolve()


def current_env() -> str:
    """The environment selected by MLOPS_ENV (default dev when unset or empty).

    Raises:
        ConfigError: MLOPS_ENV names no known environment.
    """
    return _check_env(os.environ.get(ENV_SELECTOR) or "dev", source=f"{ENV_SELECTOR}=")


def _check_env(env: str, source: str = "environment ") -> str:
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"{source}{env!r} is not a known environment; use one of {', '.join(ENVIRONMENTS)} "
            f"(each has a file {CONFIG_DIR}/<env>.yaml)"
        )
    return env


# Sections a use case's own config may set; the rest (where tables live, Spark, which use cases run) is the
# platform's.
USECASE_SECTIONS = (
    "mlflow",
    "data",
    "features",
    "quality",
    "training",
    "promotion",
    "inference",
    "monitoring",
    "retraining",
    "schedules",
)


def load_settings(env: str | None = None, *, usecase: str | None = None, config_dir: Path | None = None) -> Settings:
    """Load and validate the environment's settings, for one use case when one is enabled.

    `include/config/<env>.yaml` (the platform) is merged with the use case's `<config_dir>/<env>.yaml`,
    then MLOPS_SETTINGS, then URI overrides from the environment. A use case's tables, landing files and
    reports live under its own folder of each root (`<root>/<use case>/<layer>/<table>`), and its MLflow
    experiment and model default to `<use case>_<env>`.

    Args:
        env: dev, staging or prod; defaults to MLOPS_ENV (itself defaulting to dev).
        usecase: an enabled use case's name; default the first enabled one (none enabled: the platform's
            settings alone).
        config_dir: folder holding the platform's `<env>.yaml`; defaults to `include/config`.

    Raises:
        ConfigError: the environment is unknown, a file is missing, or a key is unknown or invalid
            (the message names the file and the dotted key, e.g. `training.tuning_trials`, and the value).
        UseCaseError: the use case is not enabled, not registered, or breaks the contract.
    """
    env = _check_env(env) if env else current_env()
    path = (config_dir or CONFIG_DIR) / f"{env}.yaml"
    if not path.exists():
        raise ConfigError(f"No config for environment {env!r}: {path} does not exist")
    raw = _merged(_read_yaml(path), _env_settings())  # MLOPS_SETTINGS may also register or enable use cases
    declared = raw.get("env", env)
    if declared != env:
        raise ConfigError(f"{path} declares env: {declared!r} but was loaded for environment {env!r}; fix its env key")
    source, data_model = str(path), None
    name = _select_usecase(raw, usecase)
    if name is not None:
        raw, source, data_model = _with_usecase(raw, name, env, path)
    raw = _apply_overrides(raw, env)
    if data_model is not None:
        try:
            raw["data"] = data_model.model_validate(raw.get("data") or {})
        except ValidationError as exc:
            raise ConfigError(_describe(f"{source} (data)", exc, data_model)) from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc)) from None


def enabled_usecases(env: str | None = None, *, config_dir: Path | None = None) -> tuple[str, ...]:
    """Names of the use cases the environment runs (`usecases.enabled`, or MLOPS_USECASES), loading none."""
    from mlops.usecase.loader import enabled_names

    env = _check_env(env) if env else current_env()
    raw = _merged(_read_yaml((config_dir or CONFIG_DIR) / f"{env}.yaml"), _env_settings())
    return enabled_names(_registry(raw).enabled)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"No config for this environment: {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return raw


def _registry(raw: dict[str, Any]) -> UseCaseRegistry:
    try:
        return UseCaseRegistry.model_validate(raw.get("usecases") or {})
    except ValidationError as exc:
        raise ConfigError(_describe("usecases", exc)) from None


def _select_usecase(raw: dict[str, Any], usecase: str | None) -> str | None:
    from mlops.usecase.contract import UseCaseError
    from mlops.usecase.loader import enabled_names

    enabled = enabled_names(_registry(raw).enabled)
    if usecase is None:
        return enabled[0] if enabled else None
    if usecase not in enabled:
        raise UseCaseError(usecase, "usecases.enabled", f"not enabled in this environment (enabled: {list(enabled)})")
    return usecase


def _with_usecase(
    raw: dict[str, Any], name: str, env: str, path: Path
) -> tuple[dict[str, Any], str, type[DataSettings] | None]:
    """The platform's raw settings merged with the use case's own file, a text naming both files, and the
    model of the use case's `data:` section."""
    from mlops.usecase.contract import UseCaseError
    from mlops.usecase.loader import load_usecase, registered_packages

    packages = registered_packages(_registry(raw).packages, only=name)
    if name not in packages:
        raise UseCaseError(name, "usecases.packages", f"no package registered (known: {sorted(packages)})")
    usecase = load_usecase(name, packages[name])
    own_path = Path(usecase.config_dir) / f"{env}.yaml"
    own = _read_yaml(own_path)
    foreign = sorted(set(own) - set(USECASE_SECTIONS))
    if foreign:
        raise ConfigError(
            f"Invalid config {own_path}:\n  {foreign[0]}: not a use-case setting (allowed here: "
            f"{', '.join(USECASE_SECTIONS)}; the rest is the platform's, in {path})"
        )
    merged = _merged(raw, own)
    merged["usecases"] = {**(raw.get("usecases") or {}), "packages": packages}
    merged["usecase"] = name
    flow = dict(merged.get("mlflow") or {})
    flow.setdefault("experiment_name", f"{name}_{env}")
    flow.setdefault("model_name", f"{name}_{env}")
    merged["mlflow"] = flow
    return merged, f"{path} + {own_path}", usecase.data_settings


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, mapping by mapping (a value that is not a mapping replaces)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _env_settings() -> dict[str, Any]:
    text = os.environ.get(ENV_SETTINGS, "").strip()
    if not text:
        return {}
    try:
        extra = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{ENV_SETTINGS} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(extra, dict):
        raise ConfigError(f'{ENV_SETTINGS} must hold a mapping, e.g. \'{{"retraining": {{"poke_seconds": 5}}}}\'')
    if "env" in extra:
        raise ConfigError(f"{ENV_SETTINGS} cannot change the environment; select it with {ENV_SELECTOR}")
    return extra


def _apply_overrides(raw: dict[str, Any], env: str) -> dict[str, Any]:
    raw = _merged({**raw, "env": raw.get("env", env)}, _env_settings())
    lake = dict(raw.get("lakehouse") or {})
    flow = dict(raw.get("mlflow") or {})
    home = mlops_home()
    for key, var in (
        ("root", ENV_LAKEHOUSE_ROOT),
        ("landing_root", ENV_LANDING_ROOT),
        ("reports_root", ENV_REPORTS_ROOT),
    ):
        value = os.environ.get(var) or lake.get(key)
        if isinstance(value, str):
            lake[key] = _resolve_location(value, home)
    if isinstance(lake.get("root"), str) and not lake.get("reports_root"):
        root = lake["root"]
        lake["reports_root"] = _resolve_location(f"{env}/reports", home) if "://" in root else root
    if raw.get("usecase"):
        lake = {k: _join(v, raw["usecase"]) if isinstance(v, str) else v for k, v in lake.items()}
    uri = os.environ.get(ENV_TRACKING_URI) or flow.get("tracking_uri")
    if isinstance(uri, str):
        flow["tracking_uri"] = uri.replace("{home}", str(home))
    raw["lakehouse"], raw["mlflow"] = lake, flow
    return raw


def _join(location: str, name: str) -> str:
    """`<location>/<name>` for a path or a URI: each use case has its own folder under every root."""
    return f"{location.rstrip('/')}/{name}"


def _resolve_location(value: str, home: Path) -> str:
    if "://" in value:
        return value
    path = Path(value.replace("{home}", str(home)))
    return str(path if path.is_absolute() else home / path)


def _describe(path: Path | str, exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    lines = [f"Invalid config {path}:"]
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(err["loc"][:-1], model))
            lines.append(f"  {key}: unknown key (allowed here: {allowed})")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel] | None = None) -> list[str]:
    """Field names of the settings section at `loc`, to suggest the intended key."""
    model: Any = root or Settings
    for part in loc:
        field = model.model_fields.get(str(part)) if isinstance(model, type) else None
        model = field.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return list(model.model_fields)
