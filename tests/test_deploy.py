"""The deployment files (deploy/): the compose file, the image and the systemd units are valid
and agree with the command line they run. Nothing is built or pulled: no network."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tailguard.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVERS = {"postgres": 5432, "redis": 6379, "nats": 4222}
_TOP_KEYS = {"name", "services", "volumes", "networks", "secrets", "configs"}
_SERVICE_KEYS = {
    "build", "image", "command", "environment", "ports", "volumes", "healthcheck",
    "depends_on", "restart",
}  # fmt: skip


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# Typer vendors its own copy of click, so its commands are handled by shape, not by class.
def _command(root: Any, args: list[str]) -> tuple[Any, list[str]]:
    """The click command ``args`` name, and the arguments left for it."""
    command = root
    rest = list(args)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


def _envvars(command: Any) -> set[str]:
    found: set[str] = set()
    if hasattr(command, "commands"):
        for sub in command.commands.values():
            found |= _envvars(sub)
    for param in command.params:
        env = getattr(param, "envvar", None)
        if isinstance(env, str):
            found.add(env)
    return found


def _parses(command: Any, args: list[str]) -> bool:
    """True when ``args`` hold only options and arguments ``command`` knows (the parse ends at
    the eager ``--help``, before required options are checked)."""
    try:
        command.make_context(command.name, [*args, "--help"])
    except Exception as exc:
        return type(exc).__name__ == "Exit"
    return True


def _cli() -> Any:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return group


def test_the_compose_file_has_the_five_services_and_only_known_keys() -> None:
    """PostgreSQL, Redis, NATS, serve and agents, each with keys of the Compose spec."""
    data = _compose()
    assert set(data) - {k for k in data if k.startswith("x-")} <= _TOP_KEYS
    services = data["services"]
    assert set(services) == {"postgres", "redis", "nats", "serve", "agents"}
    for name, service in services.items():
        assert set(service) <= _SERVICE_KEYS, name
        assert "image" in service, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts a missing {source}"
            else:
                assert source in data["volumes"], f"{name} uses an undeclared volume {source}"


def test_the_servers_are_pinned_healthy_and_on_the_test_ports() -> None:
    """The three servers have a pinned image, a healthcheck and the ports the tests use."""
    services = _compose()["services"]
    for name, port in SERVERS.items():
        service = services[name]
        image = service["image"]
        assert re.fullmatch(r"[a-z0-9/.-]+:\d[\w.-]*", image), f"{name}: unpinned image {image}"
        assert service["healthcheck"]["test"][0] == "CMD"
        assert f"127.0.0.1:{port}:{port}" in service["ports"]


def test_serve_and_agents_build_the_image_and_wait_for_healthy_servers() -> None:
    """Both tailguard services build deploy/Dockerfile from the repository root."""
    services = _compose()["services"]
    for name in ("serve", "agents"):
        service = services[name]
        context = (DEPLOY / service["build"]["context"]).resolve()
        assert context == ROOT
        assert (context / service["build"]["dockerfile"]).is_file()
        assert service["depends_on"] == {
            server: {"condition": "service_healthy"} for server in SERVERS
        }


@pytest.mark.parametrize("name", ["serve", "agents"])
def test_the_services_run_valid_tailguard_commands_and_variables(name: str) -> None:
    """Each command parses with the real CLI, and each TAILGUARD_* variable is one it reads."""
    service = _compose()["services"][name]
    root = _cli()
    command, rest = _command(root, service["command"])
    assert command is not root
    assert _parses(command, rest)
    assert not _parses(command, [*rest, "--no-such-option"])
    known = _envvars(root)
    for variable in service["environment"]:
        if variable.startswith("TAILGUARD_"):
            assert variable in known, f"{name}: no option reads {variable}"


def test_the_image_is_slim_non_root_and_has_the_browser_only_for_pdfs() -> None:
    """The Dockerfile builds from a slim base, runs as a user, installs Chromium on request."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert bases
    assert all(base.endswith("-slim") or " AS " in base for base in bases)
    assert re.search(r"^USER (?!root)\w+", text, flags=re.MULTILINE)
    chromium = [line for line in text.splitlines() if "install" in line and "chromium" in line]
    assert chromium
    assert all('WITH_PDF" = "true"' in text for _ in chromium)
    assert 'ENTRYPOINT ["tailguard"]' in text


@pytest.mark.parametrize("unit", ["tailguard-serve.service", "tailguard-agents.service"])
def test_the_systemd_units_run_tailguard_as_its_own_user(unit: str) -> None:
    """Each unit has the three sections, a non-root user and a tailguard command that parses."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / unit, encoding="utf-8")
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    service = parser["Service"]
    assert service["User"] == "tailguard"
    assert service["EnvironmentFile"] == "/etc/tailguard/tailguard.env"
    exe, *args = service["ExecStart"].split()
    assert exe.endswith("/tailguard")
    command, rest = _command(_cli(), args)
    assert command.name in ("serve", "run")
    assert _parses(command, rest)


def test_the_example_environment_file_names_only_variables_tailguard_reads() -> None:
    """Every TAILGUARD_* line of tailguard.env.example is read by some option."""
    known = _envvars(_cli())
    names = re.findall(
        r"^(TAILGUARD_\w+)=", (DEPLOY / "tailguard.env.example").read_text(), flags=re.M
    )
    assert names
    assert set(names) <= known
