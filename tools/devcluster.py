#!/usr/bin/env python3
"""Run the local development control plane (etcd + kube-apiserver + KServe/KEDA CRDs).

    python tools/devcluster.py [--workdir DIR] [--with-controllers] [--env-file PATH]

Prints ``export KUBECONFIG=...`` and runs until Ctrl-C / SIGTERM, then stops every process
it started. With ``--workdir`` the etcd data, certificates and kubeconfig persist across
runs (same directory = same cluster state). Needs the binaries from ``bash tools/build-k8s.sh``
(found via ``MODELPORT_KUBE_BIN_DIR`` / ``MODELPORT_CRD_DIR`` or the default cache).
No Django imports: the portal's management command can wrap :func:`main`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.infra.kube import ControlPlane, MissingBinaries  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Local Kubernetes control plane for ModelPort development"
    )
    ap.add_argument("--workdir", help="persistent state dir (default: temp dir removed on exit)")
    ap.add_argument(
        "--with-controllers",
        action="store_true",
        default=None,
        help="require kube-controller-manager + kube-scheduler (default: run them if built)",
    )
    ap.add_argument("--no-controllers", dest="with_controllers", action="store_false")
    ap.add_argument("--env-file", help="also write `export KUBECONFIG=...` to this file")
    args = ap.parse_args(argv)

    workdir = Path(args.workdir).resolve() if args.workdir else None
    if workdir:
        workdir.mkdir(parents=True, exist_ok=True)
    cp = ControlPlane(
        workdir=workdir, with_controllers=args.with_controllers, keep_workdir=bool(workdir)
    )
    if workdir and (workdir / "ports").exists():  # reuse ports so an old kubeconfig stays valid
        cp.etcd_port, cp.etcd_peer_port, cp.port = map(int, (workdir / "ports").read_text().split())
    try:
        cp.start()
    except MissingBinaries as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if workdir:
        (workdir / "ports").write_text(f"{cp.etcd_port} {cp.etcd_peer_port} {cp.port}\n")

    line = f"export KUBECONFIG={cp.kubeconfig_path}"
    if args.env_file:
        Path(args.env_file).write_text(line + "\n")
    version = cp.get_json("/version")["gitVersion"]
    print(
        f"# kube-apiserver {version} at {cp.server} (pids {cp.pids()}); logs in {cp.workdir}",
        flush=True,
    )
    print(line, flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(1)
            dead = [n for n, p in cp._procs.items() if not p.running]
            if dead:
                print(f"error: {dead} exited\n{cp.logs()}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        cp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
