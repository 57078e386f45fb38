"""The deploy files: Dockerfile, compose stack, Prometheus, Alertmanager, Kubernetes manifests.

No Docker engine and no cluster here: the files are checked, not run. The compose file is
validated against the vendored compose-spec JSON schema (tests/deploy/compose-spec.json,
from compose-spec/compose-spec schema/compose-spec.json at commit 170098ba07d9), Kubernetes objects
against the schemas bundled in kubernetes-validate, Prometheus and Alertmanager configs with
promtool and amtool. Every command line given to an appwatch container is parsed by the real
CLI, and every config it mounts is loaded by the real loaders. No network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
K8S = DEPLOY / "k8s"
DOCKERFILE = REPO / "Dockerfile"
K8S_VERSION = "1.30.0"

# Env vars that hold secrets: never a literal value in a manifest.
SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSWORD|ROUTING_KEY|SLACK_.*URL")
# Mounted in compose but written by other work (may not exist yet).
PROVIDED_ELSEWHERE = {"prometheus/rules", "grafana/provisioning", "grafana/dashboards"}


def tool(name: str) -> str:
    """Path of a checker binary; skip without it, except in CI (`make test` installs it)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed (CI must install it: see the Makefile's apt packages)")
    pytest.skip(f"{name} is not installed")


def parse_cli(args: list[str]) -> None:
    """Parse an appwatch command line with the real CLI (options, types), without running it."""
    import typer.main

    from appwatch.cli import cli

    group = typer.main.get_command(cli)
    assert args and args[0] in group.commands, f"unknown appwatch command in {args}"
    cmd = group.commands[args[0]]
    cmd.make_context(f"appwatch {args[0]}", list(args[1:]))


def option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


# --------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services_running(compose: dict, command: str) -> dict[str, dict]:
    return {
        n: s
        for n, s in compose["services"].items()
        if s.get("image", "").startswith("appwatch:") and (s.get("command") or ["worker"])[0] == command
    }


def test_compose_validates_against_compose_spec(compose):
    import jsonschema

    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    assert "version" not in compose  # obsolete in the compose spec


def test_compose_schema_catches_mistakes(compose):
    """The vendored schema is strict enough to be worth running."""
    import copy

    import jsonschema

    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    bad = copy.deepcopy(compose)
    bad["services"]["worker"]["deploy"]["replica"] = 2
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


def test_compose_runs_two_workers(compose):
    workers = services_running(compose, "worker")
    total = sum((s.get("deploy") or {}).get("replicas", 1) for s in workers.values())
    assert total == 2, workers.keys()


def test_compose_images_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name}: no image"
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag and tag and tag != "latest", f"{name}: image {image!r} is not pinned to a tag"
    assert compose["services"]["kafka"]["image"] == "apache/kafka:3.9.0"


def test_compose_kafka_kraft(compose):
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert not any(k.startswith("KAFKA_ZOOKEEPER") for k in env)
    assert kafka["healthcheck"]["test"]
    for name, svc in compose["services"].items():
        if svc["image"].startswith("appwatch:"):
            assert svc["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_compose_appwatch_env(compose):
    from streams.settings import Settings

    appwatch = {n: s for n, s in compose["services"].items() if s["image"].startswith("appwatch:")}
    assert set(services_running(compose, "connect")) and set(services_running(compose, "serve"))
    shared = None
    for name, svc in appwatch.items():
        env = svc["environment"]
        assert env["APPWATCH_BROKER"] == "kafka://kafka:9092", name
        assert env["APPWATCH_BROKER_FLAVOR"] == "kafka", name
        assert env["APPWATCH_WEB_HOST"] == "0.0.0.0", name
        keys = {k: env[k] for k in ("APPWATCH_TOPIC_PREFIX", "APPWATCH_GROUP", "APPWATCH_PARTITIONS")}
        assert shared in (None, keys), f"{name}: services disagree on {keys} vs {shared}"
        shared = keys
        # Secrets come from the environment of `docker compose`, never literal.
        for k, v in env.items():
            if SECRET_ENV.search(k):
                assert str(v).startswith("${"), f"{name}: {k} is a literal value"
        plain = {k: v for k, v in env.items() if k.startswith("APPWATCH_") and not str(v).startswith("${")}
        Settings(**{k.removeprefix("APPWATCH_").lower(): v for k, v in plain.items()})  # valid settings
    worker = compose["services"]["worker"]
    env = worker["environment"]
    for secret in ("APPWATCH_WEBHOOK_SECRET", "SLACK_MARKET_URL", "PAGERDUTY_ROUTING_KEY"):
        assert env[secret].startswith("${" + secret), secret
    assert f"./alerts/alerts.example.yaml:{env['APPWATCH_ALERTS_CONFIG']}:ro" in worker["volumes"]
    ingest = next(iter(services_running(compose, "serve").values()))
    assert ingest["environment"]["APPWATCH_INGEST_TOKEN"].startswith("${APPWATCH_INGEST_TOKEN")


def test_compose_alerts_config_valid(compose):
    """The alerts config the workers mount, and every secret it names is in their env."""
    from alerts.config import AlertsConfig
    from core import yamlfile

    path = DEPLOY / "alerts" / "alerts.example.yaml"
    yamlfile.load(path, AlertsConfig)
    env = compose["services"]["worker"]["environment"]
    for var in re.findall(r"_env:\s*([A-Z0-9_]+)", path.read_text()):
        assert var in env, f"the alerts config needs {var} in the workers' environment"


def test_compose_commands_parse(compose):
    for svc in compose["services"].values():
        if svc["image"].startswith("appwatch:"):
            parse_cli(svc.get("command") or ["worker"])
    connect = next(iter(services_running(compose, "connect").values()))
    args = connect["command"]
    assert f"../connectors/example.yaml:{option(args, '--config')}:ro" in connect["volumes"]
    state = option(args, "--state-dir")
    assert any(v.split(":")[1] == state and not v.startswith((".", "/")) for v in connect["volumes"]), (
        "the checkpoint dir must be a named volume"
    )
    assert f":{option(args, '--metrics-port')}/healthz" in " ".join(connect["healthcheck"]["test"])
    ingest = next(iter(services_running(compose, "serve").values()))
    assert option(ingest["command"], "--host") == "0.0.0.0"
    assert f":{option(ingest['command'], '--port')}/healthz" in " ".join(ingest["healthcheck"]["test"])


def test_compose_bind_mounts_exist(compose):
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if not src.startswith("."):
                assert src in compose["volumes"], f"{name}: named volume {src} not declared"
                continue
            if os.path.normpath(src) in PROVIDED_ELSEWHERE and not (DEPLOY / src).exists():
                continue
            assert (DEPLOY / src).exists(), f"{name}: bind mount source {src} does not exist"


def test_compose_prometheus_and_grafana_mounts(compose):
    prom = compose["services"]["prometheus"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    am = compose["services"]["alertmanager"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in am["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in am["command"]
    grafana = compose["services"]["grafana"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]


# --------------------------------------------------------------------------- Prometheus


@pytest.fixture(scope="module")
def prometheus() -> dict:
    return yaml.safe_load(PROMETHEUS.read_text())


def test_prometheus_scrapes_every_appwatch_service(prometheus, compose):
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    assert prometheus["rule_files"] == ["rules/*.yml"]  # /etc/prometheus/rules/*.yml in compose
    am = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == ["alertmanager:9093"]
    # Both worker replicas, through the service name's A records.
    sd = jobs["appwatch-worker"]["dns_sd_configs"][0]
    assert (sd["names"], sd["type"], sd["port"]) == (["worker"], "A", 6066)
    assert jobs["appwatch-worker"].get("metrics_path", "/metrics") == "/metrics"
    connect = next(iter(services_running(compose, "connect").items()))
    serve = next(iter(services_running(compose, "serve").items()))
    assert jobs["appwatch-connectors"]["static_configs"][0]["targets"] == [
        f"{connect[0]}:{option(connect[1]['command'], '--metrics-port')}"
    ]
    assert jobs["appwatch-ingest"]["static_configs"][0]["targets"] == [
        f"{serve[0]}:{option(serve[1]['command'], '--port')}"
    ]
    for job in jobs.values():
        for sc in job.get("static_configs", []):
            for target in sc["targets"]:
                host = target.split(":")[0]
                assert host == "localhost" or host in compose["services"], f"{job['job_name']}: {target}"


def test_promtool_check_config(tmp_path):
    """The real file (with whatever rules exist), and the file alone (no rules dir yet)."""
    promtool = tool("promtool")
    for config in (PROMETHEUS, tmp_path / "prometheus.yml"):
        if config != PROMETHEUS:
            shutil.copy(PROMETHEUS, config)
        proc = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_loads_rules_from_rules_dir(tmp_path):
    """rule_files is relative to the config: a rule file next to it is found and checked."""
    promtool = tool("promtool")
    shutil.copy(PROMETHEUS, tmp_path / "prometheus.yml")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "broken.yml").write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: 'up ==='\n"
    )
    proc = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "broken.yml" in proc.stdout + proc.stderr


def test_amtool_check_config():
    amtool = tool("amtool")
    proc = subprocess.run([amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- Kubernetes


def k8s_docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return out


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_docs()}


def pod_spec(objects, name: str) -> dict:
    return objects[("Deployment", name)]["spec"]["template"]["spec"]


def container(objects, name: str) -> dict:
    (c,) = pod_spec(objects, name)["containers"]
    return c


def is_crd(doc: dict) -> bool:
    """Prometheus Operator objects: not in the bundled schemas (see test_k8s_podmonitor)."""
    return doc["apiVersion"].startswith("monitoring.coreos.com/")


@pytest.mark.parametrize(
    "doc", [pytest.param(d, id=f"{f}:{d['kind']}/{d['metadata']['name']}") for f, d in k8s_docs() if not is_crd(d)]
)
def test_k8s_manifest_valid(doc):
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_k8s_kustomization():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["namespace"] == "appwatch"
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kust["resources"]) == files
    assert "secret.example.yaml" not in kust["resources"]
    for _, doc in k8s_docs():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "appwatch", doc["metadata"]["name"]


def kustomize(path: Path) -> list[dict]:
    """What ``kubectl kustomize`` renders for the features our kustomization uses: its
    resources in order, the namespace on every namespaced object, and the image tags."""
    kust = yaml.safe_load((path / "kustomization.yaml").read_text())
    assert set(kust) <= {"apiVersion", "kind", "namespace", "resources", "images"}, set(kust)
    tags = {i["name"]: i["newTag"] for i in kust.get("images", [])}
    out = []
    for resource in kust["resources"]:
        for doc in yaml.safe_load_all((path / resource).read_text()):
            if not doc:
                continue
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = kust["namespace"]
            for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                name = c["image"].split(":")[0]
                if name in tags:
                    c["image"] = f"{name}:{tags[name]}"
            out.append(doc)
    return out


def test_k8s_kustomize_build():
    """The kustomization renders to valid objects, without kubectl; where kubectl exists,
    its own render is the same."""
    import kubernetes_validate

    rendered = kustomize(K8S)
    assert {d["kind"] for d in rendered} >= {"Namespace", "Deployment", "ConfigMap", "Service", "PodMonitor"}
    assert not any(d["kind"] == "Secret" for d in rendered)
    images = {
        c["image"]
        for d in rendered
        for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    }
    assert images == {"appwatch:0.1.0"}, images
    for doc in rendered:
        if not is_crd(doc):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    kubectl = shutil.which("kubectl")
    if kubectl:
        proc = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        theirs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
        assert sorted(theirs, key=key) == sorted(rendered, key=key)


def test_k8s_worker(objects):
    dep = objects[("Deployment", "appwatch-worker")]
    assert dep["spec"]["replicas"] == 2
    c = container(objects, "appwatch-worker")
    assert c["args"] == ["worker"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["web"] == 6066
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    config = objects[("ConfigMap", "appwatch-config")]["data"]
    assert config["APPWATCH_BROKER"].startswith("kafka://")
    assert config["APPWATCH_WEB_HOST"] == "0.0.0.0" and int(config["APPWATCH_WEB_PORT"]) == ports["web"]
    pdb = objects[("PodDisruptionBudget", "appwatch-worker")]
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_k8s_settings_valid(objects):
    from streams.settings import Settings

    data = objects[("ConfigMap", "appwatch-config")]["data"]
    assert all(k.startswith("APPWATCH_") for k in data)
    Settings(**{k.removeprefix("APPWATCH_").lower(): v for k, v in data.items()})


@pytest.mark.parametrize("name", ["appwatch-worker", "appwatch-connectors", "appwatch-ingest"])
def test_k8s_pods_hardened(objects, name):
    dep = objects[("Deployment", name)]
    spec = pod_spec(objects, name)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    for c in spec["containers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        repo, _, tag = c["image"].rpartition(":")
        assert repo and tag and tag != "latest", c["image"]
        assert {"configMapRef": {"name": "appwatch-config"}} in c["envFrom"]
        parse_cli(c["args"])


def test_k8s_secrets_only_by_reference(objects):
    secret_keys = set(objects[("Secret", "appwatch-secrets")]["stringData"])
    example_text = (K8S / "secret.example.yaml").read_text()
    for (kind, name), obj in objects.items():
        if kind == "ConfigMap":
            for key in obj["data"]:
                assert not SECRET_ENV.search(key), f"ConfigMap {name}: secret-like key {key}"
        if kind != "Deployment":
            continue
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                if not SECRET_ENV.search(env["name"]):
                    continue
                assert "value" not in env, f"{name}: {env['name']} has a literal value"
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "appwatch-secrets"
                if ref.get("optional"):
                    assert ref["key"] in example_text, f"optional key {ref['key']} not documented"
                else:
                    assert ref["key"] in secret_keys, f"{name}: key {ref['key']} missing from secret.example.yaml"


def env_names(c: dict) -> set[str]:
    return {e["name"] for e in c.get("env", [])}


def mounted_file(objects, deployment: str, path: str) -> str:
    """The content of the ConfigMap key that ``path`` resolves to inside the pod."""
    spec = pod_spec(objects, deployment)
    volumes = {v["name"]: v for v in spec["volumes"]}
    for m in spec["containers"][0]["volumeMounts"]:
        if path.startswith(m["mountPath"].rstrip("/") + "/"):
            assert "subPath" not in m, "a subPath mount never sees ConfigMap updates"
            cm = volumes[m["name"]]["configMap"]["name"]
            return objects[("ConfigMap", cm)]["data"][path[len(m["mountPath"]) :].lstrip("/")]
    raise AssertionError(f"{deployment}: nothing mounted at {path}")


def test_k8s_worker_configs_load(objects):
    """The rules and alerts the worker mounts are valid, and each secret they name is in its env."""
    from alerts.config import AlertsConfig
    from core import yamlfile
    from streams.rules import RuleSet

    c = container(objects, "appwatch-worker")
    env = {e["name"]: e.get("value") for e in c["env"]}
    rules = yamlfile.parse(mounted_file(objects, "appwatch-worker", env["APPWATCH_RULES"]), RuleSet, "rules")
    assert rules.rules
    text = mounted_file(objects, "appwatch-worker", env["APPWATCH_ALERTS_CONFIG"])
    yamlfile.parse(text, AlertsConfig, "alerts")
    for var in re.findall(r"_env:\s*([A-Z0-9_]+)", text):
        assert var in env_names(c), f"alerts config needs {var} in the worker's env"


def test_k8s_connectors(objects):
    from connectors import config as cconfig

    dep = objects[("Deployment", "appwatch-connectors")]
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    c = container(objects, "appwatch-connectors")
    args = c["args"]
    assert args[0] == "connect"
    instances = cconfig.parse(mounted_file(objects, "appwatch-connectors", option(args, "--config")), "connectors")
    assert instances
    state = option(args, "--state-dir")
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == state]
    volume = {v["name"]: v for v in pod_spec(objects, "appwatch-connectors")["volumes"]}[mount["name"]]
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in objects
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"] == int(option(args, "--metrics-port"))
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_k8s_ingest(objects):
    c = container(objects, "appwatch-ingest")
    assert c["args"][0] == "serve" and option(c["args"], "--host") == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["web"] == int(option(c["args"], "--port"))
    assert "APPWATCH_INGEST_TOKEN" in env_names(c)
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    svc = objects[("Service", "appwatch-ingest")]
    labels = objects[("Deployment", "appwatch-ingest")]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert all(p["targetPort"] in ports for p in svc["spec"]["ports"])


def test_k8s_configmap_references_exist(objects):
    for (kind, name), obj in objects.items():
        if kind != "Deployment":
            continue
        spec = obj["spec"]["template"]["spec"]
        refs = [v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v]
        refs += [e["configMapRef"]["name"] for c in spec["containers"] for e in c.get("envFrom", [])]
        for ref in refs:
            assert ("ConfigMap", ref) in objects, f"{name}: no ConfigMap {ref}"


def test_k8s_podmonitor(objects):
    """A CRD, so no bundled schema: the fields the Prometheus Operator needs, checked here."""
    pm = objects[("PodMonitor", "appwatch")]
    assert pm["apiVersion"] == "monitoring.coreos.com/v1" and pm["kind"] == "PodMonitor"
    selector = pm["spec"]["selector"]["matchLabels"]
    endpoints = pm["spec"]["podMetricsEndpoints"]
    assert endpoints and all(e["path"] == "/metrics" and e["port"] for e in endpoints)
    named_ports: dict[str, set[str]] = {}
    for (kind, name), obj in objects.items():
        if kind == "Deployment" and selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items():
            named_ports[name] = {
                p["name"] for c in obj["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
            }
    assert "appwatch-worker" in named_ports, "the PodMonitor does not select the worker pods"
    assert "web" in {e["port"] for e in endpoints} and "web" in named_ports["appwatch-worker"]
    for e in endpoints:
        assert any(e["port"] in ports for ports in named_ports.values()), f"no selected pod has port {e['port']}"
    for name in named_ports:  # every selected pod is scraped through one of the endpoints
        assert named_ports[name] & {e["port"] for e in endpoints}, name
    job_label = pm["spec"].get("jobLabel")
    if job_label:
        for name in named_ports:
            assert job_label in objects[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        instr, _, args = buf.partition(" ")
        out.append((instr.upper(), args.strip()))
        buf = ""
    return out


def test_dockerfile():
    instrs = dockerfile_instructions()
    froms = [i for i, (k, _) in enumerate(instrs) if k == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder stage and a final stage"
    stage_names = {a.split()[-1] for k, a in instrs if k == "FROM" and " as " in a.lower()}
    final = instrs[froms[-1] :]
    base = final[0][1].split()[0]
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", base), base
    users = [a for k, a in final if k == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    health = [a for k, a in final if k == "HEALTHCHECK"]
    assert len(health) == 1 and "http://127.0.0.1:6066/healthz" in health[0] and "python" in health[0]
    assert not any(k == "ADD" and re.search(r"https?://", a) for k, a in instrs), "ADD from a URL"
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["appwatch"]
    assert json.loads(dict(final)["CMD"]) == ["worker"]
    env = " ".join(a for k, a in final if k == "ENV")
    assert "APPWATCH_WEB_HOST=0.0.0.0" in env
    for k, a in final:
        if k == "COPY" and "--from=" in a:
            assert re.search(r"--from=(\S+)", a).group(1) in stage_names


def test_dockerfile_copies_every_package_and_dockerignore_lets_it_through():
    import tomllib

    instrs = dockerfile_instructions()
    sources = set()
    for k, a in instrs:
        if k == "COPY" and "--from=" not in a:
            sources.update(s.rstrip("/") for s in a.split()[:-1] if not s.startswith("--"))
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", "README.md"} <= sources
    ignore = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if "*" in ignore:  # an allow-list: every source needs its "!" entry
        allowed = {p[1:].rstrip("/") for p in ignore if p.startswith("!")}
        assert sources <= allowed, sources - allowed
    else:
        assert not sources & {p.rstrip("/") for p in ignore}
