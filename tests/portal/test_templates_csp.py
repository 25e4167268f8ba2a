"""Every template passes the Content-Security-Policy the portal sends (portal/settings.py:
`script-src 'self'; style-src 'self'`): a browser drops inline `style=` attributes, inline
event handlers and inline scripts, so a page that uses them looks or behaves broken only in
production. Classes and the static JS (`data-confirm`, `data-copy`, ...) do the same work."""

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))
INLINE = {
    "style attribute": re.compile(r"""<[a-zA-Z][^>]*\sstyle\s*=""", re.S),
    "event handler": re.compile(r"""<[a-zA-Z][^>]*\son[a-z]+\s*=""", re.S),
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>\s*\S", re.S),
    "inline style element": re.compile(r"<style[\s>]"),
}


COMMENTS = re.compile(r"{% comment %}.*?{% endcomment %}|{#.*?#}", re.S)


def _markup(path: Path) -> str:
    return COMMENTS.sub("", path.read_text())


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 50


@pytest.mark.parametrize("kind", INLINE)
def test_no_template_uses_what_the_csp_refuses(kind):
    found = [
        str(path.relative_to(settings.BASE_DIR))
        for path in TEMPLATES
        if INLINE[kind].search(_markup(path))
    ]
    assert not found, f"{kind} in {found}"


def test_the_csp_refuses_inline_styles_and_scripts():
    policy = settings.CONTENT_SECURITY_POLICY
    assert "style-src 'self';" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy


def test_batch_jobs_are_in_the_main_nav(member_client):
    from django.urls import reverse

    body = member_client.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("deployments:batch_job_list")}"' in body
