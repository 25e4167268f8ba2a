"""List once, then watch: one kind in one namespace, the way controllers follow the cluster.

An `Informer` keeps the objects it has seen in the shared `Store` and calls `on_change(obj)`
for every object that was added, changed or deleted. It resumes each watch from the last
resourceVersion it saw (BOOKMARK events keep that version fresh while nothing of ours
changes). When the apiserver answers 410 Gone (that version was compacted away) it lists
again and reports every object that differs from what it held, including the ones deleted
meanwhile: nothing is lost, only re-read.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from deployments.k8s import ClusterClient, Watch, WatchExpired
from deployments.workloads.errors import PermanentClusterError, TransientClusterError

log = logging.getLogger(__name__)

# A kind the cluster does not serve (e.g. no Gateway API CRDs) or a namespace the portal may
# not read yet: try again this much later. Transient errors back off 1 s, 2 s ... up to 30 s.
PERMANENT_RETRY_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


class Store:
    """The objects all informers hold, indexed by the values of a few labels (thread-safe)."""

    def __init__(self, index_labels: tuple[str, ...]):
        self.index_labels = index_labels
        self._lock = threading.Lock()
        # (kind, label, value) -> {(namespace, name): object}
        self._index: dict[tuple[str, str, str], dict[tuple[str, str], dict]] = defaultdict(dict)

    def keys_of(self, obj: dict[str, Any]) -> set[tuple[str, str]]:
        labels = _meta(obj).get("labels") or {}
        return {(label, labels[label]) for label in self.index_labels if labels.get(label)}

    def put(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """Hold `obj` (in place of `old`, its previous version, whose labels may differ)."""
        where = (_meta(obj).get("namespace") or "", _meta(obj).get("name") or "")
        keys = self.keys_of(obj)
        with self._lock:
            for label, value in self.keys_of(old or {}) - keys:
                self._drop(kind, label, value, where)
            for label, value in keys:
                self._index[(kind, label, value)][where] = obj

    def _drop(self, kind: str, label: str, value: str, where: tuple[str, str]) -> None:
        held = self._index.get((kind, label, value))
        if held is not None:
            held.pop(where, None)
            if not held:
                del self._index[(kind, label, value)]

    def delete(self, kind: str, obj: dict[str, Any]) -> None:
        where = (_meta(obj).get("namespace") or "", _meta(obj).get("name") or "")
        with self._lock:
            for label, value in self.keys_of(obj):
                self._drop(kind, label, value, where)

    def by_label(self, kind: str, label: str, value: str) -> list[dict[str, Any]]:
        """The objects of `kind` whose `label` is `value`, oldest first."""
        with self._lock:
            found = list(self._index.get((kind, label, value), {}).values())
        return sorted(found, key=lambda o: _meta(o).get("creationTimestamp") or "")


class Informer:
    """Follow one kind in one namespace until `stop()`; run it in a thread of its own."""

    def __init__(
        self,
        client: ClusterClient,
        api_version: str,
        kind: str,
        namespace: str,
        selector: str,
        store: Store,
        on_change: Callable[[dict[str, Any]], None],
        timeout_seconds: int,
    ):
        self.client, self.api_version, self.kind = client, api_version, kind
        self.namespace, self.selector = namespace, selector
        self.store, self.on_change, self.timeout_seconds = store, on_change, timeout_seconds
        self.resource_version = ""
        self.lists = 0  # how many times it listed (1 + one per 410 Gone)
        self.synced = threading.Event()  # set once the first list is in the store
        self._held: dict[str, dict] = {}  # name -> object
        self._stopped = threading.Event()
        self._watch: Watch | None = None

    def __repr__(self) -> str:
        return f"<Informer {self.kind} in {self.namespace}>"

    def stop(self) -> None:
        """Stop after the current event (or when the apiserver ends the watch, at the latest
        after `timeout_seconds`). The watch is not closed from here: closing a TLS socket
        while another thread reads it can block both."""
        self._stopped.set()

    def run(self) -> None:
        backoff = 1.0
        while not self._stopped.is_set():
            try:
                if not self.resource_version:
                    self._list()
                self._follow()
                backoff = 1.0
            except WatchExpired as exc:
                log.info("%r: %s; listing again", self, exc)
                self.resource_version = ""
            except PermanentClusterError as exc:
                log.warning("%r: %s; trying again in %.0f s", self, exc, PERMANENT_RETRY_SECONDS)
                self._stopped.wait(PERMANENT_RETRY_SECONDS)
            except TransientClusterError as exc:
                log.warning("%r: %s; trying again in %.0f s", self, exc, backoff)
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # a bug or an undecodable event: never let the thread die
                log.exception("%r failed; listing again in %.0f s", self, backoff)
                self.resource_version = ""
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _list(self) -> None:
        items, version = self.client.list_versioned(
            self.api_version, self.kind, self.namespace, self.selector
        )
        fresh = {_meta(o).get("name"): o for o in items}
        for name, old in list(self._held.items()):
            if name not in fresh:  # deleted while we were not watching
                self._forget(old)
        for name, obj in fresh.items():
            old = self._held.get(name)
            if old is None or _meta(old).get("resourceVersion") != _meta(obj).get(
                "resourceVersion"
            ):
                self._keep(obj, old)
        self.resource_version = version
        self.lists += 1
        self.synced.set()

    def _follow(self) -> None:
        self._watch = self.client.watch(
            self.api_version,
            self.kind,
            self.namespace,
            self.selector,
            self.resource_version,
            self.timeout_seconds,
        )
        if self._stopped.is_set():
            self._watch.close()
            return
        for event, obj in self._watch:
            version = _meta(obj).get("resourceVersion")
            if event == "DELETED":
                old = self._held.get(_meta(obj).get("name"))
                self._forget(obj if old is None else old)
            elif event in ("ADDED", "MODIFIED"):
                self._keep(obj, self._held.get(_meta(obj).get("name")))
            if version:
                self.resource_version = version
            if self._stopped.is_set():
                break

    def _keep(self, obj: dict, old: dict | None) -> None:
        self._held[_meta(obj).get("name")] = obj
        self.store.put(self.kind, obj, old)
        self.on_change(obj)

    def _forget(self, obj: dict) -> None:
        self._held.pop(_meta(obj).get("name"), None)
        self.store.delete(self.kind, obj)
        self.on_change(obj)
