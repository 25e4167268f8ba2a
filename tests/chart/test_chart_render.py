"""charts/modelport with the real helm: lint, render, and the rendered pods kept in step with
what the application reads (settings env names, gunicorn configuration, Celery queues, the
health and metrics URLs), as tests/test_docker_compose.py does for compose."""

import re

import pytest
import yaml
from django.conf import settings
from django.urls import resolve

from tests.test_docker_compose import GUNICORN_CONF, settings_env_names

from .conftest import ALL_ON, CHART, ROOT, by_kind, containers, one, run_helm, set_args

# Read by portal/gunicorn.conf.py (the web server), not by the settings.
GUNICORN_ENV = set(
    re.findall(r"os\.environ\.get\([\"']([A-Z_]+)[\"']", (ROOT / GUNICORN_CONF).read_text())
)
# Set by the chart only to build ALLOWED_HOSTS (Kubernetes $(POD_IP) expansion).
CHART_ONLY = {"POD_IP"}
PRODUCTION_FROM_SECRET = {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}


def test_helm_lint_is_clean(helm):
    result = run_helm(helm, "lint", "--strict", str(CHART), *set_args(ALL_ON), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_render_without_an_existing_secret_is_refused(helm):
    result = run_helm(helm, "template", "mp", str(CHART), check=False)
    assert result.returncode != 0
    assert "existingSecret: name a Secret with SECRET_KEY, DATABASE_URL" in result.stderr


def test_the_default_render(render):
    objects = render()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicyBinding",
            "NetworkPolicy",
            "NetworkPolicy",
            "NetworkPolicy",
            "NetworkPolicy",
            "Deployment",
            "Deployment",
            "Deployment",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "PodDisruptionBudget",
            "Job",
        ]
    )
    assert not by_kind(objects, "HorizontalPodAutoscaler") and not by_kind(objects, "Ingress")
    assert one(objects, "Deployment", "-web")["spec"]["replicas"] == 2


def test_every_variable_the_pods_set_is_one_the_application_reads(render):
    known = settings_env_names() | GUNICORN_ENV | CHART_ONLY
    for component, container in containers(render(ALL_ON)).items():
        names = {e["name"] for e in container["env"]}
        unknown = sorted(
            n for n in names if n not in known and n.removesuffix("_FILE") not in known
        )
        assert unknown == [], f"{component} sets variables nothing reads: {unknown}"


def test_values_config_only_names_settings_variables():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    commented = re.findall(r"^  # ([A-Z][A-Z0-9_]+): ", (CHART / "values.yaml").read_text(), re.M)
    unknown = sorted(set(values["config"]) | set(commented))
    unknown = [n for n in unknown if n not in settings_env_names()]
    assert unknown == [], f"values.yaml config names variables settings.py never reads: {unknown}"


def test_every_pod_runs_in_production_in_cluster_with_the_secret_by_reference(render):
    for component, container in containers(render(ALL_ON)).items():
        env = {e["name"]: e for e in container["env"]}
        assert env["MODELPORT_ENV"]["value"] == "production", component
        assert env["KUBE_IN_CLUSTER"]["value"] == "true", component
        assert "PROMETHEUS_URL" in env, component
        assert container["envFrom"] == [{"secretRef": {"name": "modelport-env"}}], component
        # the production-required rest comes from the Secret, never from values
        assert not PRODUCTION_FROM_SECRET & set(env), component
        assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env["ALLOWED_HOSTS"]["value"] == "modelport.example.com,$(POD_IP)"
        assert container["resources"]["requests"]["cpu"], component
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_config_values_reach_the_environment(render):
    objects = render({"config.KSERVE_INGRESS_DOMAIN": "models.corp", "config.LOG_LEVEL": "DEBUG"})
    env = {e["name"]: e.get("value") for e in containers(objects)["worker"]["env"]}
    assert env["KSERVE_INGRESS_DOMAIN"] == "models.corp" and env["LOG_LEVEL"] == "DEBUG"


def test_web_runs_gunicorn_with_the_shared_configuration_and_real_probes(render):
    web = containers(render())["web"]
    assert web["command"] == [
        "gunicorn",
        "-c",
        GUNICORN_CONF,
        settings.WSGI_APPLICATION.replace(".application", ":application"),
    ]
    env = {e["name"]: e.get("value") for e in web["env"]}
    assert env["GUNICORN_WORKERS"] == "2" and env["PORT"] == "8000"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("/healthz", "/readyz"):
        assert resolve(probe).url_name == probe.strip("/")


def test_worker_consumes_every_routed_queue_and_beat_runs_once(render):
    objects = render()
    worker = containers(objects)["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "portal", "worker"]
    queues = set(worker[worker.index("-Q") + 1].split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= queues
    beat = one(objects, "Deployment", "-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert containers(objects)["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]


def test_migrations_run_as_a_hook_before_install_and_upgrade(render):
    job = one(render(), "Job", "-migrate")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert set(hooks) == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_only_the_worker_carries_write_rights_and_web_a_read_only_identity(render):
    objects = render()
    accounts = {o["metadata"]["name"] for o in by_kind(objects, "ServiceAccount")}
    assert accounts == {"mp-modelport", "mp-modelport-web"}
    for obj in by_kind(objects, "Deployment") + by_kind(objects, "Job"):
        spec = obj["spec"]["template"]["spec"]
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in ("worker", "status-watcher"):  # the watcher reads what it applies
            assert spec["serviceAccountName"] == "mp-modelport"
        elif component == "web":
            assert spec["serviceAccountName"] == "mp-modelport-web"
            assert spec["automountServiceAccountToken"] is True  # the pods tab reads pods
        else:
            assert spec["automountServiceAccountToken"] is False
    # the only cluster-wide binding is the worker's, to the namespace-creating role
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mp-modelport", "namespace": "modelport"}
    ]
    assert binding["roleRef"]["name"] == "mp-modelport"
    # the only namespaced grant: the status watcher's Lease, in the release namespace
    (role,) = by_kind(objects, "Role")
    assert role["metadata"]["namespace"] == "modelport"
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"coordination.k8s.io"}
    assert {x for r in role["rules"] for x in r["resources"]} == {"leases"}
    (role_binding,) = by_kind(objects, "RoleBinding")
    assert role_binding["roleRef"]["name"] == role["metadata"]["name"]
    assert role_binding["subjects"] == binding["subjects"]


def test_the_status_watcher_runs_two_replicas_electing_one_by_its_lease(render):
    objects = render()
    deployment = one(objects, "Deployment", "-status-watcher")
    assert deployment["spec"]["replicas"] == 2
    watcher = containers(objects)["status-watcher"]
    assert watcher["command"][:3] == ["python", "manage.py", "watch_status"]
    env = {e["name"]: e.get("value") for e in watcher["env"]}
    assert env["WATCH_LEASE_NAMESPACE"] == "modelport"
    assert env["WATCH_LEASE_SECONDS"] == "15"
    (role,) = by_kind(objects, "Role")
    named = next(r for r in role["rules"] if r.get("resourceNames"))
    assert named["resourceNames"] == [env["WATCH_LEASE_NAME"]]
    assert set(named["verbs"]) == {"get", "update"}
    probe = watcher["livenessProbe"]["exec"]["command"][2]
    heartbeat = watcher["command"][watcher["command"].index("--heartbeat-file") + 1]
    assert heartbeat.rpartition("/")[2] in probe and "-mmin -2" in probe


def test_with_the_watcher_the_periodic_syncs_slow_down_to_a_safety_net(render):
    for component, container in containers(render()).items():
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["STATUS_SYNC_SECONDS"] == "300", component
    objects = render({"statusWatcher.enabled": "false"})
    assert not [o for o in objects if "status-watcher" in o["metadata"]["name"]]
    for component, container in containers(objects).items():
        assert "STATUS_SYNC_SECONDS" not in {e["name"] for e in container["env"]}, component


def test_without_cluster_access_the_web_pods_get_no_token_and_no_binding(render):
    objects = render({"web.clusterAccess": "false"})
    web = one(objects, "Deployment", "-web")["spec"]["template"]["spec"]
    assert web["automountServiceAccountToken"] is False
    account = one(objects, "ServiceAccount", "-web")
    assert account["automountServiceAccountToken"] is False
    env = {e["name"]: e.get("value") for e in containers(objects)["worker"]["env"]}
    assert env["KUBE_TEAM_ROLE_BINDINGS"] == "mp-modelport-team=modelport/mp-modelport"
    web_policy = one(objects, "NetworkPolicy", "-web")
    assert all(
        {"port": 6443, "protocol": "TCP"} not in rule["ports"]
        for rule in web_policy["spec"]["egress"]
    )


def test_optional_hpa_takes_over_the_web_replicas(render):
    objects = render({"web.autoscaling.enabled": "true", "web.autoscaling.maxReplicas": "9"})
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert (
        hpa["spec"]["scaleTargetRef"]["name"]
        == one(objects, "Deployment", "-web")["metadata"]["name"]
    )
    assert hpa["spec"]["maxReplicas"] == 9
    assert "replicas" not in one(objects, "Deployment", "-web")["spec"]


def test_the_portals_own_metrics_are_scraped(render):
    objects = render(ALL_ON)
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service", "-web")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    # /metrics answers only the bearer token (portal/views.py): Prometheus sends it
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "modelport-env", "key": "METRICS_BEARER_TOKEN"},
    }
    assert "METRICS_BEARER_TOKEN" in settings_env_names()
    assert resolve("/metrics").url_name == "prometheus-django-metrics"
    annotations = one(objects, "Deployment", "-web")["spec"]["template"]["metadata"]["annotations"]
    assert (
        annotations["prometheus.io/scrape"] == "true"
        and annotations["prometheus.io/path"] == "/metrics"
    )


@pytest.mark.parametrize("release", ["mp", "modelport"])
def test_names_follow_the_release(helm, release):
    out = run_helm(helm, "template", release, str(CHART), "--set", "existingSecret=s").stdout
    names = {o["metadata"]["name"] for o in yaml.safe_load_all(out) if o}
    expected = "modelport" if release == "modelport" else "mp-modelport"
    assert f"{expected}-web" in names and expected in names
