"""deploy/kubernetes (and its proxy overlay), checked without a cluster.

The base is rendered by ``kustomize`` (or ``kubectl kustomize``) where one is
installed, else by joining its ``resources`` (all kustomize does for a
kustomization of resources alone), and every object is validated strictly
against the oldest and newest Kubernetes versions kubernetes-validate knows.
The last test runs what the cluster would run, the commands, arguments and
environment read from the manifests, against this machine's PostgreSQL, as
tests/end_to_end/test_deployment.py does for docker compose.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes_validate
import optuna
import pytest
import sqlalchemy
import yaml
from kubernetes_validate.utils import all_versions

from tests.end_to_end.test_deployment import dockerfile_instructions
from tests.helpers import ROOT
from tests.helpers.chaos import account
from tests.helpers.commands import free_port
from tests.helpers.studies import short_trials_toml
from tests.helpers.tls import self_signed
from tuner.cli import build_parser
from tuner.exceptions import ConfigError
from tuner.search import memory
from tuner.search.study import create_study
from tuner.search.studyfile import load_study_file, parse_study_text
from tuner.storage.url import DatabaseURL

BASE = ROOT / "deploy" / "kubernetes"
PROXY_OVERLAY = ROOT / "deploy" / "kubernetes-proxy"
SECRET_EXAMPLE = BASE / "secret.example.yaml"
PASSWORD_SECRET = ("tuner-postgres", "password")
WORKER_FOOTPRINT = 2**30
"""A worker's memory besides its trial: TensorFlow and one fast trial peak at 965 MiB
(docs/benchmarks.md); the worker Job's comment and docs/kubernetes.md size by it."""


def kustomize() -> list[str] | None:
    """The command that renders a kustomization, or None where neither tool is installed."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def assembled(directory: Path) -> list[dict]:
    """The base's objects, joined from its ``resources`` as kustomize would render them."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kustomization) == {"apiVersion", "kind", "resources"}, "only resources to join"
    return [
        document
        for resource in kustomization["resources"]
        for document in yaml.safe_load_all((directory / resource).read_text())
        if document
    ]


def rendered(directory: Path) -> list[dict]:
    """The objects ``kubectl apply -k directory`` would apply."""
    command = kustomize()
    if command is None:
        if directory != BASE:
            pytest.skip("no kustomize or kubectl to render an overlay with patches")
        return assembled(directory)
    output = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [document for document in yaml.safe_load_all(output) if document]


def named(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(item["kind"], item["metadata"]["name"]): item for item in objects}


def pod_spec(item: dict) -> dict:
    return item["spec"]["template"]["spec"]


def tuner_containers(objects: list[dict]) -> Iterator[tuple[str, dict]]:
    """(object name, container) for every container that runs the project's image."""
    for item in objects:
        if "template" not in item.get("spec", {}):
            continue
        spec = pod_spec(item)
        for container in spec.get("initContainers", []) + spec["containers"]:
            if container["image"].startswith("lstm-tuner:"):
                yield item["metadata"]["name"], container


def environment_of(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def edge_versions() -> list[str]:
    versions = all_versions()  # sorted oldest first
    return [versions[0], versions[-1]]


@pytest.mark.parametrize("directory", [BASE, PROXY_OVERLAY], ids=["base", "proxy"])
@pytest.mark.parametrize("version", edge_versions())
def test_the_manifests_validate_strictly(directory, version):
    objects = rendered(directory) + list(yaml.safe_load_all(SECRET_EXAMPLE.read_text()))
    for item in objects:
        kubernetes_validate.validate(item, version, strict=True)


def test_joining_the_resources_renders_what_kustomize_renders():
    if kustomize() is None:
        pytest.skip("no kustomize or kubectl to compare with")
    assert named(assembled(BASE)) == named(rendered(BASE))


def test_the_study_configmap_is_the_shipped_study_file():
    configmap = named(rendered(BASE))["ConfigMap", "tuner-study"]
    assert configmap["data"] == {"shampoo.toml": (ROOT / "studies" / "shampoo.toml").read_text()}


def test_every_tuner_container_is_a_valid_invocation_of_one_study():
    assert dict(dockerfile_instructions())["ENTRYPOINT"] == '["tuner"]'  # args follow `tuner`
    objects = named(rendered(BASE))
    create = pod_spec(objects["Job", "tuner-create"])
    worker = pod_spec(objects["Job", "tuner-worker"])
    create_args = build_parser().parse_args(create["containers"][0]["args"])
    worker_args = build_parser().parse_args(worker["containers"][0]["args"])
    mount = create["containers"][0]["volumeMounts"][0]
    assert mount["mountPath"] == str(Path(create_args.study_file).parent)
    configmap = objects["ConfigMap", "tuner-study"]
    study_text = configmap["data"][Path(create_args.study_file).name]
    assert parse_study_text(study_text).name == worker_args.name == "shampoo"
    wait = worker["initContainers"][0]["command"]
    assert f"tuner status {worker_args.name} " in wait[-1]
    dashboard = build_parser().parse_args(
        pod_spec(objects["Deployment", "tuner-dashboard"])["containers"][0]["args"]
    )
    assert dashboard.host == "127.0.0.1"  # reached by kubectl port-forward only


@pytest.mark.parametrize("directory", [BASE, PROXY_OVERLAY], ids=["base", "proxy"])
def test_no_password_or_token_is_written_in_the_manifests(directory):
    for name, container in tuner_containers(rendered(directory)):
        assert not any("password" in part.lower() for part in container.get("args", []))
        env = environment_of(container)
        assert not DatabaseURL.parse(env["TUNER_STORAGE"]["value"]).has_password, name
        for variable in ("PGPASSWORD", "TUNER_PROXY_TOKEN"):
            assert "value" not in env.get(variable, {}), f"{name}: {variable} written out"
        if "PGPASSWORD" in env:
            reference = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
            assert (reference["name"], reference["key"]) == PASSWORD_SECRET


def test_postgresql_reads_its_password_from_the_secret_and_the_placeholder_is_not_applied():
    postgres = pod_spec(named(rendered(BASE))["StatefulSet", "tuner-postgres"])
    container = postgres["containers"][0]
    env = environment_of(container)
    assert "POSTGRES_PASSWORD" not in env
    path = Path(env["POSTGRES_PASSWORD_FILE"]["value"])
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volume = next(item for item in postgres["volumes"] if item["name"] == mounts[str(path.parent)])
    assert volume["secret"]["secretName"] == PASSWORD_SECRET[0]
    assert {"key": PASSWORD_SECRET[1], "path": path.name} in volume["secret"]["items"]
    assert ("Secret", "tuner-postgres") not in named(rendered(BASE)), "the placeholder applied"
    example = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert example["stringData"] == {"password": "CHANGE-ME"}


def test_postgresql_keeps_its_data_and_says_when_it_is_ready():
    objects = named(rendered(BASE))
    postgres = objects["StatefulSet", "tuner-postgres"]
    assert postgres["spec"]["serviceName"] == "tuner-postgres"
    assert ("Service", "tuner-postgres") in objects
    claim = postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    container = pod_spec(postgres)["containers"][0]
    assert claim in {mount["name"] for mount in container["volumeMounts"]}
    assert container["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    create = pod_spec(objects["Job", "tuner-create"])
    assert "pg_isready -h tuner-postgres" in create["initContainers"][0]["command"][-1]


def test_the_worker_job_scales_by_parallelism_and_survives_a_scale_down():
    worker = named(rendered(BASE))["Job", "tuner-worker"]
    spec = worker["spec"]
    assert spec["parallelism"] >= 1 and "completions" not in spec and spec["backoffLimit"] >= 1
    rules = spec["podFailurePolicy"]["rules"]
    ignored = {code for rule in rules for code in rule.get("onExitCodes", {}).get("values", [])}
    assert ignored == {130}  # README: a worker ended by SIGTERM requeues its trial, exits 130
    study, _ = load_study_file(str(ROOT / "studies" / "shampoo.toml"))
    # the SIGTERM handling ends after the running TensorFlow call; far more than a beat
    assert pod_spec(worker)["terminationGracePeriodSeconds"] >= 4 * study.workers.grace_period
    container = pod_spec(worker)["containers"][0]
    cache = environment_of(container)["TUNER_COMPILE_CACHE"]["value"]
    mounted = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(worker)["volumes"]}
    assert "emptyDir" in volumes[mounted[cache]], "the compile cache is one volume per pod"


def test_worker_memory_follows_the_estimate_tuner_create_makes(tmp_path, monkeypatch):
    worker = pod_spec(named(rendered(BASE))["Job", "tuner-worker"])["containers"][0]
    resources = worker["resources"]
    assert resources["requests"] == resources["limits"]  # nothing to take from a neighbour
    limit = parse_quantity(resources["limits"]["memory"])
    # `tuner create` lets a trial take half the memory it sees: see the limit less the
    # worker's own footprint as that memory
    monkeypatch.setattr(memory, "physical_memory", lambda: limit - WORKER_FOOTPRINT)
    text = (ROOT / "studies" / "shampoo.toml").read_text()
    create_study(parse_study_text(text), text, f"sqlite:///{tmp_path / 'fits.db'}")
    bigger = text.replace("repeats = 10 ", "repeats = 1000 ").replace("high = 5 }", "high = 400 }")
    with pytest.raises(ConfigError, match="needs about"):
        create_study(parse_study_text(bigger), bigger, f"sqlite:///{tmp_path / 'big.db'}")


def parse_quantity(text: str) -> int:
    """Bytes of a Kubernetes memory quantity in binary units (``2Gi``, ``512Mi``)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(text[:-2]) * units[text[-2:]]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) selects ``labels``."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    expressions = selector.get("matchExpressions", [])
    assert all(expression["operator"] == "In" for expression in expressions)
    return all(labels.get(item["key"]) in item["values"] for item in expressions)


def admitted(objects: list[dict], target: dict[str, str], source: dict[str, str], port: int):
    """Whether the NetworkPolicies let a pod labelled ``source`` reach ``target`` on ``port``."""
    policies = [
        item
        for item in objects
        if item["kind"] == "NetworkPolicy" and selects(item["spec"]["podSelector"], target)
    ]
    assert policies, f"no NetworkPolicy governs {target}"
    return any(
        any(selects(peer["podSelector"], source) for peer in rule["from"])
        and any(entry["port"] == port for entry in rule["ports"])
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
    )


def pod_labels(objects: list[dict]) -> dict[str, dict[str, str]]:
    return {
        item["metadata"]["name"]: item["spec"]["template"]["metadata"]["labels"]
        for item in objects
        if "template" in item.get("spec", {})
    }


STRANGER = {"app.kubernetes.io/name": "something-else", "app.kubernetes.io/component": "worker"}
PROXY_LABELS = {"app.kubernetes.io/name": "lstm-tuner", "app.kubernetes.io/component": "proxy"}


def test_network_policies_let_only_tuners_pods_reach_postgresql_and_none_reach_tuners():
    objects = rendered(BASE)
    labels = {**pod_labels(objects), "tuner-proxy": PROXY_LABELS}
    postgres = labels["tuner-postgres"]
    for name in ("tuner-create", "tuner-worker", "tuner-dashboard", "tuner-proxy"):
        assert admitted(objects, postgres, labels[name], 5432), name
    assert not admitted(objects, postgres, STRANGER, 5432)
    for name in ("tuner-create", "tuner-worker", "tuner-dashboard"):
        for source in [*labels.values(), STRANGER]:
            assert not admitted(objects, labels[name], source, 8080), name


def test_network_policies_let_only_create_and_worker_pods_reach_the_proxy():
    objects = rendered(PROXY_OVERLAY)
    labels = pod_labels(objects)
    proxy = labels["tuner-proxy"]
    assert proxy == PROXY_LABELS
    for name in ("tuner-create", "tuner-worker"):
        assert admitted(objects, proxy, labels[name], 13000), name
    for name in ("tuner-dashboard", "tuner-postgres"):
        assert not admitted(objects, proxy, labels[name], 13000), name
    assert not admitted(objects, proxy, STRANGER, 13000)


def test_the_proxy_overlay_serves_tls_and_a_token_and_workers_hold_no_password():
    objects = named(rendered(PROXY_OVERLAY))
    proxy = pod_spec(objects["Deployment", "tuner-proxy"])["containers"][0]
    args = build_parser().parse_args(proxy["args"])
    assert args.host == "0.0.0.0" and not args.insecure
    assert args.tls_cert and args.tls_key
    assert "TUNER_PROXY_TOKEN_FILE" in environment_of(proxy)
    service = objects["Service", "tuner-proxy"]["spec"]["ports"][0]
    assert service["port"] == args.port
    for job in ("tuner-create", "tuner-worker"):
        spec = pod_spec(objects["Job", job])
        for container in spec.get("initContainers", []) + spec["containers"]:
            if not container["image"].startswith("lstm-tuner:"):
                continue
            env = environment_of(container)
            assert "PGPASSWORD" not in env, job
            url = DatabaseURL.parse(env["TUNER_STORAGE"]["value"])
            assert url.is_proxy and url.where == f"tuner-proxy:{args.port}"
            assert {"TUNER_PROXY_CA_FILE", "TUNER_PROXY_TOKEN_FILE"} <= set(env)


# ---------------------------------------------------------------------------
# What the cluster runs, run here

K8S_STUDY = short_trials_toml(
    "shampoo",  # the name the Jobs' arguments give
    trials=10,
    repeats=2,
    engine="keras",  # a trial of a second or two, so that signals land mid-trial
    workers={"heartbeat_interval": 1, "grace_period": 3, "max_retry": 10, "trials_per_graph": 1},
)


class Pods:
    """Runs the manifests' containers as local processes, mapped as the cluster would run them.

    A Secret's keys become files (or, for the password, the local database's), the
    Services' DNS names and ports the local servers', and each volume a directory:
    the study ConfigMap holds this test's small study under the same key, an
    emptyDir is one per pod.
    """

    def __init__(
        self,
        objects: dict,
        database: str,
        root: Path,
        study: str,
        secrets: dict[str, dict[str, bytes]] | None = None,
        proxy_port: int | None = None,
    ) -> None:
        self.objects = objects
        self.database = sqlalchemy.engine.make_url(database)
        self.root = root
        self.study = study
        self.secrets = secrets or {}
        self.proxy_port = proxy_port
        self.count = 0

    def start(self, owner: tuple[str, str], container: dict) -> subprocess.Popen:
        """Start ``container`` of the pod template of ``owner`` (kind, name)."""
        pod = self.root / f"{owner[1]}-{self.count}"
        self.count += 1
        pod.mkdir()
        mounts = self._mounts(owner, container, pod)
        if "command" in container:  # a shell loop: `tuner` from this environment's PATH
            command = [self._local(part, mounts) for part in container["command"]]
        else:  # the image's ENTRYPOINT, `tuner`, and the container's arguments
            args = [self._local(part, mounts) for part in container["args"]]
            if "--port" in args and self.proxy_port is not None:
                args[args.index("--port") + 1] = str(self.proxy_port)
            command = [sys.executable, "-m", "tuner", *args]
        return subprocess.Popen(
            command,
            env=self._environment(container, mounts),
            cwd=pod,
            stdout=(pod / "out").open("w"),
            stderr=(pod / "err").open("w"),
        )

    def run(self, owner: tuple[str, str], container: dict, timeout: float) -> int:
        return self.start(owner, container).wait(timeout=timeout)

    def _mounts(self, owner: tuple[str, str], container: dict, pod: Path) -> dict[str, Path]:
        volumes = {volume["name"]: volume for volume in pod_spec(self.objects[owner])["volumes"]}
        mounts = {}
        for mount in container.get("volumeMounts", []):
            volume, local = volumes[mount["name"]], pod / mount["name"]
            local.mkdir()
            if "configMap" in volume:
                assert volume["configMap"]["name"] == "tuner-study"
                data = self.objects["ConfigMap", "tuner-study"]["data"]
                assert list(data) == ["shampoo.toml"]
                (local / "shampoo.toml").write_text(self.study)
            elif "secret" in volume:
                data = self.secrets[volume["secret"]["secretName"]]
                items = volume["secret"].get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    (local / item["path"]).write_bytes(data[item["key"]])
            else:
                assert "emptyDir" in volume, mount["name"]
            mounts[mount["mountPath"]] = local
        return mounts

    def _local(self, text: str, mounts: dict[str, Path]) -> str:
        for path, local in mounts.items():
            if text == path or text.startswith(f"{path}/"):
                return str(local) + text[len(path) :]
        return text.replace(
            "-h tuner-postgres -p 5432", f"-h {self.database.host} -p {self.database.port}"
        )

    def _environment(self, container: dict, mounts: dict[str, Path]) -> dict[str, str]:
        declared = {}
        for name, entry in environment_of(container).items():
            if "value" in entry:
                declared[name] = self._local(entry["value"], mounts)
                continue
            reference = entry["valueFrom"]["secretKeyRef"]
            assert (reference["name"], reference["key"]) == PASSWORD_SECRET
            declared[name] = self.database.password or "unused-by-a-trusting-server"
        if "TUNER_STORAGE" in declared:  # the project's containers, not PostgreSQL's
            declared["TUNER_STORAGE"] = self._local_storage(declared["TUNER_STORAGE"])
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        return {**os.environ, "PATH": path, **declared}

    def _local_storage(self, text: str) -> str:
        url = DatabaseURL.parse(text)
        if url.is_proxy:
            assert url.where == "tuner-proxy:13000"
            return f"grpc://127.0.0.1:{self.proxy_port}"
        assert url.where == "tuner-postgres:5432"
        return self.database.render_as_string(hide_password=False)


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_what_the_jobs_run_meets_the_budget_through_sigterm_and_sigkill(postgres_url, tmp_path):
    objects = named(rendered(BASE))
    pods = Pods(objects, postgres_url, tmp_path, K8S_STUDY)
    create, worker = ("Job", "tuner-create"), ("Job", "tuner-worker")
    if shutil.which("pg_isready"):
        assert pods.run(create, pod_spec(objects[create])["initContainers"][0], 60) == 0
    assert pods.run(create, pod_spec(objects[create])["containers"][0], 180) == 0
    waits = [pods.start(worker, pod_spec(objects[worker])["initContainers"][0]) for _ in range(3)]
    assert [wait.wait(timeout=180) for wait in waits] == [0, 0, 0]
    workers = [pods.start(worker, pod_spec(objects[worker])["containers"][0]) for _ in range(3)]
    storage = optuna.storages.RDBStorage(postgres_url)

    def running() -> int:
        study = optuna.load_study(study_name="shampoo", storage=storage)
        states = [trial.state for trial in study.get_trials(deepcopy=False)]
        return states.count(optuna.trial.TrialState.RUNNING)

    wait_until(lambda: running() >= 3, 180, "every worker in a trial")
    scaled_down, killed = workers[:2]  # the third goes on to the end
    scaled_down.send_signal(signal.SIGTERM)  # what the Job does to a pod it scales away
    killed.send_signal(signal.SIGKILL)  # what the out-of-memory killer does
    codes = [process.wait(timeout=300) for process in workers]
    logs = {path.name: path.read_text() for path in tmp_path.glob("tuner-worker-*/err")}
    ignored = worker_ignored_exit_codes(objects)
    assert codes[0] in ignored, (codes, logs)  # scale-down: not a failure of the Job
    assert codes[1:] == [-signal.SIGKILL, 0], (codes, logs)
    trials = optuna.load_study(study_name="shampoo", storage=storage).trials
    accounting = account(trials, budget=10)
    assert accounting.finished == 10, accounting.details
    assert (accounting.lost, accounting.double_counted) == (0, 0), accounting.details
    assert accounting.running == accounting.waiting == 0, accounting.details
    assert accounting.retries >= 2, accounting.details  # the SIGTERMed and the SIGKILLed trial
    assert not any("Traceback" in log for log in logs.values()), logs
    storage.engine.dispose()


def worker_ignored_exit_codes(objects: dict) -> set[int]:
    rules = objects["Job", "tuner-worker"]["spec"]["podFailurePolicy"]["rules"]
    return {code for rule in rules for code in rule.get("onExitCodes", {}).get("values", [])}


@pytest.mark.slow
def test_what_the_proxy_overlay_runs_serves_its_workers_with_tls_and_the_token(
    postgres_url, tmp_path
):
    objects = named(rendered(PROXY_OVERLAY))
    cert, key = self_signed(tmp_path, "DNS:tuner-proxy,IP:127.0.0.1")  # as the docs make it
    token = "k8s-proxy-token-for-this-test"
    secrets = {
        "tuner-proxy-tls": {"tls.crt": cert.read_bytes(), "tls.key": key.read_bytes()},
        "tuner-proxy-token": {"token": f"{token}\n".encode()},
    }
    study = K8S_STUDY.replace('engine = "keras"', 'engine = "fast"').replace(
        "trials = 10", "trials = 4"
    )
    pods = Pods(objects, postgres_url, tmp_path, study, secrets, proxy_port=free_port())
    owner = ("Deployment", "tuner-proxy")
    proxy = pods.start(owner, pod_spec(objects[owner])["containers"][0])
    try:
        serving = tmp_path / "tuner-proxy-0" / "out"
        wait_until(lambda: "tuner proxy for" in serving.read_text(), 120, "the proxy serving")
        create, worker = ("Job", "tuner-create"), ("Job", "tuner-worker")
        assert pods.run(create, pod_spec(objects[create])["containers"][0], 180) == 0
        wait = pods.run(worker, pod_spec(objects[worker])["initContainers"][0], 180)
        assert wait == 0
        workers = [pods.start(worker, pod_spec(objects[worker])["containers"][0]) for _ in range(2)]
        assert [process.wait(timeout=300) for process in workers] == [0, 0]
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    trials = optuna.load_study(study_name="shampoo", storage=postgres_url).trials
    accounting = account(trials, budget=4)
    assert (accounting.finished, accounting.lost, accounting.double_counted) == (4, 0, 0)
    logs = "".join(
        path.read_text() for path in tmp_path.glob("*-*/*") if path.name in ("out", "err")
    )
    assert "Traceback" not in logs and token not in logs
