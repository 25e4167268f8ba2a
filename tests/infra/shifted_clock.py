"""Running tests at another instant with libfaketime (scripts/dates.sh, docs/testing.md).

libfaketime (Debian `faketime`) shifts the wall clock of the whole process, C code included,
so a test that reads the real date anywhere (Django, the factories, a library) meets the
instant it is run at. scripts/dates.sh runs the tests marked `dates` that way, with
FAKETIME_DONT_FAKE_MONOTONIC=1 so timeouts and waits keep real time.

One fix-up is needed for Python: libfaketime 0.9.10 mangles the absolute CLOCK_MONOTONIC
deadline of `clock_nanosleep`, which `time.sleep` uses (Python >= 3.11), and every sleep fails
with EINVAL. Under libfaketime `time.sleep` waits on an Event instead (its timed wait is not
intercepted). Nothing changes when the process is not under libfaketime. Loaded as a pytest plugin
(`-p tests.infra.shifted_clock`, as early as possible: modules that did `from time import
sleep` before keep the broken one; tests/conftest.py loads it too).
"""

import os
import threading
import time
from datetime import UTC, datetime


def under_libfaketime() -> bool:
    return "faketime" in os.environ.get("LD_PRELOAD", "") and bool(os.environ.get("FAKETIME"))


def install() -> None:
    """Make `time.sleep` work under libfaketime (a no-op otherwise)."""
    if not under_libfaketime():
        return
    never_set = threading.Event()

    def sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        never_set.wait(seconds)

    time.sleep = sleep


def pytest_report_header(config) -> str | None:
    """The header line that says at which instant the run happens."""
    if not under_libfaketime():
        return None
    now = datetime.now(UTC)
    return f"libfaketime: FAKETIME={os.environ['FAKETIME']!r}, the clock reads {now:%Y-%m-%d %H:%M:%S} UTC"


install()
