"""The use-case contract: loading, checks naming the use case and field, settings per use case, DAGs per use case."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from datetime import date
from pathlib import Path

import pytest

from mlops.config import ConfigError, enabled_usecases, load_settings
from mlops.lakehouse import Lakehouse
from mlops.usecase import UseCase, UseCaseError, check_usecase, enabled_names, load_usecase, registered_packages
from usecases.flight_delay import usecase as flight_delay

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
PIPELINES = (
    "feature_refresh",
    "model_training",
    "model_promotion",
    "batch_inference",
    "model_monitoring",
    "drift_retraining",
    "model_rollback",
    "table_maintenance",
)


@pytest.fixture(scope="module")
def flights() -> UseCase:
    return flight_delay()


def test_flight_delay_is_a_valid_use_case(flights):
    check_usecase(flights)
    assert flights.entity_table.name == flights.entity.table == "features.flight_schedule"
    assert flights.model.task == "binary" and flights.labels.lag_days == 1
    assert set(flights.model.categorical) <= set(flights.features.model_features())
    assert set(flights.features.compute) == {t.name for t in flights.features.tables}


def _broken(flights: UseCase, field: str) -> UseCase:
    replace = dataclasses.replace
    if field == "model.task":
        return replace(flights, model=replace(flights.model, task="ranking"))
    if field == "features.compute":
        compute = {k: v for k, v in flights.features.compute.items() if k != "features.origin_weather"}
        return replace(flights, features=replace(flights.features, compute=compute))
    if field == "entity.table":
        return replace(flights, entity=replace(flights.entity, table="features.nope"))
    if field == "entity.keys":
        return replace(flights, entity=replace(flights.entity, keys=("passenger_id",)))
    if field == "model.categorical":
        return replace(flights, model=replace(flights.model, categorical=("airline_name",)))
    if field == "datasets.flights.keys":
        dataset = replace(flights.datasets[0], keys=("flight_uuid",))
        return replace(flights, datasets=(dataset, *flights.datasets[1:]))
    if field.startswith("datasets.weather."):  # the landing-contract rules of issue 16 item 5
        weather = flights.datasets[1]
        columns = {c.name: c for c in weather.columns}
        broken = {
            "datasets.weather.columns.origin.pattern": lambda: _column(
                weather, replace(columns["origin"], pattern="[A-")
            ),
            "datasets.weather.columns.temp": lambda: _column(weather, replace(columns["temp"], allowed=("1",))),
            "datasets.weather.columns.origin.max_length": lambda: _column(
                weather, replace(columns["origin"], max_length=0)
            ),
            "datasets.weather.local_hour": lambda: replace(
                weather, local_hour=replace(weather.local_hour, time_zone="Mars/Olympus")
            ),
            "datasets.weather.row_count_band": lambda: replace(weather, row_count_band=(1.5, 2.0)),
            "datasets.weather.row_count_history": lambda: replace(weather, row_count_history=0),
        }[field]()
        return replace(flights, datasets=(flights.datasets[0], broken, *flights.datasets[2:]))
    if field == "labels.lag_days":
        return replace(flights, labels=replace(flights.labels, lag_days=-1))
    if field == "config_dir":
        return replace(flights, config_dir="/nonexistent/config")
    if field == "name":
        return replace(flights, name="Flight Delay!")
    raise AssertionError(field)


def _column(dataset, column):
    """`dataset` with `column` in place of its namesake."""
    columns = tuple(column if c.name == column.name else c for c in dataset.columns)
    return dataclasses.replace(dataset, columns=columns)


@pytest.mark.parametrize(
    "field",
    [
        "model.task",
        "features.compute",
        "entity.table",
        "entity.keys",
        "model.categorical",
        "datasets.flights.keys",
        "labels.lag_days",
        "config_dir",
        "name",
        "datasets.weather.columns.origin.pattern",
        "datasets.weather.columns.temp",
        "datasets.weather.columns.origin.max_length",
        "datasets.weather.local_hour",
        "datasets.weather.row_count_band",
        "datasets.weather.row_count_history",
    ],
)
def test_a_broken_use_case_is_refused_naming_the_use_case_and_the_field(flights, field):
    broken = _broken(flights, field)
    with pytest.raises(UseCaseError) as caught:
        check_usecase(broken)
    assert caught.value.field_name.startswith(field.split("[")[0])
    assert str(caught.value).startswith(f"Use case {broken.name!r}: {caught.value.field_name}:")


def test_an_unknown_task_type_names_the_allowed_ones(flights):
    with pytest.raises(UseCaseError, match=r"unknown task type 'ranking'; use one of binary, multiclass, regression"):
        check_usecase(_broken(flights, "model.task"))


def _entry_point(tmp_path: Path, monkeypatch, name: str, package: str) -> None:
    """An installed distribution (a dist-info folder on sys.path) registering `name` in mlops.usecases."""
    info = tmp_path / "site" / "team_usecases-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-usecases\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mlops.usecases]\n{name} = {package}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_a_use_case_registered_by_an_entry_point_is_found(tmp_path, monkeypatch):
    _entry_point(tmp_path, monkeypatch, "team_model", "team_pkg.model")
    assert registered_packages({})["team_model"] == "team_pkg.model"


def test_one_name_registered_to_two_packages_is_refused(tmp_path, monkeypatch):
    _entry_point(tmp_path, monkeypatch, "flight_delay", "team_pkg.flights")
    with pytest.raises(UseCaseError, match=r"Use case 'flight_delay': name: registered twice"):
        registered_packages({"flight_delay": "usecases.flight_delay"})


def test_a_use_case_enabled_twice_is_refused(monkeypatch):
    monkeypatch.setenv("MLOPS_USECASES", "flight_delay, flight_delay")
    with pytest.raises(UseCaseError, match="enabled twice"):
        enabled_names(())


def test_a_package_that_cannot_be_imported_is_refused_naming_it():
    with pytest.raises(UseCaseError, match=r"Use case 'ghost': package: cannot import 'no_such_package_xyz'"):
        load_usecase("ghost", "no_such_package_xyz")


def test_a_package_registered_under_another_name_is_refused():
    with pytest.raises(UseCaseError, match="is named 'flight_delay'; register it under that name"):
        load_usecase("other_name", "usecases.flight_delay")


# ---- settings per use case --------------------------------------------------------------------------------------
def test_settings_of_a_use_case_live_under_its_own_folder_of_each_root():
    platform = load_settings("staging", usecase=None)
    settings = load_settings("staging", usecase="flight_delay")
    assert settings.usecase == "flight_delay"
    assert settings.lakehouse.root.endswith("/staging/lakehouse/flight_delay")
    assert settings.lakehouse.landing_root.endswith("/staging/landing/flight_delay")
    assert settings.mlflow.model_name == "flight_delay_staging"
    assert settings.data.origins == ("EWR",)  # the use case's own `data` model, from its config
    assert platform.usecase == "flight_delay"  # None selects the first enabled use case


def _copy_package(tmp_path: Path, name: str, config_edit=None, **replaced: str) -> str:
    """A use-case package `<name>_pkg` that is the flights use case under another name (and other fields)."""
    package = tmp_path / "pkgs" / f"{name}_pkg"
    config = package / "config"
    shutil.copytree(ROOT / "usecases" / "flight_delay" / "config", config)
    for env_file in config.glob("*.yaml"):
        text = "\n".join(line for line in env_file.read_text().splitlines() if "_name:" not in line)
        env_file.write_text(config_edit(text) if config_edit else text)
    extra = "".join(f", {k}={v}" for k, v in replaced.items())
    (package / "__init__.py").write_text(
        textwrap.dedent(f'''
        """A copy of the flight-delay use case named {name}, for tests."""
        import dataclasses
        from pathlib import Path

        from usecases.flight_delay import usecase as _flights


        def usecase():
            base = _flights()
            folder = str(Path(__file__).parent / "config")
            return dataclasses.replace(base, name={name!r}, config_dir=folder{extra})
        ''')
    )
    return f"{name}_pkg"


@pytest.fixture
def second_usecase(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    package = _copy_package(tmp_path, "flight_copy")
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": {"flight_copy": package}}}))
    monkeypatch.setenv("MLOPS_USECASES", "flight_delay,flight_copy")
    return "flight_copy"


def test_two_use_cases_have_their_own_tables_landing_and_mlflow_names(second_usecase):
    assert enabled_usecases("staging") == ("flight_delay", "flight_copy")
    one, two = (load_settings("staging", usecase=n) for n in ("flight_delay", second_usecase))
    assert one.lakehouse.root != two.lakehouse.root and two.lakehouse.root.endswith("/flight_copy")
    assert one.lakehouse.landing_root != two.lakehouse.landing_root
    assert (two.mlflow.experiment_name, two.mlflow.model_name) == ("flight_copy_staging", "flight_copy_staging")
    assert one.mlflow.model_name == "flight_delay_staging"


def test_a_use_case_config_may_not_set_platform_sections(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    package = _copy_package(tmp_path, "bad_cfg", lambda text: text + "\nspark:\n  master: local[8]\n")
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": {"bad_cfg": package}}}))
    monkeypatch.setenv("MLOPS_USECASES", "bad_cfg")
    with pytest.raises(ConfigError, match=r"bad_cfg_pkg/config/staging.yaml:\n  spark: not a use-case setting"):
        load_settings("staging", usecase="bad_cfg")


def test_an_unknown_key_in_a_use_case_config_is_named_with_its_file(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    package = _copy_package(tmp_path, "typo_cfg", lambda text: text.replace("  origins:", "  airports:"))
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": {"typo_cfg": package}}}))
    monkeypatch.setenv("MLOPS_USECASES", "typo_cfg")
    with pytest.raises(ConfigError, match=r"typo_cfg_pkg/config/staging.yaml \(data\):\n  airports: unknown key"):
        load_settings("staging", usecase="typo_cfg")


def test_a_use_case_that_is_not_enabled_is_refused():
    with pytest.raises(UseCaseError, match=r"Use case 'churn': usecases.enabled: not enabled"):
        load_settings("staging", usecase="churn")


# ---- DAGs per use case -----------------------------------------------------------------------------------------
def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    from mlops_airflow.scheduling import usecase_settings

    usecase_settings.cache_clear()  # read once per parse process; these tests change the enabled use cases
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        usecase_settings.cache_clear()


def test_every_pipeline_is_built_once_per_enabled_use_case(second_usecase):
    bag = _dagbag()
    assert bag.import_errors == {}
    expected = {f"{u}.{p}" for u in ("flight_delay", second_usecase) for p in PIPELINES}
    assert set(bag.dags) == expected
    one, two = (bag.dags[f"{u}.feature_refresh"] for u in ("flight_delay", second_usecase))
    outlets = [{a.uri for t in d.tasks for a in t.outlets} for d in (one, two)]
    assert outlets[0] and not outlets[0] & outlets[1]
    assert "lakehouse://flight_copy/features/flight_schedule" in outlets[1]
    assert {t.usecase for t in two.tasks if hasattr(t, "usecase")} == {second_usecase}


def test_a_broken_use_case_is_an_import_error_and_the_others_keep_their_dags(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    model = "dataclasses.replace(base.model, task='ranking')"
    package = _copy_package(tmp_path, "broken_uc", model=model)
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": {"broken_uc": package}}}))
    monkeypatch.setenv("MLOPS_USECASES", "flight_delay,broken_uc")
    bag = _dagbag()
    assert set(bag.dags) == {f"flight_delay.{p}" for p in PIPELINES}
    assert list(bag.import_errors) == [str(DAGS / "usecase_check.py")]
    message = next(iter(bag.import_errors.values()))
    assert "Use case 'broken_uc': model.task: unknown task type 'ranking'" in message


# ---- model classes per task type ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "classes", "problem"),
    [
        ("multiclass", None, "a multiclass model needs 2+ distinct classes, got []"),
        ("multiclass", (0, 1, 1), "a multiclass model needs 2+ distinct classes"),
        ("multiclass", (2, 0, 1), "list them sorted as predict_proba orders its columns: [0, 1, 2], not [2, 0, 1]"),
        ("multiclass", (0, "a"), "classes must be of one sortable type"),
        ("regression", (0, 1), "only multiclass models list classes; a regression has none"),
    ],
)
def test_model_classes_must_fit_the_task_type(flights, task, classes, problem):
    model = dataclasses.replace(flights.model, task=task, classes=classes)
    with pytest.raises(UseCaseError) as caught:
        check_usecase(dataclasses.replace(flights, model=model))
    assert caught.value.field_name == "model.classes" and problem in caught.value.problem


def test_a_multiclass_model_with_sorted_classes_is_valid(flights):
    check_usecase(
        dataclasses.replace(flights, model=dataclasses.replace(flights.model, task="multiclass", classes=(0, 1, 2)))
    )


# ---- bad input for the contract, beside a working use case (issue 17 item 5) ------------------------------------
BROKEN = "__import__('tests.unit._broken_rules', fromlist=['_'])"


def _enable_with_flights(tmp_path: Path, monkeypatch, name: str, **replaced: str) -> None:
    """flight_delay and a broken copy `name` enabled together, each with its tables under tmp_path/lakehouse."""
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    package = _copy_package(tmp_path, name, **replaced)
    monkeypatch.setenv("MLOPS_SETTINGS", json.dumps({"usecases": {"packages": {name: package}}}))
    monkeypatch.setenv("MLOPS_USECASES", f"flight_delay,{name}")
    monkeypatch.setenv("MLOPS_LAKEHOUSE_ROOT", str(tmp_path / "lakehouse"))


def test_a_name_registered_twice_fails_alone_and_the_others_keep_their_dags(tmp_path, monkeypatch):
    _entry_point(tmp_path, monkeypatch, "flight_copy", "team_pkg.flights")
    _enable_with_flights(tmp_path, monkeypatch, "flight_copy")
    assert load_settings("staging", usecase="flight_delay").usecase == "flight_delay"
    bag = _dagbag()
    assert set(bag.dags) == {f"flight_delay.{p}" for p in PIPELINES}
    message = next(iter(bag.import_errors.values()))
    assert "Use case 'flight_copy': name: registered twice, as 'team_pkg.flights' and as 'flight_copy_pkg'" in message


def test_a_job_reading_an_undeclared_column_fails_its_check_and_the_other_refreshes(tmp_path, monkeypatch, spark):
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_airflow.operators.features import CheckUseCaseCodeOperator, ComputeFeaturesOperator
    from tests.unit._bronze import reference_frames, write_bronze

    job = f"{BROKEN}.with_job(base, 'features.origin_weather', {BROKEN}.snowfall_weather_job).features"
    _enable_with_flights(tmp_path, monkeypatch, "broken_job", features=job)
    assert {d.split(".")[0] for d in _dagbag().dags} == {"flight_delay", "broken_job"}  # a runtime check: both parse
    with pytest.raises(AirflowFailException) as caught:
        CheckUseCaseCodeOperator(task_id="check_code", usecase="broken_job", spark_conn_id=None).execute({})
    assert str(caught.value).startswith(
        "Use case 'broken_job': features.origin_weather: reads column 'snowfall' that datasets.weather does not declare"
    )
    CheckUseCaseCodeOperator(task_id="check_code", usecase="flight_delay", spark_conn_id=None).execute({})
    day = date(2013, 1, 3)
    write_bronze(Lakehouse(str(tmp_path / "lakehouse" / "flight_delay")), reference_frames(day, day, ("EWR",)))
    compute = ComputeFeaturesOperator(
        task_id="compute", table="features.origin_weather", day=day.isoformat(), usecase="flight_delay",
        spark_conn_id=None,
    )  # fmt: skip
    assert compute.execute({"run_id": "manual__test", "outlet_events": {}})["rows"] == 24


def test_a_label_rule_reading_the_future_fails_its_training_and_the_other_trains(tmp_path, monkeypatch, spark):
    from mlops.training.dataset import TrainingWindow, build_training_set
    from mlops.usecase.check import main
    from tests.unit._training import LAST, WINDOW_DAYS, training_lakehouse

    labels = f"{BROKEN}.with_labels(base, {BROKEN}.next_day_labels).labels"
    _enable_with_flights(tmp_path, monkeypatch, "broken_labels", labels=labels)
    assert {d.split(".")[0] for d in _dagbag().dags} == {"flight_delay", "broken_labels"}
    builds = {}
    for name in ("flight_delay", "broken_labels"):
        lakehouse = training_lakehouse(tmp_path / "lakehouse" / name)
        settings = load_settings("staging", usecase=name)
        window = TrainingWindow.from_settings(settings, LAST, WINDOW_DAYS)
        try:
            builds[name] = build_training_set(spark, lakehouse, settings, window).counts()["train"]
        except UseCaseError as exc:
            builds[name] = str(exc)
    assert builds["flight_delay"] > 1000
    assert builds["broken_labels"].startswith(
        "Use case 'broken_labels': labels.spark: label 'delayed' reads data published after its label_known_ts: "
        "20 of 220 labels known by 2013-01-17 change when bronze stops at 2013-01-17"
    )
    assert main(["broken_labels", "--env", "staging", "--window-end", LAST.isoformat()]) == 1
