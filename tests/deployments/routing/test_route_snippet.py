"""The route page's client snippet, run exactly as a user copies it (the real `openai` client)."""

import os
import re
import subprocess
import sys
from html import unescape

from django.urls import reverse

from tests.infra.openai_server import OpenAIServer

from .conftest import make_route


def _pre(html: str, element_id: str) -> str:
    found = re.search(rf'<pre[^>]*id="{element_id}"[^>]*>(.*?)</pre>', html, re.S)
    assert found, element_id
    return unescape(found.group(1))


def test_route_snippet_runs_as_copied_and_says_no_token_is_checked(
    member_client, team, small, large, settings
):
    settings.ROUTE_DOMAIN = "routes.modelport.test"
    route = make_route(team, "alias", small=small, large=large)
    srv = OpenAIServer(model="small", prefix="/v1").start()
    try:
        html = member_client.get(reverse("deployments:route_detail", args=[route.uuid]))
        html = html.content.decode()
        assert "YOUR_TOKEN" not in html and "checks no API key" in unescape(html)
        snippet = _pre(html, "route-snippet")
        # The route's host is in no DNS here: the user's network is this proxy.
        env = {**os.environ, "HTTP_PROXY": srv.url, "NO_PROXY": ""}
        done = subprocess.run(
            [sys.executable, "-c", snippet], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert srv.reply.split()[0] in out
        sent = srv.requests[-1]
        assert sent["host"] == route.host and sent["path"] == "/v1/chat/completions"
    finally:
        srv.stop()
