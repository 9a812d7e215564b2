"""compose.yaml, its HAProxy configuration and the Dockerfile, checked without a container
engine: the compose file against the Compose specification's JSON schema (the copy Debian's
docker-compose package ships, when installed) and for the topology it must describe; HAProxy's
configuration by HAProxy itself (`haproxy -c`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from voiceproject.serve import compose_haproxy_config

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
COMPOSE_SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat", "lb"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def test_compose_runs_the_whole_topology_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    for name in ("postgres", "redis", "web", "worker", "lb"):
        assert services[name]["healthcheck"]["test"], name
    web = services["web"]
    assert web["scale"] >= 2
    assert "/api/v1/health" in " ".join(web["healthcheck"]["test"])
    assert web["command"][:1] == ["daphne"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith(
            "redis://"
        )
        assert env["DJANGO_DEBUG"] == "0"
    assert services["lb"]["command"][-1] == "/app/deploy/haproxy.compose.cfg"
    assert services["lb"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_compose_follows_the_compose_specification(compose):
    if not COMPOSE_SPEC.exists():
        pytest.skip("the Compose schema comes with Debian's docker-compose package")
    schema = json.loads(COMPOSE_SPEC.read_text())
    # Its $schema names draft 2019-09 by a URL jsonschema does not recognise.
    jsonschema.Draft201909Validator(schema).validate(compose)


def test_the_load_balancer_checks_readiness_and_finds_every_server_replica(tmp_path):
    shipped = (REPO / "deploy" / "haproxy.compose.cfg").read_text()
    assert shipped == compose_haproxy_config(), (
        "regenerate: manage.py serve --haproxy-config compose"
    )
    assert "uri /api/v1/readiness" in shipped and "http-check expect status 200" in shipped
    assert re.search(r"server-template web 1-\d+ web:8000 check resolvers", shipped)
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    assert haproxy, "make install-test installs haproxy"
    check = subprocess.run([haproxy, "-c", "-f", str(REPO / "deploy" / "haproxy.compose.cfg")],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_image_is_multi_stage_unprivileged_with_static_files_collected():
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", dockerfile, re.MULTILINE)
    assert stages == ["build", "runtime"]
    build, runtime = dockerfile.split("AS runtime")
    for requirements in ("requirements.txt", "requirements-offline-tts.txt", "--no-deps"):
        assert requirements in build
    assert "collectstatic" in build
    user = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}
    assert "haproxy" in runtime  # the load balancer runs from the same image
