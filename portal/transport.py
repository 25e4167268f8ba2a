"""The one way notifications leave the portal: e-mail and webhooks (Healthchecks'
hc/integrations/*/transport.py is the model). Callers get PermanentError (do not retry: a bad
or refused target) or TransientError (retry later); tests mock this module at one seam.

Webhooks never reach the portal's own network: loopback, link-local (cloud metadata),
private, cluster-internal targets and addresses that embed one (6to4, NAT64, IPv4-mapped,
Teredo) are refused when a URL is saved (validators) and again here after DNS resolution. The
name is resolved once (`_resolve`, the one seam), and the POST goes to the address that was
checked, with the name as Host and as the TLS server name (certificate checked against it): a
second DNS answer (rebinding) can never redirect it. Redirects are not followed.
WEBHOOK_ALLOWED_HOSTS (host names, IPs or CIDRs) lets an admin allow internal receivers. Error
messages never name the URL."""

import ipaddress
import json
import socket
from urllib.parse import urlsplit

import urllib3
from django.core.mail import send_mail
from requests.certs import where as ca_bundle

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


def check_webhook_target(url: str) -> str:
    """The address to post `url` to, resolved once and checked; PermanentError if refused."""
    problem = webhook_url_problem(url)
    if problem:
        raise PermanentError(problem)
    parts = urlsplit(url)
    host = parts.hostname
    try:
        return str(ipaddress.ip_address(host))  # an IP literal: nothing to resolve
    except ValueError:
        pass
    addresses = _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    if not addresses:
        raise TransientError("the webhook's host name does not resolve")
    if not webhook_allowed(host):
        for address in addresses:
            if webhook_allowed(address):
                continue
            problem = address_problem(ipaddress.ip_address(address.split("%")[0]))
            if problem:
                raise PermanentError(f"the webhook's host resolves to {problem}")
    return addresses[0]


def _pool(url: str, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection pool to `address` that speaks to the URL's host: Host header by the
    caller, TLS SNI and certificate checked against the name, not the address."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    common = {"port": port, "timeout": urllib3.Timeout(timeout), "retries": False, "maxsize": 1}
    if parts.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_bundle(),  # the CA bundle requests used
            **common,
        )
    return urllib3.HTTPConnectionPool(address, **common)


def post_webhook(url: str, payload: dict, timeout: float = 10.0) -> None:
    address = check_webhook_target(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = _pool(url, address, timeout)
    try:
        resp = pool.urlopen(
            "POST",
            target,
            body=json.dumps(payload).encode(),
            headers={"Host": parts.netloc, "Content-Type": "application/json"},
            redirect=False,
            retries=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.TimeoutError as exc:
        raise TransientError(f"the webhook did not answer within {timeout:g} s") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise TransientError(f"cannot reach the webhook ({type(exc).__name__})") from exc
    finally:
        pool.close()
    if 300 <= resp.status < 400:
        raise PermanentError(
            f"the webhook answered a redirect (HTTP {resp.status}); redirects are not followed"
        )
    if resp.status >= 500 or resp.status == 429:
        raise TransientError(f"the webhook answered HTTP {resp.status}")
    if resp.status >= 400:
        raise PermanentError(f"the webhook answered HTTP {resp.status}")


def send_email(to: str, subject: str, body: str) -> None:
    try:
        send_mail(subject, body, None, [to])
    except Exception as exc:  # SMTP errors vary by backend
        raise TransientError(f"the mail server refused or failed ({type(exc).__name__})") from exc
