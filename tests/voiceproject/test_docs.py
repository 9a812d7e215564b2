import re

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/health" in schema["paths"]
    assert "/api/v1/readiness" in schema["paths"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_locally(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html and "unpkg" not in html


def test_redoc_page_names_no_other_host_and_serves_its_script(client, settings):
    # Serve static files through the finders, as `make run` does, without a collectstatic.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = client.get("/api/redoc/", HTTP_HOST="testserver")
    assert response.status_code == 200
    html = response.content.decode()
    foreign = [
        url
        for url in re.findall(r"""https?://[^\s"'<>)]+""", html)
        if not url.startswith(("http://testserver/", "https://testserver/"))
    ]
    assert foreign == []
    scripts = re.findall(r"""<script[^>]+src="([^"]+)\"""", html)
    assert scripts and all(src.startswith("/static/") for src in scripts)
    for src in scripts:
        asset = client.get(src)
        assert asset.status_code == 200
        assert b"Redoc" in b"".join(asset.streaming_content)


def test_redoc_page_forbids_the_browser_any_other_origin(client):
    policy = client.get("/api/redoc/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for directive in ("img-src", "font-src", "connect-src", "script-src", "style-src"):
        assert "http" not in directives[directive] and "*" not in directives[directive]
