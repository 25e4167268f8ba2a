"""docker-compose.yml cannot run here (no Docker engine), so this test keeps it honest:
every service's command and environment must match what the application really reads."""

import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat", "status-watcher")
GUNICORN_CONF = "portal/gunicorn.conf.py"  # the one gunicorn configuration (also Dockerfile, chart)
PRODUCTION_REQUIRED = {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "PROMETHEUS_URL"}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_env_names() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    return set(
        re.findall(r'env(?:_bool|_int|_float|_list|_secret)?\(\s*"([A-Z][A-Z0-9_]+)"', source)
    )


def command_of(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, str):
        return shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2])
    return command


def test_stack_has_the_seven_services(compose):
    assert set(compose["services"]) == {
        "web",
        "worker",
        "beat",
        "status-watcher",
        "db",
        "redis",
        "prometheus",
    }


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_only_set_variables_the_settings_read(compose, name):
    env = compose["services"][name]["environment"]
    known = settings_env_names()
    unknown = sorted(k for k in env if k not in known and k.removesuffix("_FILE") not in known)
    assert unknown == [], f"{name} sets variables settings.py never reads: {unknown}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_in_production_mode_with_every_required_variable(compose, name):
    env = compose["services"][name]["environment"]
    assert env["MODELPORT_ENV"] == "production"
    assert PRODUCTION_REQUIRED <= set(env)
    assert "KUBECONFIG" in env or env.get("KUBE_IN_CLUSTER") == "true"


def test_env_example_lists_every_variable_settings_read():
    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    missing = sorted(settings_env_names() - listed)
    assert missing == [], f".env.example misses {missing}"


def test_urls_point_at_the_compose_services(compose):
    services = compose["services"]
    env = services["web"]["environment"]
    db = urlparse(
        env["DATABASE_URL"].replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "pw")
    )
    assert db.scheme == "postgres" and db.hostname == "db" and db.port == 5432
    db_env = services["db"]["environment"]
    assert db.path.lstrip("/") == db_env["POSTGRES_DB"] and db.username == db_env["POSTGRES_USER"]
    assert urlparse(env["CELERY_BROKER_URL"]).hostname == "redis"
    assert urlparse(env["PROMETHEUS_URL"]).hostname == "prometheus"
    prom_cmd = services["prometheus"]["command"]
    config = next(v for v in services["prometheus"]["volumes"] if "prometheus.yml" in v)
    assert (ROOT / config.split(":")[0]).is_file()
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom_cmd


def test_web_runs_migrations_and_the_wsgi_app_that_exists(compose):
    command = compose["services"]["web"]["command"][2]
    assert "manage.py migrate" in command
    argv = shlex.split(command.split("&&")[-1])
    assert argv[:4] == ["exec", "gunicorn", "-c", GUNICORN_CONF]
    assert (ROOT / GUNICORN_CONF).is_file()
    module, attr = argv[4].split(":")
    assert module == settings.WSGI_APPLICATION.rsplit(".", 1)[0]
    assert attr == settings.WSGI_APPLICATION.rsplit(".", 1)[1]


def test_worker_consumes_every_queue_tasks_are_routed_to(compose):
    argv = command_of(compose["services"]["worker"])
    assert argv[:4] == ["celery", "-A", "portal", "worker"]
    queues = set(argv[argv.index("-Q") + 1].split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= queues


def test_beat_runs_the_schedule_of_registered_tasks(compose):
    from portal.celery import app

    argv = command_of(compose["services"]["beat"])
    assert argv[:4] == ["celery", "-A", "portal", "beat"]
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, f"beat schedules unknown task {entry['task']}"


def test_status_watcher_runs_the_watch_command_as_the_chart_does(compose):
    from django.core.management import get_commands

    argv = command_of(compose["services"]["status-watcher"])
    assert argv[:3] == ["python", "manage.py", "watch_status"]
    assert get_commands()["watch_status"] == "deployments"
    chart = (ROOT / "charts" / "modelport" / "templates" / "status-watcher.yaml").read_text()
    chart_argv = yaml.safe_load(re.search(r"command: (\[[^\]]*\])", chart).group(1))
    assert argv == chart_argv
    service = compose["services"]["status-watcher"]
    assert {"db", "redis"} <= set(service["depends_on"])


def test_the_image_serves_with_the_same_gunicorn_configuration():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f'CMD ["gunicorn", "-c", "{GUNICORN_CONF}", "portal.wsgi:application"]' in dockerfile
    assert "STATIC_HASHED_NAMES=true python manage.py collectstatic" in dockerfile


def test_gunicorn_configuration_loads_and_logs_requests_as_json():
    from gunicorn.config import Config

    config = Config()
    namespace: dict = {}
    exec(compile((ROOT / GUNICORN_CONF).read_text(), GUNICORN_CONF, "exec"), namespace)
    for name, value in namespace.items():
        if name in config.settings:
            config.set(name, value)
    assert config.worker_class_str == "gthread" and config.workers >= 2
    assert config.timeout == 60 and config.accesslog == "-"
    assert config.logger_class.__name__ == "GunicornJsonLogger"


def test_gunicorn_access_log_is_one_json_object_with_the_request_id(capsys):
    """The access line a real gunicorn Logger writes for a response with awkward headers."""
    import datetime
    import json
    from types import SimpleNamespace

    from gunicorn.config import Config

    from portal.logs import GunicornJsonLogger

    config = Config()
    config.set("accesslog", "-")
    logger = GunicornJsonLogger(config)
    resp = SimpleNamespace(
        status="200 OK", headers=[("X-Request-ID", "abc-1")], sent=12, response_length=12
    )
    req = SimpleNamespace(headers=[("USER-AGENT", 'curl "7"')], path="/readyz", query="a=1")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/readyz?a=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_USER_AGENT": 'curl "7"',
        "PATH_INFO": "/readyz",
        "QUERY_STRING": "a=1",
    }
    logger.access(resp, req, environ, datetime.timedelta(milliseconds=3.25))
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["request_id"] == "abc-1" and line["status"] == 200
    assert line["path"] == "/readyz" and line["user_agent"] == 'curl "7"'
    assert line["duration_ms"] in (3.2, 3.3) and line["query"] == "a=1"


def test_env_example_lists_every_variable_the_gunicorn_configuration_reads():
    read = set(
        re.findall(r"os\.environ\.get\([\"']([A-Z_]+)[\"']", (ROOT / GUNICORN_CONF).read_text())
    )
    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert read and sorted(read - listed) == []
