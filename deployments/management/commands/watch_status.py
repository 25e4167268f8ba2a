"""Follow the cluster by watch and record status changes as they happen.

    manage.py watch_status [--identity NAME] [--heartbeat-file PATH]

Runs until SIGTERM/SIGINT. Run it as several replicas: one leads (a coordination.k8s.io Lease,
settings WATCH_LEASE_*), the others wait to take over. See deployments/watch/runner.py.
"""

import os
import signal
import socket
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from deployments.k8s import cluster_configured
from deployments.watch.runner import StatusWatcher


class Command(BaseCommand):
    help = "Follow the cluster by watch and record status changes (one active replica by Lease)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--identity",
            default=f"{socket.gethostname()}-{os.getpid()}",
            help="this replica's name in the Lease (default: host name and process id)",
        )
        parser.add_argument(
            "--heartbeat-file",
            default="",
            help="touched on every turn of the election loop (a liveness probe reads its age)",
        )

    def handle(self, *args, identity: str, heartbeat_file: str, **options):
        if not cluster_configured():
            raise CommandError(
                "No Kubernetes cluster is configured (set KUBECONFIG or KUBE_IN_CLUSTER=true): "
                "there is nothing to watch."
            )
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        heartbeat = (lambda: Path(heartbeat_file).touch()) if heartbeat_file else None
        StatusWatcher(identity).run(stop, heartbeat=heartbeat)
