"""A real OIDC provider process for the SSO tests (django-oauth-toolkit, tests/infra/oidc_provider).

provider = OidcProvider(users=[...], client_id=..., client_secret=...,
                        redirect_uris=[...], post_logout_redirect_uris=[...]).start()
provider.issuer    # http://127.0.0.1:PORT/o  (discovery at issuer + /.well-known/...)
provider.stop()    # stops exactly the process it started
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.infra import stop_process_group
from tests.infra.kube import free_port

ROOT = Path(__file__).resolve().parents[2]


class OidcProvider:
    def __init__(
        self, *, users, client_id, client_secret, redirect_uris, post_logout_redirect_uris
    ):
        self.spec = {
            "users": users,
            "client": {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": redirect_uris,
                "post_logout_redirect_uris": post_logout_redirect_uris,
            },
        }
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="modelport-oidc-"))
        self.proc: subprocess.Popen | None = None
        self.started_in: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def start(self, timeout: float = 60.0) -> OidcProvider:
        t0 = time.monotonic()
        spec = self.workdir / "spec.json"
        spec.write_text(json.dumps(self.spec))
        self._log = open(self.workdir / "provider.log", "wb")
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.infra.oidc_provider.serve",
                "--port",
                str(self.port),
                "--workdir",
                str(self.workdir),
                "--spec",
                str(spec),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited:\n{self.logs()}")
            try:
                r = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if r.status_code == 200:
                    self.started_in = time.monotonic() - t0
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the OIDC provider did not answer in {timeout} s:\n{self.logs()}")

    def logs(self, tail: int = 60) -> str:
        path = self.workdir / "provider.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(lines[-tail:])

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
