"""Write PNG screenshots of the main pages to docs/screenshots/ (headless Chromium).

Serves the current database on a free local port, logs in as the demo user and walks
the pages. Run `seed_demo` first (or pass --seed).
"""

import shutil
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise CommandError("Chromium not found; install the Debian package `chromium`.")
    return found


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve() -> tuple[ThreadedWSGIServer, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedWSGIServer(("127.0.0.1", port), _QuietHandler, allow_reuse_address=True)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}"


class Command(BaseCommand):
    help = "Write screenshots of the main pages to docs/screenshots/."

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "docs" / "screenshots"))
        parser.add_argument("--seed", action="store_true", help="Run seed_demo first.")
        parser.add_argument("--user", default="demo")
        parser.add_argument("--password", default="demo")
        parser.add_argument("--width", type=int, default=1366)

    def handle(self, *args, **opts):
        from playwright.sync_api import sync_playwright

        from deployments.models import Endpoint

        if opts["seed"]:
            call_command("seed_demo")
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        server, base = serve()
        pages = self._pages(Endpoint)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
                )
                page = browser.new_page(viewport={"width": opts["width"], "height": 900})
                page.goto(f"{base}/accounts/login/")
                page.screenshot(path=str(out / "01-login.png"))
                page.fill("#id_username", opts["user"])
                page.fill("#id_password", opts["password"])
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")
                for filename, path, prepare in pages:
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    if prepare:
                        prepare(page)
                    page.screenshot(path=str(out / filename), full_page=True)
                    self.stdout.write(f"wrote {out / filename}")
                page.set_viewport_size({"width": 390, "height": 844})
                page.goto(base + "/endpoints/")
                page.screenshot(path=str(out / "90-mobile-endpoints.png"), full_page=True)
                browser.close()
        finally:
            server.shutdown()
        self.stdout.write(self.style.SUCCESS(f"Screenshots in {out}"))

    def _pages(self, Endpoint):
        def by_status(status):
            ep = Endpoint.objects.filter(status=status).order_by("created_at").first()
            return f"/endpoints/{ep.uuid}/" if ep else None

        def fill_request(page):
            page.fill("#id_name", "faq-bot")
            page.select_option("#id_model", label="Llama 3.1 8B Instruct")
            page.select_option("#id_quantization", "bf16")
            page.fill("#id_max_context_length", "8192")
            page.select_option("#id_gpu_type", label="L4")
            page.fill("#id_max_replicas", "2")
            page.locator("#id_max_replicas").dispatch_event("change")
            page.wait_for_selector("#estimate .facts", timeout=10_000)

        pages = [
            ("02-home.png", "/", None),
            ("03-endpoint-list.png", "/endpoints/", None),
            ("04-endpoint-request.png", "/endpoints/new/", fill_request),
            ("05-endpoint-detail-ready.png", by_status("ready"), None),
            ("06-endpoint-detail-provisioning.png", by_status("provisioning"), None),
            ("07-endpoint-detail-failed.png", by_status("failed"), None),
            ("08-approvals.png", "/approvals/", None),
            ("09-team-settings.png", "/teams/search/settings/", None),
            ("10-admin-endpoints.png", "/admin/deployments/endpoint/", None),
            (
                "11-api-docs.png",
                "/api/docs/",
                lambda p: p.wait_for_selector(".swagger-ui", timeout=15_000),
            ),
        ]
        return [(f, p, prep) for f, p, prep in pages if p]
