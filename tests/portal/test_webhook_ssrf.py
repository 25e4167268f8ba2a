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
    # addresses that embed a private IPv4 one (6to4, NAT64, IPv4-mapped, Teredo)
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/latest/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    # cluster-internal names (the pod's search domains complete them) and public names that
    # resolve to loopback by design
    "http://kubernetes.default/",
    "http://kubernetes.default.svc/",
    "https://kube-dns.kube-system/",
    "http://localtest.me/",
    "http://app.localtest.me/",
    "http://127.0.0.1.nip.io/",
    "http://10-0-0-5.sslip.io/",
    "http://lvh.me/",
]


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    hosts: list = []
    status = 204
    location = ""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(self.path)
        type(self).hosts.append(self.headers.get("Host"))
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.hosts, _Receiver.status, _Receiver.location = [], [], 204, ""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", REFUSED)
def test_validator_refuses_internal_targets(url):
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/x",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://outlook.office.com/webhook/x",
        "https://8.8.8.8.nip.io.example.com/hook",  # only *.nip.io itself is refused
        "",
    ],
)
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


@pytest.fixture
def resolver(monkeypatch):
    """The one resolution seam (transport._resolve) answers from a table; anything else that
    tried to resolve a name again (requests, urllib3, socket) would fail the test."""
    table: dict[str, list[str]] = {}
    calls: list[str] = []

    def resolve(host, port):
        calls.append(host)
        return table[host]

    def no_second_lookup(host, *args, **kwargs):
        if host in table:
            raise AssertionError(f"{host} resolved again outside the checked seam")
        return real_getaddrinfo(host, *args, **kwargs)

    real_getaddrinfo = transport.socket.getaddrinfo
    monkeypatch.setattr(transport, "_resolve", resolve)
    monkeypatch.setattr(transport.socket, "getaddrinfo", no_second_lookup)
    return table, calls


def test_send_connects_to_the_address_it_checked(receiver, resolver, settings):
    """DNS rebinding: the name is resolved once, checked, and that address is connected to
    (with the name as Host), so a second answer can never point the POST elsewhere."""
    url, hook = receiver
    table, calls = resolver
    port = url.split(":")[2].split("/")[0]
    table["hooks.example.com"] = ["127.0.0.1"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the receiver runs here; the name is public
    transport.post_webhook(f"http://hooks.example.com:{port}/hook?x=1", {"x": 1})
    assert hook.received == ["/hook?x=1"] and calls == ["hooks.example.com"]
    assert hook.hosts == [f"hooks.example.com:{port}"]


def test_send_never_connects_to_a_rebound_address(receiver, resolver, settings):
    """The checked answer is public; were the name resolved again (as requests did) it would
    point at the local receiver. Nothing reaches it."""
    url, hook = receiver
    table, _calls = resolver
    port = url.split(":")[2].split("/")[0]
    table["rebind.example.com"] = ["203.0.114.1"]  # public, unreachable here
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(transport.TransientError):
        transport.post_webhook(f"http://rebind.example.com:{port}/hook", {}, timeout=0.5)
    assert hook.received == []


@pytest.mark.parametrize("address", ["2002:7f00:1::", "64:ff9b::a9fe:a9fe", "::ffff:10.0.0.1"])
def test_send_refuses_a_name_resolving_to_an_embedded_private_address(resolver, address):
    table, _calls = resolver
    table["hooks.example.com"] = [address]
    with pytest.raises(transport.PermanentError, match="embeds|loopback|private|link-local"):
        transport.post_webhook("https://hooks.example.com/x", {})


def _self_signed(tmp_path, name: str):
    """A certificate for `name` (its own CA): (cert path, key path)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on 127.0.0.1 whose certificate names hooks.example.com."""
    import ssl

    cert, key = _self_signed(tmp_path, "hooks.example.com")
    _Receiver.received, _Receiver.hosts, _Receiver.status, _Receiver.location = [], [], 204, ""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, cert, _Receiver
    server.shutdown()
    server.server_close()


def test_https_to_the_checked_address_verifies_the_certificate_of_the_name(
    tls_receiver, resolver, settings, monkeypatch
):
    """Connecting to the address does not weaken TLS: SNI and the certificate check use the
    URL's name, so the right certificate passes and one for another name is refused."""
    port, cert, hook = tls_receiver
    table, _calls = resolver
    table["hooks.example.com"] = ["127.0.0.1"]
    table["other.example.com"] = ["127.0.0.1"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    monkeypatch.setattr(transport, "ca_bundle", lambda: str(cert))
    transport.post_webhook(f"https://hooks.example.com:{port}/hook", {"x": 1})
    assert hook.received == ["/hook"] and hook.hosts == [f"hooks.example.com:{port}"]
    with pytest.raises(transport.TransientError):
        transport.post_webhook(f"https://other.example.com:{port}/hook", {"x": 1})
    assert hook.received == ["/hook"]
