"""The Use tab's and the route page's snippets, run exactly as a user copies them (curl in bash,
the Python one with the real `openai` client) against a local OpenAI-compatible server."""

import os
import re
import shutil
import subprocess
import sys
from html import unescape

import pytest
from django.urls import reverse

from tests.factories import EndpointFactory
from tests.infra.openai_server import OpenAIServer


def _pre(html: str, element_id: str) -> str:
    found = re.search(rf'<pre[^>]*id="{element_id}"[^>]*>(.*?)</pre>', html, re.S)
    assert found, element_id
    return unescape(found.group(1))


def _run(argv: list[str], **env: str) -> str:
    # A bound, not a speed check: importing the openai client took over 60 s at load 38.
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def server():
    srv = OpenAIServer(model="chat", prefix="/openai/v1").start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("url_suffix", ["", "/v1"])  # KServe's root URL, or one that ends in /v1
def test_use_tab_snippets_run_as_copied_and_never_double_the_path(
    member_client, team, gpu_l4, llama_8b, server, url_suffix
):
    if url_suffix:
        server.prefix = "/v1"
    endpoint = EndpointFactory(
        team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, url=server.url + url_suffix
    )
    html = member_client.get(reverse("deployments:endpoint_use", args=[endpoint.uuid])).content
    html = html.decode()
    assert "/v1/openai/v1" not in html
    assert "checks none" in unescape(html)  # says how it is protected, next to the snippets
    curl = _pre(html, "snippet-curl")
    python = _pre(html, "snippet-python")
    if shutil.which("curl"):
        assert '"content"' in _run(["bash", "-c", curl])
    assert server.reply.split()[0] in _run([sys.executable, "-c", python])
    assert [r["path"] for r in server.requests][-1] == f"{server.prefix}/chat/completions"
