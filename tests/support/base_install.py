"""Run code as after a plain `pip install revshare`: importing a server package fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "aiohttp", "httptools", "orjson", "llama_cpp", "httpx")

_BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {{name}} is not a base dependency")
        return None

sys.meta_path.insert(0, Block())
"""


def run_with_base_install_only(body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter where importing any server package fails, as it would
    after a plain `pip install revshare`. `BLOCKED` names those packages inside `body`."""
    script = _BLOCKER.format(blocked=SERVER_PACKAGES) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
