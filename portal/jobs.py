"""Queueing background steps by task name.

Each app's tasks sit at its top and call its services; a use case that must start a step
afterwards queues it by name here instead of importing the tasks module (which would be an
arrow back up). Every app imports its tasks module in its AppConfig.ready(), so the name is
registered in every process. Call it inside `transaction.on_commit` so a worker never reads a
row that is not committed yet.
"""

from celery import current_app


def enqueue(task_name: str, *args: int | str | None) -> None:
    """Queue the registered task `task_name` with JSON-able `args` (ids, ints, ISO strings)."""
    current_app.tasks[task_name].delay(*args)


def enqueue_on_commit(task_name: str, *args: int | str | None) -> None:
    """Queue `task_name` once the current transaction commits (at once outside one)."""
    from django.db import transaction

    transaction.on_commit(lambda: enqueue(task_name, *args))
