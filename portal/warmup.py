"""Work each web process would otherwise do lazily on its first requests, done once at start.

gunicorn loads the app in its master and forks the workers from it (``preload_app`` in
portal/gunicorn.conf.py), so what is built here is built once and every worker starts with it,
including the workers that replace recycled ones (``max_requests``) while the pod is busy. In a
fresh process the first requests paid, in CPU (bench/page_cpu.py's seed, PostgreSQL): the
first page ~270 ms (importing every view through the URLconf), the first scale or other change
~190 ms (Celery finalizing its app and kombu importing the redis client on the first enqueue),
the first endpoint page ~37 ms more (compiling its templates); under load each became a request
of 0.3-0.6 s, the p95 of the writes in bench/web_load.py.

Nothing here opens a connection (database, broker, cache): sockets must not be shared by the
forked workers, each opens its own on first use as before.
"""

from __future__ import annotations

from pathlib import Path


def warm_process() -> None:
    _import_views()
    _prepare_task_queue()
    _compile_templates()
    _freeze_startup_objects()


def _freeze_startup_objects() -> None:
    """Leave what start-up built out of the garbage collector's full collections.

    A warmed process holds ~170,000 objects (modules, URL patterns, compiled templates), all
    alive until it exits. Each full collection traversed them all: ~80 ms of CPU holding the
    GIL, so every request in flight in that worker waited, at random (bench/web_load.py's p99
    of ~0.5 s). Frozen, they are never traversed (a full collection of a warmed worker ~0 ms),
    and the workers forked from this master no longer write to their pages (more memory stays
    shared). Objects created later, by requests, are collected as before."""
    import gc

    gc.collect()
    gc.freeze()


def _import_views() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (imports every urls and views module)


def _prepare_task_queue() -> None:
    """Finalize the Celery app and import the broker's transport; no connection is made."""
    from celery import current_app

    current_app.tasks  # noqa: B018  (finalizes the app: binds every registered task)
    current_app.connection_for_write().transport_cls  # noqa: B018  (imports the transport)


def _compile_templates() -> None:
    """Compile the project's templates and the form renderer's into their cached loaders."""
    import django.forms
    from django.forms.renderers import get_default_renderer
    from django.template import engines

    engine = engines["django"]
    for folder in engine.dirs:
        for path in sorted(Path(folder).rglob("*.html")):
            engine.get_template(path.relative_to(folder).as_posix())
    renderer = get_default_renderer()
    forms_dir = Path(django.forms.__file__).parent / "templates"
    for path in sorted((forms_dir / "django" / "forms").rglob("*.html")):
        renderer.get_template(path.relative_to(forms_dir).as_posix())
