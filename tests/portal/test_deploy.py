"""The production recipe: render.yaml and the Procfile describe the same processes.

`make prod-check` boots the Procfile's processes; this keeps the Blueprint Render
deploys from saying anything else.
"""

from __future__ import annotations

import yaml

from tests.conftest import REPO


def _procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, command in (line.split(":", 1) for line in lines if line.strip())}


def _blueprint() -> dict:
    return yaml.safe_load((REPO / "render.yaml").read_text())


def test_the_blueprint_runs_the_procfiles_processes_word_for_word():
    procfile = _procfile()
    services = {service["name"]: service for service in _blueprint()["services"]}
    assert services["gatehouse-web"]["startCommand"] == procfile["web"]
    assert services["gatehouse-worker"]["startCommand"] == procfile["worker"]
    assert services["gatehouse-beat"]["startCommand"] == procfile["beat"]
    assert services["gatehouse-web"]["preDeployCommand"] == procfile["release"]
    assert "collectstatic --noinput" in services["gatehouse-web"]["buildCommand"]


def test_the_blueprint_declares_postgresql_and_redis_and_checks_readiness():
    blueprint = _blueprint()
    assert [db["name"] for db in blueprint["databases"]] == ["gatehouse-db"]
    services = {service["name"]: service for service in blueprint["services"]}
    assert services["gatehouse-redis"]["type"] == "keyvalue"
    web = services["gatehouse-web"]
    assert web["healthCheckPath"] == "/readyz/"
    env = {var["key"]: var for var in web["envVars"]}
    assert env["DEBUG"]["value"] == "false"
    assert env["DATABASE_URL"]["fromDatabase"]["name"] == "gatehouse-db"
    assert env["REDIS_URL"]["fromService"]["name"] == "gatehouse-redis"
    for service in ("gatehouse-worker", "gatehouse-beat"):
        assert {var["key"] for var in services[service]["envVars"]} == set(env)
