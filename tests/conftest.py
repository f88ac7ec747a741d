"""pytest options of aespec's tests."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.dot from the current output "
                          "(or set AESPEC_UPDATE_GOLDEN=1)")
