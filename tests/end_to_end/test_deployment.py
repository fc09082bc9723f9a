"""The Dockerfile and docker-compose.yml, checked without a Docker engine.

The compose file is parsed and its ``${...}`` interpolated as compose would,
with the example env file; every command goes through the real ``tuner`` parser,
and one test runs what ``docker compose up --scale worker=4`` would run, with the
same commands and environment, against this machine's PostgreSQL.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy
import yaml
from PIL import Image

from tests.helpers import ROOT
from tests.helpers.commands import served_artifacts, start_dashboard
from tests.helpers.studies import study_toml
from tuner.cli import build_parser
from tuner.outputs.artifacts import TRIAL_ARTIFACTS
from tuner.search.studyfile import load_study_file

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
EXAMPLE_ENV = ROOT / ".env.example"
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def example_env() -> dict[str, str]:
    """The example env file's variables."""
    pairs = (
        line.split("=", 1)
        for line in EXAMPLE_ENV.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(value: object, env: dict[str, str]) -> object:
    """Compose's interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, kind, argument = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise ValueError(f"{name}: {argument}")
        return argument if kind == "-" else ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def services(env: dict[str, str] | None = None) -> dict[str, dict]:
    """The compose services, interpolated with ``env`` (default: the example env file)."""
    document = yaml.safe_load(COMPOSE.read_text())
    return interpolate(document["services"], example_env() if env is None else env)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_every_service_command_is_a_valid_tuner_invocation():
    parsed = {
        name: build_parser().parse_args(service["command"])
        for name, service in services().items()
        if name != "postgres"
    }
    assert {name: args.command for name, args in parsed.items()} == {
        "create": "create",
        "worker": "worker",
        "dashboard": "dashboard",
    }
    study = example_env()["STUDY"]
    assert parsed["create"].study_file == f"studies/{study}.toml"
    assert parsed["worker"].name == study
    assert parsed["dashboard"].port == 8080


def test_one_variable_picks_the_study_name_and_file_and_every_study_file_fits():
    for path in sorted((ROOT / "studies").glob("*.toml")):
        config, _ = load_study_file(str(path))
        assert config.name == path.stem, f"{path}: name must be the file's stem for STUDY"
        chosen = services({**example_env(), "STUDY": path.stem})
        assert chosen["create"]["command"] == ["create", f"studies/{path.stem}.toml"]
        assert chosen["worker"]["command"] == ["worker", path.stem]


def test_every_file_the_images_and_services_name_exists():
    for name, service in services().items():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file(), name
    for instruction, arguments in dockerfile_instructions():
        if instruction == "COPY":
            *sources, _ = shlex.split(arguments)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}"
    study_file = services()["create"]["command"][1]
    assert (ROOT / study_file).is_file()


def test_health_check_dependencies_restarts_and_shared_artifacts():
    compose = services()
    postgres = compose["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+[\w.-]*", postgres["image"]), "pin the image"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.startswith("pgdata:") for volume in postgres["volumes"])
    assert compose["create"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("worker", "dashboard"):
        assert compose[name]["depends_on"] == {
            "create": {"condition": "service_completed_successfully"}
        }
        assert "artifacts:/artifacts" in compose[name]["volumes"]
        assert compose[name]["environment"]["TUNER_ARTIFACTS"] == "/artifacts"
    # the workers share their compiled graphs, kept across restarts
    assert "xla-cache:/xla-cache" in compose["worker"]["volumes"]
    assert compose["worker"]["environment"]["TUNER_COMPILE_CACHE"] == "/xla-cache"
    assert compose["worker"]["restart"] == "on-failure"
    assert compose["create"]["restart"] == "no"
    assert "deploy" not in compose["worker"] and "container_name" not in compose["worker"]
    storage = compose["worker"]["environment"]["TUNER_STORAGE"]
    assert storage == "postgresql+psycopg://tuner:tuner-dev-only@postgres:5432/tuner"


def test_no_port_is_published_beyond_localhost():
    published = [port for service in services().values() for port in service.get("ports", [])]
    assert published, "postgres and the dashboard publish ports"
    for port in published:
        assert str(port).startswith("127.0.0.1:"), port


def test_no_password_is_written_outside_the_example_env_file():
    password = example_env()["POSTGRES_PASSWORD"]
    docs = sorted((ROOT / "docs").glob("*.md"))
    for path in (COMPOSE, DOCKERFILE, ROOT / "README.md", *docs):
        assert password not in path.read_text(), path
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    assert raw["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    without_password = {k: v for k, v in example_env().items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(ValueError, match=r"set POSTGRES_PASSWORD in \.env"):
        services(without_password)


def test_the_image_is_slim_runs_as_a_user_and_takes_thread_settings():
    instructions = dockerfile_instructions()
    kinds = [kind for kind, _ in instructions]
    assert re.fullmatch(r"python:3\.\d+-slim[\w-]*", dict(instructions)["FROM"])
    user = dict(instructions)["USER"]
    assert user not in ("root", "0")
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN")
    env = " ".join(arguments for kind, arguments in instructions if kind == "ENV")
    assert "TF_NUM_INTRAOP_THREADS=" in env and "TF_NUM_INTEROP_THREADS=" in env
    assert dict(instructions)["ENTRYPOINT"] == '["tuner"]'
    default_command = yaml.safe_load(dict(instructions)["CMD"])
    assert default_command == ["--help"]
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(default_command)
    assert exit_.value.code == 0
    compose_env = services()["worker"]["environment"]
    assert compose_env["TF_NUM_INTRAOP_THREADS"] == example_env()["TUNER_TF_THREADS"]


def test_the_tf_thread_variables_reach_tensorflow():
    probe = (
        "import tensorflow as tf; t = tf.constant(1.0) + 1;"
        "import os; print(len(os.listdir('/proc/self/task')))"
    )

    def threads(count: str) -> int:
        env = {**os.environ, "TF_NUM_INTRAOP_THREADS": count, "TF_NUM_INTEROP_THREADS": count}
        result = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        return int(result.stdout.split()[-1])

    assert threads("1") < threads("8")


COMPOSE_STUDY = study_toml(
    "ci",
    trials=8,
    repeats=2,
    search={
        "epochs": [5, 10],
        "neurons": [1],
        "batch_size": [4],
        "regimes": ["seeded", "reset_epoch"],
    },
    pruner={"enabled": False},
)


@pytest.mark.slow
def test_what_compose_runs_works_against_postgresql(postgres_url, tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "ci.toml").write_text(COMPOSE_STUDY)
    compose = services({**example_env(), "STUDY": "ci"})
    artifacts = tmp_path / "artifacts"

    def environment(service: str) -> dict[str, str]:
        declared = {key: str(value) for key, value in compose[service]["environment"].items()}
        declared.update(
            TUNER_STORAGE=postgres_url,
            TUNER_ARTIFACTS=str(artifacts),
            TUNER_COMPILE_CACHE=str(tmp_path / "xla-cache"),
        )
        # A container starts without this process's TF_XLA_FLAGS, which a worker run
        # in a fixture of another test here may have pointed at its own cache.
        inherited = {k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}
        return {**inherited, **declared}

    def start(service: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tuner", *compose[service]["command"]],
            env=environment(service),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    create = start("create")
    assert create.wait(timeout=120) == 0, create.communicate()
    workers = [start("worker") for _ in range(4)]
    dashboard_command = compose["dashboard"]["command"]
    assert dashboard_command[dashboard_command.index("--host") + 1] == "0.0.0.0"
    options = [part for part in dashboard_command[1:] if part not in ("--host", "0.0.0.0")]
    options = options[: options.index("--port")]  # a free port instead of 8080, on loopback
    dashboard, base = start_dashboard(options, env=environment("dashboard"), cwd=tmp_path)
    try:
        connections = _max_connections_while(workers, postgres_url)
        for worker in workers:
            assert worker.wait(timeout=300) == 0, worker.communicate()
        assert list((tmp_path / "xla-cache").glob("tensorflow-*/*.pb"))  # the shared volume
        study = optuna.load_study(study_name="ci", storage=postgres_url)
        states = [trial.state for trial in study.trials]
        assert states == [optuna.trial.TrialState.COMPLETE] * 8
        served = served_artifacts(base, "ci")
        assert sorted(served) == list(range(8))
        for files in served.values():
            assert set(files) == set(TRIAL_ARTIFACTS)
            for content in files.values():
                Image.open(io.BytesIO(content)).verify()
        assert connections <= 4 * 3 + 5, connections  # docs/deployment.md: at most 3 per worker
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=10)


def _max_connections_while(processes: list[subprocess.Popen], url: str) -> int:
    """Most connections to the study database seen while ``processes`` run."""
    database = sqlalchemy.engine.make_url(url).database
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    query = sqlalchemy.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
    )
    most = 0
    while any(process.poll() is None for process in processes):
        with engine.connect() as connection:
            most = max(most, connection.execute(query, {"db": database}).scalar_one())
        time.sleep(0.2)
    engine.dispose()
    return most
