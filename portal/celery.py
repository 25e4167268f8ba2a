import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("modelport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def recycle_db_connections(sender=None, **kwargs) -> None:
    """Around each task in a worker, what Django does around each request: drop connections
    that are broken or older than CONN_MAX_AGE, keep the others (see CELERY_DB_REUSE_MAX).
    Not for eager tasks: they run inside the caller's request and transaction."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
