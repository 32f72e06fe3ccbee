"""Per-environment settings: selection by MLOPS_ENV, validation messages, URI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops.config import ENVIRONMENTS, ConfigError, current_env, load_settings

MINIMAL = """\
env: {env}
lakehouse:
  root: lake
  landing_root: landing
mlflow:
  tracking_uri: "sqlite:///{{home}}/mlflow.db"
  experiment_name: exp
  model_name: model
"""


def _config_dir(tmp_path: Path, extra: str = "", env: str = "staging", declared: str | None = None) -> Path:
    (tmp_path / f"{env}.yaml").write_text(MINIMAL.format(env=declared or env) + extra)
    return tmp_path


@pytest.fixture
def no_overrides(monkeypatch):
    for var in (
        "MLOPS_LAKEHOUSE_ROOT",
        "MLOPS_LANDING_ROOT",
        "MLOPS_REPORTS_ROOT",
        "MLFLOW_TRACKING_URI",
        "MLOPS_SETTINGS",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_load_settings_loads_every_shipped_yaml(env, no_overrides, session_home):
    settings = load_settings(env)

    assert settings.env == env
    assert settings.usecase == "flight_delay"  # the first enabled use case: its tables in its own folder
    assert settings.lakehouse.root == str(session_home / env / "lakehouse" / "flight_delay")
    assert settings.mlflow.tracking_uri == f"sqlite:///{session_home}/mlflow.db"


@pytest.mark.parametrize(("env", "model_name"), [("dev", "flight_delay_dev"), ("prod", "flight_delay")])
def test_load_settings_selects_yaml_from_mlops_env(monkeypatch, env, model_name):
    monkeypatch.setenv("MLOPS_ENV", env)

    settings = load_settings()

    assert (settings.env, settings.mlflow.model_name) == (env, model_name)


def test_current_env_defaults_to_dev_when_unset(monkeypatch):
    monkeypatch.delenv("MLOPS_ENV", raising=False)

    assert current_env() == "dev"


@pytest.mark.parametrize("bad", ["qa", "PROD", "prod "])
def test_load_settings_refuses_unknown_mlops_env(monkeypatch, bad):
    monkeypatch.setenv("MLOPS_ENV", bad)

    with pytest.raises(ConfigError, match=rf"MLOPS_ENV='{bad}' is not a known environment; use one of dev, staging"):
        load_settings()


def test_load_settings_refuses_unknown_env_argument():
    with pytest.raises(ConfigError, match="'test' is not a known environment"):
        load_settings("test")


def test_load_settings_names_unknown_nested_key(tmp_path):
    config_dir = _config_dir(tmp_path, "training:\n  tuning_trialz: 3\n")

    with pytest.raises(ConfigError, match=r"training\.tuning_trialz: unknown key \(allowed here: .*tuning_trials"):
        load_settings("staging", config_dir=config_dir)


def test_load_settings_names_unknown_top_level_key(tmp_path):
    config_dir = _config_dir(tmp_path, "trainig:\n  tuning_trials: 3\n")

    with pytest.raises(ConfigError, match=r"trainig: unknown key \(allowed here: .*training"):
        load_settings("staging", config_dir=config_dir)


@pytest.mark.parametrize(
    ("extra", "key", "shown"),
    [
        ("training:\n  tuning_trials: 0\n", r"training\.tuning_trials", "greater than or equal to 1"),
        ("data:\n  replay_days: many\n", r"data\.replay_days", "'many'"),
        ("data:\n  sample_fraction: 2\n", r"data\.sample_fraction", "2"),
        ("quality:\n  mode: warn\n", r"quality\.mode", "'warn'"),
        ("maintenance:\n  vacuum_retention_hours: 0\n", r"maintenance\.vacuum_retention_hours", "greater than"),
        ("maintenance:\n  staging_retention_days: -3\n", r"maintenance\.staging_retention_days", "-3"),
    ],
)
def test_load_settings_names_key_with_bad_value(tmp_path, extra, key, shown):
    config_dir = _config_dir(tmp_path, extra)

    with pytest.raises(ConfigError, match=key) as info:
        load_settings("staging", config_dir=config_dir)

    assert shown in str(info.value)


def test_load_settings_requires_human_approval_in_prod(tmp_path):
    config_dir = _config_dir(tmp_path, "promotion:\n  approval: auto\n", env="prod")

    with pytest.raises(ConfigError, match="promotion.approval must be 'human' in prod"):
        load_settings("prod", config_dir=config_dir)


def test_load_settings_refuses_file_declaring_another_env(tmp_path):
    config_dir = _config_dir(tmp_path, env="staging", declared="dev")

    with pytest.raises(ConfigError, match="declares env: 'dev' but was loaded for environment 'staging'"):
        load_settings("staging", config_dir=config_dir)


def test_load_settings_reports_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"No config for environment 'dev': .*dev\.yaml does not exist"):
        load_settings("dev", config_dir=tmp_path)


def test_load_settings_reports_invalid_yaml(tmp_path):
    (tmp_path / "dev.yaml").write_text("env: dev\nlakehouse: [unclosed\n")

    with pytest.raises(ConfigError, match=r"dev\.yaml is not valid YAML"):
        load_settings("dev", config_dir=tmp_path)


def test_load_settings_refuses_non_mapping_yaml(tmp_path):
    (tmp_path / "dev.yaml").write_text("- just\n- a list\n")

    with pytest.raises(ConfigError, match="must hold a mapping at the top level"):
        load_settings("dev", config_dir=tmp_path)


def test_load_settings_resolves_relative_roots_under_mlops_home(tmp_path, monkeypatch, no_overrides):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))

    settings = load_settings("staging", config_dir=_config_dir(tmp_path))

    assert settings.lakehouse.root == str(tmp_path / "home" / "lake")
    assert settings.lakehouse.landing_root == str(tmp_path / "home" / "landing")
    assert settings.lakehouse.reports_root == settings.lakehouse.root  # reports beside local tables
    assert settings.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'home'}/mlflow.db"


def test_reports_stay_on_the_filesystem_when_the_lakehouse_is_on_object_storage(tmp_path, monkeypatch, no_overrides):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_LAKEHOUSE_ROOT", "s3://bucket/lakehouse")

    settings = load_settings("staging", config_dir=_config_dir(tmp_path))
    assert settings.lakehouse.reports_root == str(tmp_path / "home" / "staging" / "reports")

    monkeypatch.setenv("MLOPS_REPORTS_ROOT", "/mnt/reports")
    assert load_settings("staging", config_dir=_config_dir(tmp_path)).lakehouse.reports_root == "/mnt/reports"


def test_reports_root_on_object_storage_is_refused_naming_the_key(tmp_path, monkeypatch, no_overrides):
    monkeypatch.setenv("MLOPS_REPORTS_ROOT", "s3://bucket/reports")

    with pytest.raises(ConfigError, match=r"lakehouse.reports_root must be a filesystem path.*s3://bucket/reports"):
        load_settings("staging", config_dir=_config_dir(tmp_path))


@pytest.mark.parametrize(
    ("var", "value", "attribute"),
    [
        ("MLOPS_LAKEHOUSE_ROOT", "s3://bucket/lakehouse", ("lakehouse", "root")),
        ("MLOPS_LANDING_ROOT", "/data/landing", ("lakehouse", "landing_root")),
        ("MLFLOW_TRACKING_URI", "http://mlflow:5000", ("mlflow", "tracking_uri")),
    ],
)
def test_load_settings_applies_env_var_override(tmp_path, monkeypatch, no_overrides, var, value, attribute):
    monkeypatch.setenv(var, value)

    settings = load_settings("staging", config_dir=_config_dir(tmp_path))

    section, field = attribute
    assert getattr(getattr(settings, section), field) == value


def test_load_settings_ignores_empty_override(tmp_path, monkeypatch, no_overrides):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.setenv("MLOPS_LAKEHOUSE_ROOT", "")

    settings = load_settings("staging", config_dir=_config_dir(tmp_path))

    assert settings.lakehouse.root == str(tmp_path / "lake")


def test_settings_are_frozen():
    settings = load_settings("staging")

    with pytest.raises(ValidationError, match="frozen"):
        settings.training.tuning_trials = 99


def test_mlops_settings_env_var_merges_over_the_file(monkeypatch):
    from mlops.config import ENV_SETTINGS

    monkeypatch.setenv(ENV_SETTINGS, '{"retraining": {"poke_seconds": 5}, "schedules": {"feature_refresh": null}}')
    settings = load_settings("dev")
    assert settings.retraining.poke_seconds == 5
    assert settings.schedules.feature_refresh is None
    assert settings.schedules.model_training == "@weekly"  # siblings of an overridden key are kept


def test_mlops_settings_env_var_with_unknown_key_names_it(monkeypatch):
    from mlops.config import ENV_SETTINGS

    monkeypatch.setenv(ENV_SETTINGS, "retraining: {poke_secs: 5}")
    with pytest.raises(ConfigError, match=r"retraining\.poke_secs: unknown key"):
        load_settings("dev")


def test_mlops_settings_env_var_cannot_switch_environment(monkeypatch):
    from mlops.config import ENV_SETTINGS

    monkeypatch.setenv(ENV_SETTINGS, "env: prod")
    with pytest.raises(ConfigError, match="cannot change the environment"):
        load_settings("dev")
