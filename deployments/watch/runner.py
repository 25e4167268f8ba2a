"""The status watcher: leader election, one informer per watched kind and namespace, and one
thread that records what changed.

    StatusWatcher(identity).run(stop)   # blocks until `stop` (a threading.Event) is set

Every replica runs the same loop every `lease_seconds / 3`: take or renew the Lease. The
leader starts an informer (list once, then watch) per kind in `products.KINDS` and team
namespace in `products.namespaces()` (checked again on every turn of the loop, so a new
team's namespace is followed within seconds), and a recorder thread. Informers mark the
`(label, uuid)` keys of every object that changed; the recorder takes all marked keys at once
(a burst of events for one endpoint is one observation) and records them through
`products.record`, which writes only what changed (compare-and-set). A replica that loses
the Lease stops its informers; the one that takes it over lists everything first, so it
catches up with whatever happened in between.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from deployments.k8s import ClusterClient
from deployments.watch import products
from deployments.watch.informer import Informer, Store
from deployments.watch.leader import LeaseElector

log = logging.getLogger(__name__)

# A burst of events (a pod, its Deployment, then the InferenceService) is recorded together.
COALESCE_SECONDS = 0.05
DB_RETRY_SECONDS = 2.0
# How long stopping waits for the informer and recorder threads, all together.
STOP_SECONDS = 5.0


class StatusWatcher:
    def __init__(self, identity: str, client: ClusterClient | None = None):
        self.identity = identity
        self.client = client or ClusterClient.for_watching()
        self.elector = LeaseElector(
            self.client,
            settings.WATCH_LEASE_NAME,
            settings.WATCH_LEASE_NAMESPACE,
            identity,
            settings.WATCH_LEASE_SECONDS,
        )
        self.store = Store(products.INDEX_LABELS)
        self.informers: dict[tuple[str, str], Informer] = {}  # (kind, namespace) -> informer
        self.recorded = 0  # rows changed since this replica started leading
        self._threads: list[threading.Thread] = []
        self._dirty: set[tuple[str, str]] = set()
        self._wake = threading.Condition()
        self._leading = threading.Event()
        self._followups = ThreadPoolExecutor(max_workers=1, thread_name_prefix="follow-up")

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event, heartbeat=None) -> None:
        """Elect, lead or wait, until `stop` is set. `heartbeat()` is called on every turn."""
        log.info("status watcher %s: started", self.identity)
        try:
            while not stop.is_set():
                if heartbeat is not None:
                    heartbeat()
                if self.elector.try_lead():
                    if not self.leading:
                        self._start_leading()
                    self._follow_namespaces()
                elif self.leading:
                    log.warning("status watcher %s: lost the lease; stopping", self.identity)
                    self._stop_leading()
                stop.wait(self.elector.retry_seconds)
        finally:
            if self.leading:
                self._stop_leading()
            self.elector.release()
            log.info("status watcher %s: stopped", self.identity)

    def _start_leading(self) -> None:
        log.info("status watcher %s: leading; listing, then watching", self.identity)
        self.store = Store(products.INDEX_LABELS)
        self.recorded = 0
        self._leading.set()
        self._spawn(self._record_loop, "recorder")

    def _stop_leading(self) -> None:
        self._leading.clear()
        for informer in self.informers.values():
            informer.stop()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + STOP_SECONDS
        for thread in self._threads:  # daemon threads: one still in a call is left behind
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.informers, self._threads, self._dirty = {}, [], set()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _follow_namespaces(self) -> None:
        try:
            wanted = products.namespaces()
        except Exception:  # the database is away: keep following what we follow
            log.exception("status watcher: cannot read the namespaces to follow")
            return
        finally:
            close_old_connections()
        for kind in products.KINDS:
            for namespace in wanted:
                if (kind.kind, namespace) in self.informers:
                    continue
                informer = Informer(
                    self.client,
                    kind.api_version,
                    kind.kind,
                    namespace,
                    kind.selector,
                    self.store,
                    self._changed,
                    settings.WATCH_TIMEOUT_SECONDS,
                )
                self.informers[(kind.kind, namespace)] = informer
                self._spawn(informer.run, f"{kind.kind}/{namespace}")
        for (kind, namespace), informer in list(self.informers.items()):
            if namespace not in wanted:  # nothing left to follow there
                informer.stop()
                del self.informers[(kind, namespace)]

    # --- recording ----------------------------------------------------------------------------

    def _later(self, fn, *args) -> None:
        """Run `fn(*args)` on the follow-up thread: a call to the apiserver there never holds
        up the recording of the next change."""
        self._followups.submit(self._follow_up, fn, *args)

    @staticmethod
    def _follow_up(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("status watcher: follow-up %s failed", getattr(fn, "__name__", fn))
        finally:
            close_old_connections()

    def _changed(self, obj: dict[str, Any]) -> None:
        keys = self.store.keys_of(obj)
        if keys:
            with self._wake:
                self._dirty |= keys
                self._wake.notify()

    def _record_loop(self) -> None:
        while self.leading:
            with self._wake:
                if not self._dirty:
                    self._wake.wait(timeout=1.0)
            if not self._dirty or not self.leading:
                continue
            time.sleep(COALESCE_SECONDS)
            with self._wake:
                keys, self._dirty = self._dirty, set()
            try:
                self.recorded += products.record(keys, self.store, self._later)
            except Exception:
                log.exception("status watcher: recording %d changes failed; retrying", len(keys))
                with self._wake:
                    self._dirty |= keys
                time.sleep(DB_RETRY_SECONDS)
            finally:
                close_old_connections()
