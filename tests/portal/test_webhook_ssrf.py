"""Webhook SSRF: a team admin cannot point the budget webhook at the portal's own network.
Refused when saved (one validator: form, API, admin) and again when sent, after DNS resolution,
with no redirects followed. WEBHOOK_ALLOWED_HOSTS lets an admin allow an internal receiver."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError

from portal import transport
from portal.models import Team
from portal.validators import validate_webhook_url

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://127.0.0.1:8000/hook",
    "http://127.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://localhost/hook",
    "http://receiver.monitoring.svc/hook",
    "http://receiver.monitoring.svc.cluster.local:8080/hook",
    "http://metadata.google.internal/",
    "http://intranet/hook",
    "http://user:pw@hooks.example.com/hook",
    "ftp://hooks.example.com/hook",
]


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 204
    location = ""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(self.path)
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.status, _Receiver.location = [], 204, ""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", REFUSED)
def test_validator_refuses_internal_targets(url):
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


@pytest.mark.parametrize("url", ["https://hooks.slack.com/services/x", "https://8.8.8.8/hook", ""])
def test_validator_accepts_public_targets(url):
    validate_webhook_url(url)


def test_allow_list_admits_an_internal_receiver(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["receiver.monitoring.svc", "10.1.0.0/16"]
    validate_webhook_url("http://receiver.monitoring.svc/hook")
    validate_webhook_url("http://10.1.2.3/hook")
    with pytest.raises(ValidationError):
        validate_webhook_url("http://10.2.0.1/hook")


def test_the_model_refuses_an_internal_webhook_for_the_admin(team):
    """The admin (and any ModelForm or ModelSerializer) validates through the model field."""
    team.alert_webhook_url = "http://169.254.169.254/latest/"
    with pytest.raises(ValidationError) as exc:
        team.full_clean()
    assert "alert_webhook_url" in exc.value.message_dict


def test_settings_page_refuses_an_internal_webhook(owner_client, team):
    resp = owner_client.post(
        f"/teams/{team.slug}/settings/",
        {"slo_error_rate": "0.01", "alert_webhook_url": "http://[::1]/hook"},
    )
    assert "alert_webhook_url" in resp.context["settings_form"].errors
    assert Team.objects.get(pk=team.pk).alert_webhook_url == ""


def test_send_refuses_a_local_receiver_unless_allowed(receiver, settings):
    url, hook = receiver
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(transport.PermanentError, match="loopback"):
        transport.post_webhook(url, {"x": 1})
    assert hook.received == []
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    transport.post_webhook(url, {"x": 1})
    assert hook.received == ["/hook"]


def test_send_checks_the_resolved_address(monkeypatch):
    """A public-looking name that resolves to an internal address is refused at send time."""
    monkeypatch.setattr(transport, "_resolve", lambda host, port: ["169.254.169.254"])
    with pytest.raises(transport.PermanentError, match="link-local"):
        transport.post_webhook("https://hooks.example.com/x", {})


def test_redirects_are_not_followed(receiver, settings):
    url, hook = receiver
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    hook.status, hook.location = 302, "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(transport.PermanentError, match="redirect"):
        transport.post_webhook(url, {})
    assert hook.received == ["/hook"]


def test_errors_never_name_the_url(receiver, settings):
    url, hook = receiver
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    hook.status = 500
    with pytest.raises(transport.TransientError) as exc:
        transport.post_webhook(url.replace("/hook", "/hook?token=s3cret"), {})
    assert "s3cret" not in str(exc.value) and "127.0.0.1" not in str(exc.value)
