"""Rules of names and values shared by every app: Kubernetes names and labels, storage URIs,
time zones. Each rule is written once here; models, forms, serializers and the manifest
renderer call it."""

import ipaddress
import re
import socket
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.deconstruct import deconstructible

DNS_LABEL = RegexValidator(
    r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
    "Use lowercase letters, digits and '-', starting with a letter and ending with a letter "
    "or digit (an RFC 1123 DNS label).",
)

# Longest context window a model or an endpoint may declare (tokens); 16 Mi, inside int32.
MAX_CONTEXT_LENGTH = 16 * 1024 * 1024


@deconstructible
class StorageUriValidator(RegexValidator):
    """The URI shapes KServe's storage initializer reads, with no empty, ``.`` or ``..`` path
    segment: a path must not climb out of its bucket, claim or repository."""

    def __call__(self, value):
        super().__call__(value)
        _, _, path = str(value).partition("://")
        if any(segment in {"", ".", ".."} for segment in path.rstrip("/").split("/")):
            raise ValidationError(
                "A storage URI may not contain empty, '.' or '..' path segments.",
                code=self.code,
                params={"value": value},
            )


STORAGE_URI = StorageUriValidator(
    r"^(hf://[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9a-f]{7,40})?"
    r"|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?"
    r"|gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?"
    r"|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[A-Za-z0-9._/-]*)?)$",
    "Use hf://org/model[:revision], s3://bucket/path, gs://bucket/path or pvc://claim/path "
    "(letters, digits, '.', '_', '-' and '/' only).",
)

DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def label_problems(labels: dict) -> list[str]:
    """Why a {key: value} map is not valid Kubernetes labels (empty list when it is)."""
    problems = []
    for key, value in (labels or {}).items():
        key = str(key)
        prefix, _, name = key.rpartition("/")
        prefix_ok = not prefix or (
            len(prefix) <= 253
            and all(
                DNS_LABEL_RE.match(part) or re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", part)
                for part in prefix.split(".")
            )
        )
        if not (prefix_ok and LABEL_NAME_RE.match(name)):
            problems.append(f"label key {key!r} is not a valid Kubernetes label name")
        if not isinstance(value, str) or not LABEL_VALUE_RE.match(value):
            problems.append(
                f"label {key!r} has an invalid value {value!r} (63 characters of "
                "letters, digits, '-', '_' or '.')"
            )
    return problems


@lru_cache(maxsize=1)
@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """Every IANA time zone name this machine knows (read from disk once: ~60 ms a scan)."""
    return frozenset(available_timezones())


# The zones most teams pick, offered first; then every canonical Area/City zone by region.
# Aliases and oddities of the raw database ('Factory', 'localtime', 'US/Eastern', 'Etc/GMT+5')
# are not offered (they still validate, so an old value keeps working).
COMMON_TIME_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "Africa/Lagos",
)
_REGIONS = ("Africa", "America", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@lru_cache(maxsize=1)
def _time_zone_menu() -> tuple[frozenset[str], tuple, tuple]:
    """The offered zones, the common ones and the other zones grouped by region: built from
    `time_zones()` once per process (sorting and grouping ~600 names cost ~1 ms a page)."""
    known = time_zones()
    common = tuple((z, z.replace("_", " ")) for z in COMMON_TIME_ZONES if z in known)
    groups: dict[str, list[tuple[str, str]]] = {}
    for zone in sorted(known):
        region = zone.split("/", 1)[0]
        if region in _REGIONS and zone not in COMMON_TIME_ZONES and zone.count("/") >= 1:
            groups.setdefault(region, []).append((zone, zone.replace("_", " ")))
    offered = frozenset(z for z, _ in common) | {z for items in groups.values() for z, _ in items}
    return offered, common, tuple((region, tuple(items)) for region, items in groups.items())


def time_zone_choices(current: str = "") -> list[tuple[str, Any]]:
    """Select choices: a blank prompt, the common zones, then the other canonical zones grouped
    by region (plus `current` when it is a valid zone outside those lists)."""
    offered, common, groups = _time_zone_menu()
    choices: list[tuple[str, Any]] = [("", "Choose a time zone…")]
    if current and current in time_zones() and current not in offered:
        choices.append((current, current))
    choices.append(("Common", list(common)))
    choices += [(region, list(items)) for region, items in groups]
    return choices


def time_zone_problem(zone: str) -> str | None:
    """Why `zone` is not a usable time zone name (None when it is, or when it is empty)."""
    if zone and zone not in time_zones():
        return f"Unknown time zone {zone!r}: use an IANA name such as Europe/Berlin."
    return None


def validate_time_zone(zone: str) -> None:
    problem = time_zone_problem(zone)
    if problem:
        raise ValidationError(problem)


# --- webhook targets ----------------------------------------------------------------------
# Names that only mean something inside a cluster or a private network.
INTERNAL_SUFFIXES = (".svc", ".cluster.local", ".local", ".internal", ".localhost")
# Last labels of names a pod's DNS search path completes into cluster services
# (`kubernetes.default`, `kube-dns.kube-system`) or that no public registry serves.
INTERNAL_LAST_LABELS = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "svc", "cluster", "local",
     "localhost", "localdomain", "internal", "intranet", "lan", "home", "corp", "private"}
)  # fmt: skip
# Public names that answer loopback or any address written into the name, by design.
LOOPBACK_DNS_DOMAINS = (
    "localtest.me", "lvh.me", "vcap.me", "nip.io", "xip.io", "sslip.io",
    "traefik.me", "localhost.direct",
)  # fmt: skip
# An IPv4 address written into a host name (127.0.0.1.nip.io, 10-0-0-5.sslip.io).
EMBEDDED_IPV4_RE = re.compile(
    r"(?<![0-9])(\d{1,3})[.-](\d{1,3})[.-](\d{1,3})[.-](\d{1,3})(?![0-9])"
)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches (IPv4-mapped, 6to4, Teredo's client,
    NAT64), or None."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _plain_address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (e.g. cloud metadata)"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "a private or reserved address"
    if ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"):  # CGNAT, pod networks
        return "a private or reserved address"
    return None


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not be sent to this address (None when it is a public address)."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        problem = _plain_address_problem(inner)
        if problem:
            return f"an address that embeds {problem} ({inner})"
    return _plain_address_problem(ip)


def host_name_problem(host: str) -> str | None:
    """Why a host name (not an IP literal) may not be a webhook target, before any DNS."""
    labels = host.split(".")
    if host == "localhost" or host.endswith(INTERNAL_SUFFIXES) or len(labels) < 2:
        return "A webhook may not target a cluster-internal or local host name."
    if labels[-1] in INTERNAL_LAST_LABELS:
        return "A webhook may not target a cluster-internal or local host name."
    if any(host == d or host.endswith("." + d) for d in LOOPBACK_DNS_DOMAINS):
        return "A webhook may not target a name that resolves to loopback by design."
    for match in EMBEDDED_IPV4_RE.finditer(host):
        try:
            ip = ipaddress.IPv4Address(".".join(match.groups()))
        except ValueError:
            continue
        problem = address_problem(ip)
        if problem:
            return f"A webhook may not target a host name that embeds {problem}."
    return None


def webhook_allowed(host: str | None) -> bool:
    """Whether the admin allow-list (WEBHOOK_ALLOWED_HOSTS: names, IPs, CIDRs) names `host`."""
    if not host:
        return False
    host = host.strip("[]").lower()
    for entry in settings.WEBHOOK_ALLOWED_HOSTS:
        entry = entry.strip().lower()
        if host == entry.strip("[]"):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``127.1``, ``0x7f.1``, ``2130706433``: forms the resolver reads as IPv4 addresses."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def webhook_url_problem(url: str) -> str | None:
    """Why `url` may not be a webhook target, judged on the URL alone (DNS is checked again
    when sending, portal/transport.py)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "A webhook must be an http:// or https:// URL with a host."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "A webhook must be an http:// or https:// URL with a host."
    if parts.username or parts.password:
        return "A webhook URL may not contain a user name or password."
    host = parts.hostname.lower().rstrip(".")
    if webhook_allowed(host):
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = _legacy_ipv4(host)
    if ip is None:
        return host_name_problem(host)
    problem = address_problem(ip)
    return f"A webhook may not target {problem}." if problem else None


def validate_webhook_url(url: str) -> None:
    problem = webhook_url_problem(url)
    if problem:
        raise ValidationError(problem)


# Data locations of batch jobs (input JSONL, output folder). The path characters are those of
# STORAGE_URI; a path segment may not be "." or ".." and may not be empty, so a URI cannot
# climb out of the folder it names once it is mounted or joined with a shard file name.
DATA_URI_RE = re.compile(
    r"^(?P<scheme>s3|pvc|hf)://(?P<rest>[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)/?$"
)
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]$")


def _data_uri_problem(uri: str, schemes: tuple[str, ...]) -> str | None:
    allowed = ", ".join(f"{s}://" for s in schemes)
    match = DATA_URI_RE.match(uri or "")
    if match is None or match["scheme"] not in schemes:
        return (
            f"Use {allowed} followed by a bucket, claim or repository and a path of letters, "
            "digits, '.', '_', '-' and '/'."
        )
    parts = match["rest"].split("/")
    if any(part in (".", "..") for part in parts):
        return "A path may not contain '.' or '..' segments."
    if match["scheme"] == "hf":
        if len(parts) < 3:
            return "Use hf://org/repo/path for a file of a Hugging Face dataset."
    elif not BUCKET_RE.match(parts[0]):
        return f"The {match['scheme']}:// bucket or claim name must be a lowercase DNS name."
    return None


def batch_input_uri_problem(uri: str) -> str | None:
    """Why `uri` is not a usable batch input (None when it is)."""
    return _data_uri_problem(uri, ("s3", "pvc", "hf"))


def batch_output_uri_problem(uri: str) -> str | None:
    """Why `uri` is not a usable batch output folder (None when it is)."""
    return _data_uri_problem(uri, ("s3", "pvc"))


def webhook_host(url: str) -> str:
    """The host (and port) of a webhook URL: what may be shown of it once saved."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "(unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host
