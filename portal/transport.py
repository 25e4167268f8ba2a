"""The one way notifications leave the portal: e-mail and webhooks (Healthchecks'
hc/integrations/*/transport.py is the model). Callers get PermanentError (do not retry: a bad
or refused target) or TransientError (retry later); tests mock this module at one seam.

Webhooks never reach the portal's own network: loopback, link-local (cloud metadata),
private, and cluster-internal targets are refused when a URL is saved (validators) and again
here after DNS resolution, and redirects are not followed. WEBHOOK_ALLOWED_HOSTS (host names,
IPs or CIDRs) lets an admin allow internal receivers. Error messages never name the URL."""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.core.mail import send_mail

from .validators import address_problem, webhook_allowed, webhook_url_problem


class TransportError(Exception):
    pass


class PermanentError(TransportError):
    """The target is refused or answered a client error: retrying will not help."""


class TransientError(TransportError):
    """The target did not answer or answered a server error: try again later."""


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientError("the webhook's host name does not resolve") from exc
    return sorted({info[4][0] for info in infos})


def check_webhook_target(url: str) -> None:
    """Raise PermanentError unless `url` may be posted to now (after DNS resolution)."""
    problem = webhook_url_problem(url)
    if problem:
        raise PermanentError(problem)
    parts = urlsplit(url)
    if webhook_allowed(parts.hostname):
        return
    for address in _resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)):
        if webhook_allowed(address):
            continue
        problem = address_problem(ipaddress.ip_address(address.split("%")[0]))
        if problem:
            raise PermanentError(f"the webhook's host resolves to {problem}")


def post_webhook(url: str, payload: dict, timeout: float = 10.0) -> None:
    check_webhook_target(url)
    try:
        resp = requests.post(url, json=payload, timeout=timeout, allow_redirects=False)
    except requests.Timeout as exc:
        raise TransientError(f"the webhook did not answer within {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise TransientError(f"cannot reach the webhook ({type(exc).__name__})") from exc
    if 300 <= resp.status_code < 400:
        raise PermanentError(
            f"the webhook answered a redirect (HTTP {resp.status_code}); redirects are not followed"
        )
    if resp.status_code >= 500 or resp.status_code == 429:
        raise TransientError(f"the webhook answered HTTP {resp.status_code}")
    if resp.status_code >= 400:
        raise PermanentError(f"the webhook answered HTTP {resp.status_code}")


def send_email(to: str, subject: str, body: str) -> None:
    try:
        send_mail(subject, body, None, [to])
    except Exception as exc:  # SMTP errors vary by backend
        raise TransientError(f"the mail server refused or failed ({type(exc).__name__})") from exc
