"""The production stack's files are consistent: Compose schema, .env.example, pinned versions, health checks."""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import json
import re
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.deploy._compose import (
    COMPOSE_SCHEMA,
    DEPLOY_DIR,
    ROOT,
    InterpolationError,
    dockerfile_args,
    dockerfile_env,
    dockerfile_instructions,
    interpolate,
    load_env_file,
    load_yaml,
    references,
    requirement_pins,
    schema_errors,
)

COMPOSE = ROOT / "docker-compose.yaml"
CELERY = ROOT / "docker-compose.celery.yaml"
COMPOSE_FILES = [COMPOSE, CELERY]
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SITE = Path(yaml.__file__).resolve().parents[1]  # the virtualenv's site-packages
SECRET = re.compile(r"PASSWORD|SECRET|FERNET")
ONE_SHOT = {"airflow-init", "airflow-cli"}  # exit when done: no health check, no restart
CONDITIONS = {"service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return load_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def stack(env_example) -> dict:
    """docker-compose.yaml as Compose runs it with .env copied from .env.example."""
    return interpolate(load_yaml(COMPOSE), env_example)


def test_compose_schema_is_the_vendored_file_named_in_readme():
    digest = hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest()
    assert digest in (DEPLOY_DIR / "README.md").read_text(), "compose-spec.json changed: update its provenance"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_validates_against_compose_spec(path):
    assert schema_errors(load_yaml(path)) == []


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_validates_after_interpolating_env_example(path, env_example):
    assert schema_errors(interpolate(load_yaml(path), env_example)) == []


BREAKAGES = {
    "misspelt_service_key": lambda d: d["services"]["postgres"].update(helthcheck={"test": ["CMD", "true"]}),
    "unknown_depends_on_condition": lambda d: d["services"]["airflow-scheduler"]["depends_on"]["postgres"].update(
        condition="service_ready"
    ),
    "healthcheck_test_not_a_command": lambda d: d["services"]["mlflow"]["healthcheck"].update(test={"cmd": "curl"}),
    "unknown_top_level_key": lambda d: d.update(service={}),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_compose_schema_rejects_a_broken_copy(tmp_path, breakage):
    broken = copy.deepcopy(load_yaml(COMPOSE))
    BREAKAGES[breakage](broken)
    path = tmp_path / "docker-compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert schema_errors(load_yaml(path)), f"the schema accepted a compose file with {breakage}"


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    text = "$$SET ${SET} ${MISSING:-d} ${EMPTY:-d} ${EMPTY-d} ${SET:+alt} ${MISSING+alt} $SET"
    assert interpolate(text, env) == "$SET v d d  alt  v"
    with pytest.raises(InterpolationError, match="EMPTY"):
        interpolate("${EMPTY:?set EMPTY}", env)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_compose_variable_is_in_env_example(path, env_example):
    missing = sorted({name for name, _ in references(load_yaml(path))} - set(env_example))
    assert missing == [], f"{path.name} uses variables that .env.example does not list"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_secrets_are_required_variables(path):
    optional = sorted({name for name, op in references(load_yaml(path)) if SECRET.search(name) and op != ":?"})
    assert optional == [], "secrets need ${VAR:?message}, so a missing .env fails instead of using a default"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_refuses_to_start_without_secrets(path, env_example):
    without = {k: v for k, v in env_example.items() if not SECRET.search(k)}
    with pytest.raises(InterpolationError):
        interpolate(load_yaml(path), without)


def test_env_example_secrets_are_placeholders(env_example):
    secrets = {k: v for k, v in env_example.items() if SECRET.search(k)}
    assert len(secrets) >= 8
    assert {k: v for k, v in secrets.items() if not v.startswith("change-me")} == {}


def test_every_service_has_a_pinned_image_or_builds_the_dockerfile(stack):
    for name, service in stack["services"].items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and "/" not in tag, f"{name}: image {image!r} is not pinned"
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]) == DOCKERFILE, name
        else:
            assert re.fullmatch(r"\d+(\.\d+)+-\w+", tag), f"{name}: {image} needs an exact version tag"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_new_service_has_an_explicit_command(path):
    base = set(load_yaml(COMPOSE)["services"])
    for name, service in load_yaml(path)["services"].items():
        if path == COMPOSE or name not in base:  # the override only adds keys to existing services
            assert service.get("command"), f"{path.name}: {name} has no explicit command"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_long_running_services_have_health_checks(path):
    base = set(load_yaml(COMPOSE)["services"])
    for name, service in load_yaml(path)["services"].items():
        if name in ONE_SHOT or (path != COMPOSE and name in base):
            continue
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no health check"
        assert service.get("restart") == "always", f"{name} is not restarted when it dies"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_depends_on_waits_for_healthy_or_completed_services(path):
    files = [load_yaml(COMPOSE)["services"], load_yaml(path)["services"]]
    for name, service in files[1].items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert isinstance(rule, dict) and rule.get("condition") in CONDITIONS, f"{name} -> {target}: {rule}"
            needed = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert rule["condition"] == needed, f"{name} -> {target} should wait for {needed}"
            checked = any("healthcheck" in services.get(target, {}) for services in files)
            assert target in ONE_SHOT or checked, f"{target} has no health check"


def test_airflow_settings_exist_in_the_installed_airflow(stack):
    """Every AIRFLOW__SECTION__KEY the stack sets is an option of Airflow 3.3's configuration."""
    options = yaml.safe_load((SITE / "airflow" / "config_templates" / "config.yml").read_text())
    for key in stack["services"]["airflow-scheduler"]["environment"]:
        if key.startswith("AIRFLOW__"):
            section, option = key.removeprefix("AIRFLOW__").lower().split("__")
            assert option in options[section]["options"], f"{key}: Airflow has no [{section}] {option}"


def test_airflow_commands_exist_in_the_installed_airflow(stack):
    tree = ast.parse((SITE / "airflow" / "cli" / "cli_config.py").read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    names = {kw.value.value for call in calls for kw in call.keywords if kw.arg == "name" and _is_str(kw.value)}
    for service in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert stack["services"][service]["command"] in names


def test_mlflow_server_options_exist_in_the_installed_mlflow(stack):
    tree = ast.parse((SITE / "mlflow" / "cli" / "__init__.py").read_text())
    server = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "server")
    shared = {  # options declared once in mlflow.utils.cli_args and used as @cli_args.NAME
        node.targets[0].id: node.value
        for node in ast.parse((SITE / "mlflow" / "utils" / "cli_args.py").read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    decorators = [shared.get(getattr(d, "attr", ""), d) for d in server.decorator_list]
    known = {flag for d in decorators for c in ast.walk(d) if _is_str(c) for flag in c.value.split("/")}  # --x/--no-x
    script = stack["services"]["mlflow"]["command"][-1]
    used = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", script.split("mlflow server", 1)[1]))
    assert used and used <= known, f"unknown mlflow server options: {used - known}"
    assert "basic-auth" in script and "--serve-artifacts" in used


def test_mlflow_auth_config_renders_for_mlflow_reader(tmp_path, monkeypatch, stack):
    environment = stack["services"]["mlflow"]["environment"]
    for key in ("MLFLOW_AUTH_DATABASE_URI", "MLFLOW_AUTH_DEFAULT_PERMISSION", "MLFLOW_AUTH_ADMIN_PASSWORD"):
        monkeypatch.setenv(key, environment[key])
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(tmp_path / "basic_auth.ini"))
    render = _load(ROOT / "docker" / "mlflow" / "render_auth_config.py", "render_auth_config")
    render.render(ROOT / "docker" / "mlflow" / "basic_auth.ini", tmp_path / "basic_auth.ini")
    from mlflow.server.auth.config import read_auth_config  # MLflow's own reader, as the server uses it

    config = read_auth_config()
    assert config.database_uri == environment["MLFLOW_AUTH_DATABASE_URI"].replace("$$", "$")
    assert config.database_uri.endswith("/mlflow_auth") and config.default_permission == "READ"
    assert len(config.admin_password) >= 12  # MLflow refuses shorter admin passwords


def test_mlflow_auth_config_refuses_a_missing_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_AUTH_DATABASE_URI", raising=False)
    render = _load(ROOT / "docker" / "mlflow" / "render_auth_config.py", "render_auth_config")
    with pytest.raises(SystemExit, match="MLFLOW_AUTH_DATABASE_URI"):
        render.render(ROOT / "docker" / "mlflow" / "basic_auth.ini", tmp_path / "basic_auth.ini")


def test_postgres_init_script_gets_every_variable_it_requires(stack):
    script = (ROOT / "docker" / "postgres" / "init-databases.sh").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", script))
    assert required and required <= set(stack["services"]["postgres"]["environment"])
    database = stack["services"]["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].rsplit("/", 1)[1]
    assert database == stack["services"]["postgres"]["environment"]["MLFLOW_DB_NAME"]


def test_spark_default_connection_points_at_the_connect_server(stack):
    conn = json.loads(stack["services"]["airflow-scheduler"]["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn["host"] == "sc://spark-connect:15002"
    assert "15002" in stack["services"]["spark-connect"]["expose"]
    assert "SparkConnectServer" in stack["services"]["spark-connect"]["command"][-1]


PINNED = {"AIRFLOW_VERSION": "apache-airflow", "SPARK_VERSION": "pyspark", "DELTA_VERSION": "delta-spark"}


@pytest.mark.parametrize("arg", PINNED)
def test_dockerfile_versions_match_requirements_and_constraints(arg):
    package, default = PINNED[arg], dockerfile_args(DOCKERFILE)[arg]
    assert default == requirement_pins(ROOT / "requirements.txt")[package]
    assert default == requirement_pins(ROOT / "constraints.txt")[package]
    assert default == version(package)  # what the tests themselves run against


def test_dockerfile_python_and_base_image_match_the_project():
    args, instructions = dockerfile_args(DOCKERFILE), dockerfile_instructions(DOCKERFILE)
    assert args["PYTHON_VERSION"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f">={args['PYTHON_VERSION']}" in (ROOT / "pyproject.toml").read_text()
    froms = [arguments for instruction, arguments in instructions if instruction == "FROM"]
    assert froms == ["apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}"]
    assert args["SPARK_BINARY_VERSION"] == ".".join(args["SPARK_VERSION"].split(".")[:2])
    assert args["JAVA_PACKAGE"] == "openjdk-17-jre-headless"


def test_dockerfile_delta_jars_are_the_artifact_delta_spark_asks_for():
    from delta.pip_utils import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    packages = configure_spark_with_delta_pip(SparkSession.builder)._options["spark.jars.packages"]
    _, artifact, delta_version = packages.split(":")
    jars = [Path(p).name for p in dockerfile_env(DOCKERFILE)["MLOPS_DELTA_JARS"].split(",")]
    assert jars == [f"{artifact}-{delta_version}.jar", f"delta-storage-{delta_version}.jar"]


def test_dockerfile_spark_connect_jar_exists_in_pyspark():
    jar = Path(dockerfile_env(DOCKERFILE)["SPARK_CONNECT_JAR"]).name
    assert (SITE / "pyspark" / "jars" / jar).is_file()


def test_dockerfile_installs_pinned_requirements_with_constraints_as_airflow():
    instructions = dockerfile_instructions(DOCKERFILE)
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users[-1] == "airflow"
    copies = " ".join(arguments for instruction, arguments in instructions if instruction == "COPY")
    assert "requirements.txt" in copies and "constraints.txt" in copies
    for folder in ("dags", "plugins", "include", "usecases"):  # every package the editable install maps
        assert f"{folder} /opt/airflow/{folder}" in copies, f"the image does not copy {folder}/"
    installs = [i for i, (instruction, arguments) in enumerate(instructions) if "pip install" in arguments]
    assert len(installs) == 2, "the pinned dependencies, then the project itself"
    command = instructions[installs[0]][1]
    assert "-r /opt/airflow/requirements.txt" in command and "-c /opt/airflow/constraints.txt" in command
    # Data packages whose declared dependencies are not needed (ISLP declares torch), in the same layer.
    assert "--no-deps -r /opt/airflow/requirements-nodeps.txt -c /opt/airflow/constraints.txt" in command
    assert "requirements-nodeps.txt" in copies
    project = instructions[installs[1]][1]
    assert "--no-deps -e /opt/airflow" in project, "the project installs without touching the pinned set"
    assert "pyproject.toml /opt/airflow/pyproject.toml" in copies
    code_copied = max(i for i, (instruction, arguments) in enumerate(instructions) if instruction == "COPY")
    assert installs[1] > code_copied, "the project installs after its code is copied"
    for install in installs:
        user_then = [arguments for instruction, arguments in instructions[:install] if instruction == "USER"]
        assert user_then[-1] == "airflow", "pip install runs as the airflow user, the official image's way"
    assert "PYTHONPATH" not in dockerfile_env(DOCKERFILE), "the installed package replaces PYTHONPATH"


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_copies():
    ignored = {line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"}
    assert {".venv", ".mlops", "mlruns", ".git", ".env"} <= ignored
    copied = {
        "dags",
        "plugins",
        "include",
        "usecases",
        "docker",
        "requirements.txt",
        "requirements-nodeps.txt",
        "constraints.txt",
        "pyproject.toml",
    }
    assert copied.isdisjoint(ignored)


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
