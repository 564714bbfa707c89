"""The documentation pages: the project's own static files, no inline script.

What a browser makes of them under the production policy is in
tests/browser/test_docs.py.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from api.middleware import build_policy

EXTERNAL = re.compile(rb"""(?:src|href)=["']?(?:https?:)?//""")
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>")
ASSET = re.compile(rb"""(?:src|href)="(/static/[^"]+)\"""")


@pytest.mark.parametrize("name", ["docs", "redoc"])
def test_the_docs_pages_load_only_local_assets_and_no_inline_script(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert not EXTERNAL.search(response.content), response.content
    assert not INLINE_SCRIPT.search(response.content), response.content
    assert b"<style" not in response.content
    assets = [a.decode() for a in ASSET.findall(response.content)]
    assert any("drf_spectacular_sidecar" in a for a in assets), assets
    for asset in assets:
        found = finders.find(asset.removeprefix(settings.STATIC_URL).lstrip("/"))
        assert found, f"{asset} is not a static file of the project"


def test_swagger_ui_gets_its_set_up_script_as_a_file_that_names_the_schema(client):
    page = client.get(reverse("docs"))
    script_url = re.search(rb'<script src="([^"]*\?script=[^"]*)"', page.content)
    assert script_url, page.content

    script = client.get(script_url[1].decode().replace("&amp;", "&"))

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert reverse("schema").encode() in script.content


def test_redoc_reads_the_schema_url_from_its_element(client):
    response = client.get(reverse("redoc"))
    assert f'<redoc spec-url="{reverse("schema")}">'.encode() in response.content


def test_without_a_policy_setting_redoc_sends_none(client, settings):
    settings.SECURE_CSP = {}
    assert "Content-Security-Policy" not in client.get(reverse("redoc"))


def test_redoc_adds_inline_styles_and_blob_workers_to_the_policy_and_nothing_else(
    client, settings
):
    settings.SECURE_CSP = {"default-src": ["'self'"], "script-src": ["'self'"]}

    policy = client.get(reverse("redoc"))["Content-Security-Policy"]

    assert policy == build_policy(
        {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'", "'unsafe-inline'"],
            "worker-src": ["'self'", "blob:"],
        }
    )
