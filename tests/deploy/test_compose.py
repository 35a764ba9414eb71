"""Checks docker-compose.yml and the Dockerfile against the code they deploy, since no Docker engine runs them here."""

from __future__ import annotations

import importlib.util
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from services.common.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

# Compose service -> (module it runs, the port variables it listens on).
CXFLOW_SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "directory": ("services.directory", ("DIRECTORY_GRPC_PORT",)),
    "notification": ("services.notification", ("NOTIFICATION_GRPC_PORT", "NOTIFICATION_HTTP_PORT")),
    "ingestion": ("services.ingestion", ("INGESTION_GRPC_PORT", "INGESTION_HTTP_PORT")),
    "worker": ("workflows.worker", ()),
}
GRPC_SERVICES = ("directory", "notification", "ingestion")
PORT_VARIABLE = re.compile(r"^[A-Z]+_(GRPC|HTTP)_PORT$")
TARGET_VARIABLE = re.compile(r"^([A-Z]+)_GRPC_TARGET$")
_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))")


class MissingVariable(Exception):
    """A required ${VAR:?message} variable is unset."""


def interpolate(value: object, environ: Mapping[str, str]) -> str:
    """The value docker compose would pass, given the shell environment `environ`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        present = name in environ and (environ[name] != "" or not (op or "").startswith(":"))
        if present:
            return environ[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise MissingVariable(f"{name}: {arg}")
        return ""

    return _INTERPOLATION.sub(substitute, str(value))


def environment(service: str) -> dict[str, str]:
    """The raw (not yet interpolated) environment a compose service sets."""
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def resolved_environment(service: str) -> dict[str, str]:
    return {key: interpolate(value, {"CXFLOW_INTERNAL_TOKEN": "cxi_x"}) for key, value in environment(service).items()}


def command(service: str) -> list[str]:
    cmd = SERVICES[service].get("command")
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd or [])


def container_ports(service: str) -> set[int]:
    """Container-side ports a service publishes, whatever syntax each entry uses."""
    ports: set[int] = set()
    for entry in SERVICES[service].get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def healthcheck_argv(service: str) -> list[str]:
    test = SERVICES[service].get("healthcheck", {}).get("test")
    assert test, f"{service} has no healthcheck"
    if isinstance(test, str):
        return shlex.split(test)
    if test[0] == "CMD-SHELL":
        return shlex.split(test[1])
    assert test[0] == "CMD", f"{service}: healthcheck test must start with CMD or CMD-SHELL, got {test[0]!r}"
    return list(test[1:])


def init_script_databases() -> set[str]:
    """Databases the PostgreSQL init script that compose mounts creates."""
    scripts = [
        volume.split(":")[0]
        for volume in SERVICES["postgresql"].get("volumes", [])
        if isinstance(volume, str) and "/docker-entrypoint-initdb.d" in volume
    ]
    assert scripts, "postgresql mounts no script into /docker-entrypoint-initdb.d"
    names: set[str] = set()
    for script in scripts:
        path = REPO / script
        assert path.is_file(), f"postgresql mounts {script}, which does not exist"
        names |= {m.lower() for m in re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", path.read_text(), re.IGNORECASE)}
    return names


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_command_runs_the_right_module_and_it_exists(service):
    module = CXFLOW_SERVICES[service][0]
    assert command(service) == ["python", "-m", module], f"{service} should run `python -m {module}`, runs {command(service)}"
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{service} runs `python -m {module}` but there is no module {module}"
    if spec.submodule_search_locations is not None:  # a package runs through its __main__
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} is a package without __main__.py"


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_environment_uses_only_variables_the_settings_read(service):
    unknown = sorted(set(environment(service)) - set(ENVIRONMENT))
    assert not unknown, f"{service} sets {unknown}, which services/common/settings.py ENVIRONMENT does not read"


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_services_are_built_from_the_dockerfile(service):
    build = SERVICES[service].get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    assert context in (".", "./"), f"{service} must build the repository's Dockerfile (build context '.'), has {build!r}"
    assert SERVICES[service].get("image") == SERVICES["directory"].get("image"), "all cxflow services must share one image"


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_neighbours_are_reached_by_service_name_not_localhost_defaults(service):
    env = resolved_environment(service)
    required = {"TEMPORAL_ADDRESS", "INGESTION_GRPC_TARGET", "DIRECTORY_GRPC_TARGET", "NOTIFICATION_GRPC_TARGET", "GRPC_HOST"}
    missing = sorted(required - set(env))
    assert not missing, f"{service} leaves {missing} at their localhost defaults"
    assert env["GRPC_HOST"] == "0.0.0.0", f"{service}: GRPC_HOST must be 0.0.0.0 so other containers reach it"
    assert env["CXFLOW_LOG_FORMAT"] == "json", f"{service}: production logs must be JSON"
    temporal_host = env["TEMPORAL_ADDRESS"].rsplit(":", 1)[0]
    assert temporal_host in SERVICES and SERVICES[temporal_host]["image"].startswith("temporalio/"), (
        f"{service}: TEMPORAL_ADDRESS {env['TEMPORAL_ADDRESS']} does not name the Temporal server service"
    )


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_port_settings_match_published_and_probed_ports(service):
    env = resolved_environment(service)
    own = CXFLOW_SERVICES[service][1]
    missing = [name for name in own if name not in env]
    assert not missing, f"{service} must set {missing} explicitly"
    published = container_ports(service)
    probed = set()
    if service in GRPC_SERVICES:
        probed = {int(healthcheck_argv(service)[-1].rsplit(":", 1)[1])}
    listening = {int(value) for name, value in env.items() if PORT_VARIABLE.match(name)}
    for name, value in env.items():
        if PORT_VARIABLE.match(name):
            assert name in own, f"{service} sets {name}, the port of another service"
            assert int(value) in published | probed, (
                f"{service}: {name}={value} is neither published (container ports {sorted(published)}) nor probed {sorted(probed)}"
            )
    assert published <= listening, f"{service} publishes container ports {sorted(published - listening)} it does not listen on"


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_grpc_targets_point_at_the_service_listening_there(service):
    for name, value in resolved_environment(service).items():
        match = TARGET_VARIABLE.match(name)
        if not match:
            continue
        owner = match.group(1).lower()
        host, port = value.rsplit(":", 1)
        assert host in SERVICES, f"{service}: {name}={value} names no compose service {host!r}"
        assert command(host) == ["python", "-m", f"services.{owner}"], f"{service}: {name} points at {host!r}, which is not the {owner} service"
        port_variable = f"{owner.upper()}_GRPC_PORT"
        listens = resolved_environment(host).get(port_variable)
        assert listens == port, f"{service}: {name}={value} but {host} listens on {port_variable}={listens}"


@pytest.mark.parametrize("service", GRPC_SERVICES)
def test_each_service_has_its_own_database_created_by_the_init_script(service):
    raw = environment(service).get("DATABASE_URL")
    assert raw, f"{service} sets no DATABASE_URL and would fall back to SQLite inside the container"
    url = make_url(interpolate(raw, {}))
    assert url.drivername == "postgresql+asyncpg", f"{service}: DATABASE_URL must use postgresql+asyncpg, uses {url.drivername}"
    assert url.host in SERVICES, f"{service}: DATABASE_URL host {url.host!r} is not a compose service"
    assert url.database == f"cxflow_{service}", f"{service}: DATABASE_URL names database {url.database!r}, expected cxflow_{service}"
    assert url.database in init_script_databases(), f"{service}: database {url.database} is not created by the postgres init script"


def test_services_do_not_share_a_database():
    databases = [make_url(interpolate(environment(s)["DATABASE_URL"], {})).database for s in GRPC_SERVICES]
    assert len(set(databases)) == len(databases), f"services share databases: {databases}"


def test_temporal_databases_are_created_by_the_init_script():
    env = environment("temporal")
    for key in ("DBNAME", "VISIBILITY_DBNAME"):
        assert env[key] in init_script_databases(), f"temporal {key}={env[key]} is not created by the postgres init script"


@pytest.mark.parametrize("service", CXFLOW_SERVICES)
def test_internal_token_is_required_and_has_no_default(service):
    raw = environment(service).get("CXFLOW_INTERNAL_TOKEN")
    assert raw, f"{service} does not receive CXFLOW_INTERNAL_TOKEN"
    assert re.fullmatch(r"\$\{CXFLOW_INTERNAL_TOKEN:\?[^}]*\}", raw), (
        f"{service}: CXFLOW_INTERNAL_TOKEN must be ${{CXFLOW_INTERNAL_TOKEN:?...}} (required, no default), is {raw!r}"
    )
    with pytest.raises(MissingVariable):
        interpolate(raw, {"CXFLOW_INTERNAL_TOKEN": ""})
    assert interpolate(raw, {"CXFLOW_INTERNAL_TOKEN": "cxi_secret"}) == "cxi_secret"


@pytest.mark.parametrize("service", GRPC_SERVICES)
def test_healthcheck_probes_the_service_own_grpc_port(service):
    argv = healthcheck_argv(service)
    assert argv[:3] == ["python", "-m", "cxflow.healthcheck"], f"{service}: healthcheck must run `python -m cxflow.healthcheck`, runs {argv}"
    assert importlib.util.find_spec("cxflow.healthcheck") is not None
    own_port = resolved_environment(service)[f"{service.upper()}_GRPC_PORT"]
    assert argv[3] == f"localhost:{own_port}", f"{service}: healthcheck probes {argv[3]}, but the service listens on {own_port}"


def test_depends_on_names_existing_services_and_usable_conditions():
    for service, definition in SERVICES.items():
        depends_on = definition.get("depends_on") or {}
        if isinstance(depends_on, list):
            depends_on = {name: {"condition": "service_started"} for name in depends_on}
        for dependency, options in depends_on.items():
            assert dependency in SERVICES, f"{service} depends on {dependency!r}, which is not a compose service"
            condition = options.get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{service} waits for {dependency} to be healthy, but it has no healthcheck"
            elif condition == "service_completed_successfully":
                assert SERVICES[dependency].get("restart", "no") == "no", f"{service} waits for {dependency} to finish, but it restarts"
            else:
                assert condition == "service_started", f"{service}: unknown depends_on condition {condition!r}"


def test_start_order_follows_the_data_flow():
    def waits_for(service: str, dependency: str, condition: str = "service_healthy") -> bool:
        return (SERVICES[service].get("depends_on") or {}).get(dependency, {}).get("condition") == condition

    for service in GRPC_SERVICES:
        assert waits_for(service, "postgresql"), f"{service} must wait for postgresql to be healthy"
    for service in ("ingestion", "worker"):
        for dependency in ("temporal", "directory", "notification"):
            assert waits_for(service, dependency), f"{service} must wait for {dependency} to be healthy"
        assert waits_for(service, "temporal-setup", "service_completed_successfully"), f"{service} must wait for the search attributes"


def test_mounted_files_exist():
    for service, definition in SERVICES.items():
        for volume in definition.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                assert (REPO / source).exists(), f"{service} mounts {source}, which does not exist"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_builds_on_python_311_and_installs_the_project():
    instructions = dockerfile_instructions()
    bases = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert bases and bases[-1].startswith("python:3.11"), f"the image must build on python:3.11, builds on {bases}"
    runs = " && ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install (\S+ )*\.(\s|$)", runs), "the Dockerfile must `pip install .` the project"
    copied = {source.rstrip("/") for keyword, rest in instructions if keyword == "COPY" for source in rest.split()[:-1]}
    for needed in ("pyproject.toml", "protos", "services", "workflows", "cxflow", "scripts"):
        assert needed in copied, f"the Dockerfile does not copy {needed}"
    for source in copied:
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist in the repository"


def test_dockerfile_runs_as_an_unprivileged_user():
    users = [rest for keyword, rest in dockerfile_instructions() if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"the image must not run as root (USER {users})"


def test_search_attribute_setup_matches_the_workflow_contracts():
    from workflows import contracts

    expected = {
        contracts.SEARCH_ATTRIBUTE_WORKFLOW_ID: "Keyword",
        contracts.SEARCH_ATTRIBUTE_WORKFLOW_VERSION: "Int",
        contracts.SEARCH_ATTRIBUTE_CONTACT_ID: "Keyword",
        contracts.SEARCH_ATTRIBUTE_TRIGGER: "Keyword",
        contracts.SEARCH_ATTRIBUTE_ORGANIZATION: "Keyword",
    }
    setup = SERVICES["temporal-setup"]
    script, mounted_at = next(v.split(":")[:2] for v in setup["volumes"] if "search-attributes" in v)
    registered = dict(re.findall(r"\b(Cx\w+):(\w+)\b", (REPO / script).read_text()))
    assert registered == expected, f"{script} registers {registered}, workflows/contracts.py needs {expected}"
    assert mounted_at in setup["entrypoint"], f"temporal-setup mounts {script} at {mounted_at} but does not run it"


METRICS_PORT_VARIABLE = re.compile(r"^([A-Z]+)_(?:TEMPORAL_)?METRICS_PORT$")


def prometheus_targets() -> set[str]:
    """host:port of every static target in the Prometheus configuration compose mounts."""
    prometheus = SERVICES["prometheus"]
    config_flag = next(arg for arg in command("prometheus") if arg.startswith("--config.file="))
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus.get("volumes", []) if isinstance(v, str) and v.startswith("./")}
    config_path = config_flag.split("=", 1)[1]
    assert config_path in mounted, f"prometheus reads {config_path}, which compose does not mount"
    config = yaml.safe_load((REPO / mounted[config_path]).read_text())
    return {target for job in config["scrape_configs"] for static in job.get("static_configs", []) for target in static["targets"]}


def test_every_metrics_port_in_settings_is_set_and_scraped_by_prometheus():
    variables = [name for name in ENVIRONMENT if METRICS_PORT_VARIABLE.match(name)]
    assert len(variables) >= 5, f"expected a metrics port per service, the worker and the worker's Temporal SDK, found {variables}"
    targets = prometheus_targets()
    for variable in variables:
        owner = METRICS_PORT_VARIABLE.match(variable).group(1).lower()  # INGESTION_METRICS_PORT -> the ingestion service
        assert owner in CXFLOW_SERVICES, f"{variable} names no cxflow compose service {owner!r}"
        env = resolved_environment(owner)
        assert variable in env, f"{owner} must set {variable} explicitly, so deploy/prometheus.yml can name its port"
        assert env.get("METRICS_HOST") == "0.0.0.0", f"{owner}: METRICS_HOST must be 0.0.0.0 so Prometheus reaches /metrics"
        assert f"{owner}:{env[variable]}" in targets, f"{owner}:{env[variable]} ({variable}) is not scraped; targets: {sorted(targets)}"
        for other in CXFLOW_SERVICES:
            if other != owner:
                assert variable not in environment(other), f"{other} sets {variable}, the metrics port of {owner}"


def test_prometheus_scrapes_the_temporal_server_and_is_published_on_localhost():
    endpoint = environment("temporal").get("PROMETHEUS_ENDPOINT", "")
    assert endpoint, "the Temporal server exposes no metrics (auto-setup's PROMETHEUS_ENDPOINT)"
    assert f"temporal:{endpoint.rsplit(':', 1)[1]}" in prometheus_targets()
    assert SERVICES["prometheus"]["image"].startswith("prom/prometheus:")
    assert "127.0.0.1:9090:9090" in SERVICES["prometheus"].get("ports", []), "Prometheus must answer on 127.0.0.1:9090 only"
