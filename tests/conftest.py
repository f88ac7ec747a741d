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

# `precision auto` is bf16 on a CPU with a bf16 matrix engine: the tests' numbers (emit's
# equality with the compiled model, resumes, purpose margins) must not depend on the CPU
# of the machine running them, so the session (and its subprocesses) says there is none;
# tests/test_precision_auto.py turns it on where it tests the choice and bf16's losses
os.environ.setdefault("AESPEC_BF16_ENGINE", "0")


def pytest_addoption(parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.dot from the current output "
                          "(or set AESPEC_UPDATE_GOLDEN=1)")
