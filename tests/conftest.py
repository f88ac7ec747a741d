"""pytest options of aespec's tests, and the test session's own cache folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# aespec caches decoded data and the built grammar in the user's cache folder; the tests
# (and the subprocesses they start, which inherit this) use a folder of their own, removed
# at the end, so that a test run neither reads nor grows the user's cache
if "AESPEC_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="aespec-test-cache-")
    os.environ["AESPEC_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)


def pytest_addoption(parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.dot from the current output "
                          "(or set AESPEC_UPDATE_GOLDEN=1)")
