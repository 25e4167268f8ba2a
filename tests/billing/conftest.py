import pytest


@pytest.fixture
def eager_celery(settings):
    """Run tasks enqueued with .delay() in-process for this test (the suite itself is not eager
    when CI sets CELERY_BROKER_URL)."""
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
