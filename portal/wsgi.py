import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Before gunicorn forks its workers (preload_app): what their first requests would build.
from portal.warmup import warm_process  # noqa: E402

warm_process()
