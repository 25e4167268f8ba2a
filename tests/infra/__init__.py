"""Real servers for the tests (kube-apiserver + etcd, Prometheus, a metrics exporter)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process_group(popen: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Stop a process this suite started in its own session (start_new_session=True) and
    everything in its group: SIGTERM, then SIGKILL after `timeout` seconds."""
    if popen is None or popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        popen.wait(5)
