"""The one Kubernetes adapter (STYLE §1.4). Nothing else imports `kubernetes`.

`ClusterClient` wraps `kubernetes.dynamic.DynamicClient`:

* `apply(objects)` server-side-applies plain dicts with the fixed field manager
  `settings.KUBE_FIELD_MANAGER` and `force=True` (we own the fields we send; a hand edit of one
  of them is drift and is taken back). `dry_run=True` asks the apiserver to validate only.
* `delete(obj)` treats 404 as done. `list(...)` is one label-selected call per namespace.
* `list_versioned(...)` is `list` plus the list's resourceVersion; `watch(...)` streams the
  changes after it (allowWatchBookmarks, raw JSON lines) and raises `WatchExpired` on a 410
  Gone (list again). `get_lease` / `write_lease` read and compare-and-set a
  coordination.k8s.io Lease (the status watcher's leader election).
* Every failure becomes `TransientClusterError` (connection refused/reset, timeouts, 408, 429,
  5xx: retry later) or `PermanentClusterError` (400, 401, 403, 404 on apply, 409, 422, CRD not
  served: a person must act), carrying the apiserver's own message.

Configuration: `settings.KUBECONFIG` (+ `KUBE_CONTEXT`) or `settings.KUBE_IN_CLUSTER`. With
neither, `cluster_configured()` is False and `ClusterClient.from_settings()` raises
`ClusterNotConfigured`; the tasks then run in *embedded dev mode* (see deployments.endpoints.reconcile).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import urllib3
from django.conf import settings
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
from kubernetes.watch.watch import iter_resp_lines

from deployments.workloads.errors import PermanentClusterError, TransientClusterError
from deployments.workloads.labels import LABEL_ENDPOINT_UUID

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = {0, 408, 425, 429, 500, 502, 503, 504}
# How long an applied, unchanged shared object (a team's Namespace/ResourceQuota) is trusted
# before it is sent again. sync_statuses checks those objects on every run regardless.
REUSE_SECONDS = 60.0
# A RoleBinding grants its rights once the apiserver's authorizer cache has seen it (a watch,
# usually milliseconds): objects applied after one in the same call retry a 403 this long.
RBAC_SETTLE_SECONDS = 5.0


LEASE_API = "coordination.k8s.io/v1"
# Concurrent watches each hold one connection: a client made for watching pools this many.
WATCH_POOL_SIZE = 256


class ClusterNotConfigured(PermanentClusterError):
    """No KUBECONFIG and not in a cluster: nothing to apply to."""


class WatchExpired(TransientClusterError):
    """The resourceVersion a watch resumed from is no longer served (HTTP 410 Gone, the
    apiserver compacted past it): list again and watch from the new list's version."""


def cluster_configured() -> bool:
    return bool(settings.KUBECONFIG or settings.KUBE_IN_CLUSTER)


def _api_message(exc: ApiException | DynamicApiError) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return data["message"]
        except (TypeError, ValueError):
            pass
    return str(getattr(exc, "reason", "") or exc)


def _json(response) -> dict[str, Any]:
    """Decode a raw response (serialize=False skips the slow ResourceInstance wrapping)."""
    return json.loads(response.data)


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def translate(exc: Exception, what: str) -> Exception:
    """Map a client exception to TransientClusterError / PermanentClusterError."""
    if isinstance(exc, ApiException | DynamicApiError):
        status = getattr(exc, "status", 0) or 0
        message = f"{what}: {_api_message(exc)} (HTTP {status})"
        err = (
            TransientClusterError(message)
            if status in TRANSIENT_STATUSES or status >= 500
            else PermanentClusterError(message)
        )
        err.status = status
        return err
    if isinstance(exc, ResourceNotFoundError):
        return PermanentClusterError(
            f"{what}: the cluster does not serve this kind ({exc}); install the KServe and KEDA CRDs."
        )
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError):
        # The exception's text names the apiserver URL (and any credentials in it): say what
        # failed in words; status messages are shown to team members.
        reason = type(getattr(exc, "reason", None) or exc).__name__
        return TransientClusterError(f"{what}: cannot reach the Kubernetes API ({reason}).")
    return exc


class ClusterClient:
    """Server-side apply, delete, get and list over the dynamic client."""

    _cache: dict[tuple, ClusterClient] = {}
    _lock = threading.Lock()

    def __init__(self, api_client: k8s_client.ApiClient):
        self.api_client = api_client
        self._dynamic: DynamicClient | None = None
        self.field_manager = settings.KUBE_FIELD_MANAGER
        self.timeout = settings.KUBE_REQUEST_TIMEOUT
        self._recent: dict[tuple, tuple[str, float]] = {}  # (kind, ns, name) -> (digest, when)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_settings(cls) -> ClusterClient:
        """A client for the configured cluster, reused per process (discovery is costly)."""
        if not cluster_configured():
            raise ClusterNotConfigured(
                "No Kubernetes cluster is configured (set KUBECONFIG or KUBE_IN_CLUSTER=true)."
            )
        path = settings.KUBECONFIG
        mtime = os.path.getmtime(path) if path and os.path.exists(path) else None
        key = (path, settings.KUBE_CONTEXT, settings.KUBE_IN_CLUSTER, mtime)
        with cls._lock:
            if key not in cls._cache:
                cls._cache.clear()
                cls._cache[key] = cls(cls._new_api_client())
            return cls._cache[key]

    @classmethod
    def for_watching(cls) -> ClusterClient:
        """A client of its own (not shared with apply/list callers) whose connection pool
        holds one long-lived watch connection per watched kind and namespace."""
        if not cluster_configured():
            raise ClusterNotConfigured(
                "No Kubernetes cluster is configured (set KUBECONFIG or KUBE_IN_CLUSTER=true)."
            )
        return cls(cls._new_api_client(pool_size=WATCH_POOL_SIZE))

    @staticmethod
    def _new_api_client(pool_size: int | None = None) -> k8s_client.ApiClient:
        cfg = k8s_client.Configuration()
        if pool_size:
            cfg.connection_pool_maxsize = pool_size
        try:
            if settings.KUBECONFIG:
                k8s_config.load_kube_config(
                    config_file=settings.KUBECONFIG,
                    context=settings.KUBE_CONTEXT or None,
                    client_configuration=cfg,
                    persist_config=False,
                )
            else:
                k8s_config.load_incluster_config(client_configuration=cfg)
        except (k8s_config.ConfigException, OSError) as exc:
            raise ClusterNotConfigured(f"Cannot load the Kubernetes configuration: {exc}") from exc
        cfg.retries = 0  # we retry through Celery with backoff, not inside one request
        return k8s_client.ApiClient(cfg)

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            try:
                self._dynamic = DynamicClient(self.api_client)
            except Exception as exc:
                raise translate(exc, "discovery") from exc
        return self._dynamic

    def _resource(self, api_version: str, kind: str):
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except Exception as exc:
            raise translate(exc, f"{kind} ({api_version})") from exc

    # --- operations -----------------------------------------------------------------------

    def apply(
        self,
        objects: list[dict[str, Any]],
        dry_run: bool = False,
        reuse_kinds: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Server-side apply each object in order; return what the apiserver stored.

        Objects of `reuse_kinds` that this process applied with the same content less than
        REUSE_SECONDS ago are not sent again (their entry is the object as sent). If the
        apiserver then answers 404 (e.g. the namespace was deleted meanwhile), everything is
        applied again without that shortcut.
        """
        try:
            return self._apply(objects, dry_run, reuse_kinds)
        except PermanentClusterError as exc:
            if reuse_kinds and getattr(exc, "status", None) == 404:
                self._recent.clear()
                return self._apply(objects, dry_run, ())
            raise

    def _apply(self, objects, dry_run: bool, reuse_kinds) -> list[dict[str, Any]]:
        applied = []
        bound_at = None  # when this call applied a RoleBinding (the rights it grants settle)
        for obj in objects:
            meta = obj["metadata"]
            key = (obj["kind"], meta.get("namespace"), meta["name"])
            digest = json.dumps(obj, sort_keys=True)
            seen = self._recent.get(key)
            if (
                obj["kind"] in reuse_kinds
                and not dry_run
                and seen
                and seen[0] == digest
                and time.monotonic() - seen[1] < REUSE_SECONDS
            ):
                applied.append(obj)
                continue
            resource = self._resource(obj["apiVersion"], obj["kind"])
            while True:
                try:
                    result = self.dynamic.server_side_apply(
                        resource,
                        body=obj,
                        name=meta["name"],
                        namespace=meta.get("namespace"),
                        field_manager=self.field_manager,
                        force_conflicts=True,
                        dry_run="All" if dry_run else None,
                        _request_timeout=self.timeout,
                        serialize=False,
                    )
                    break
                except Exception as exc:
                    settling = bound_at and time.monotonic() - bound_at < RBAC_SETTLE_SECONDS
                    if settling and getattr(exc, "status", None) == 403:
                        time.sleep(0.1)
                        continue
                    self._recent.pop(key, None)
                    raise translate(exc, f"apply {_describe(obj)}") from exc
            if obj["kind"] == "RoleBinding":
                bound_at = time.monotonic()
            if not dry_run:
                self._recent[key] = (digest, time.monotonic())
            applied.append(_json(result))
        return applied

    def delete(self, obj: dict[str, Any]) -> bool:
        """Delete one object; False when it was already gone (404 counts as done)."""
        resource = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            resource.delete(
                name=meta["name"],
                namespace=meta.get("namespace"),
                propagation_policy="Background",
                _request_timeout=self.timeout,
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise translate(exc, f"delete {_describe(obj)}") from exc
        return True

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        resource = self._resource(api_version, kind)
        try:
            return _json(
                resource.get(
                    name=name, namespace=namespace, serialize=False, _request_timeout=self.timeout
                )
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise translate(exc, f"get {kind} {namespace}/{name}") from exc

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """One call: every object of a kind in a namespace matching the selector."""
        try:
            items, _ = self.list_versioned(api_version, kind, namespace, label_selector)
        except PermanentClusterError as exc:
            if getattr(exc, "status", None) == 404:  # translate() keeps the HTTP status
                return []  # the namespace does not exist (yet)
            raise
        return items

    def events(self, namespace: str) -> list[dict[str, Any]]:
        """Recent core Events of a namespace (pods, ReplicaSets, quota refusals)."""
        return self.list("v1", "Event", namespace)

    def predictor_pods(self, namespace: str, endpoint_uuid: str) -> list[dict[str, Any]]:
        """The endpoint's predictor pods (KServe copies our labels into the pod template), one
        label-selected list call, oldest first."""
        selector = f"{LABEL_ENDPOINT_UUID}={endpoint_uuid}"
        pods = self.list("v1", "Pod", namespace, selector)
        return sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")

    def pod_log_tail(
        self, namespace: str, pod: str, container: str, lines: int = 50, limit_bytes: int = 16384
    ) -> str:
        """The last `lines` lines of a container's log (at most `limit_bytes`).

        The apiserver fetches logs from the node's kubelet: where no kubelet serves them (a
        node that is not reachable, a container not started yet) this raises
        PermanentClusterError (4xx) or TransientClusterError (5xx, timeouts) with its words."""
        core = k8s_client.CoreV1Api(self.api_client)
        try:
            return core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=lines,
                limit_bytes=limit_bytes,
                _request_timeout=min(self.timeout, 5.0),
            )
        except Exception as exc:
            raise translate(exc, f"log of pod {namespace}/{pod}") from exc

    # --- list + watch (the status watcher) -------------------------------------------------

    def list_versioned(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """One list call: the matching objects and the list's resourceVersion (watch from it)."""
        resource = self._resource(api_version, kind)
        try:
            result = _json(
                resource.get(
                    namespace=namespace,
                    label_selector=label_selector,
                    serialize=False,
                    _request_timeout=self.timeout,
                )
            )
        except Exception as exc:
            raise translate(exc, f"list {kind} in {namespace}") from exc
        version = (result.get("metadata") or {}).get("resourceVersion") or ""
        return result.get("items") or [], version

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        label_selector: str | None,
        resource_version: str,
        timeout_seconds: int,
    ) -> Watch:
        """Open a watch of the changes after `resource_version` (allowWatchBookmarks: the
        apiserver sends BOOKMARK events carrying a newer resourceVersion while nothing of ours
        changes). The apiserver ends it after `timeout_seconds`; resume from the last version
        seen. Raises WatchExpired when that version is too old (410 Gone)."""
        resource = self._resource(api_version, kind)
        what = f"watch {kind} in {namespace}"
        try:
            response = self.dynamic.request(
                "GET",
                resource.path(namespace=namespace),
                watch="true",
                allow_watch_bookmarks="true",
                resource_version=resource_version,
                timeout_seconds=str(int(timeout_seconds)),
                label_selector=label_selector or None,
                serialize=False,
                _request_timeout=(self.timeout, timeout_seconds + self.timeout),
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 410:
                raise WatchExpired(f"{what}: {_api_message(exc)} (HTTP 410)") from exc
            raise translate(exc, what) from exc
        return Watch(response, what)

    def get_lease(self, name: str, namespace: str) -> dict[str, Any] | None:
        return self.get(LEASE_API, "Lease", name, namespace)

    def write_lease(self, lease: dict[str, Any]) -> dict[str, Any] | None:
        """Create the Lease, or replace it at the resourceVersion it was read at
        (compare-and-set). None when someone else wrote it first (409 Conflict)."""
        resource = self._resource(LEASE_API, "Lease")
        meta = lease["metadata"]
        try:
            if meta.get("resourceVersion"):
                result = resource.replace(
                    body=lease,
                    name=meta["name"],
                    namespace=meta["namespace"],
                    serialize=False,
                    _request_timeout=self.timeout,
                )
            else:
                result = resource.create(
                    body=lease,
                    namespace=meta["namespace"],
                    serialize=False,
                    _request_timeout=self.timeout,
                )
        except Exception as exc:
            if getattr(exc, "status", None) == 409:
                return None
            raise translate(exc, f"write Lease {meta['namespace']}/{meta['name']}") from exc
        return _json(result)


class Watch:
    """One open watch: iterate for (type, object) events (ADDED, MODIFIED, DELETED, BOOKMARK);
    `close()` (from any thread) ends it."""

    def __init__(self, response, what: str):
        self._response = response
        self._what = what
        self._closed = False

    def __iter__(self):
        try:
            for line in iter_resp_lines(self._response):
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    message = f"{self._what}: {obj.get('message')} (HTTP {obj.get('code')})"
                    if obj.get("code") == 410:
                        raise WatchExpired(message)
                    raise TransientClusterError(message)
                yield kind, obj
        except (WatchExpired, TransientClusterError):
            raise
        except Exception as exc:
            if self._closed:
                return  # closed on purpose (from another thread): the read fails somehow
            raise translate(exc, self._what) from exc
        finally:
            self.close()

    def close(self) -> None:
        self._closed = True
        try:
            self._response.close()
            self._response.release_conn()
        except Exception:  # already closed, or the pool is gone
            pass
