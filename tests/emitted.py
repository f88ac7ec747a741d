"""Helper of the emit tests: an emitted file run as a user runs it, with aespec unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_alone(text: str, folder: Path, name: str, limit: int) -> str:
    """Write `text` to FOLDER/NAME.py and run it under `python -I` with aespec unimportable,
    one epoch on `limit` examples, its weights saved to FOLDER/w.pt; its stdout (it must
    exit 0)."""
    script = folder / f"{name}.py"
    script.write_text(text)
    runner = ("import runpy, sys; sys.modules['aespec'] = None; "
              f"sys.argv = [{str(script)!r}, '--epochs', '1', '--limit', '{limit}', "
              "'--save', 'w.pt']; runpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.run([sys.executable, "-I", "-c", runner], cwd=folder,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
