"""Read what the local stack logged during a test: every *.log beside its stack.json, from an offset.

The stack writes lambda.log (the handler's Powertools JSON lines and EMF metrics, as
CloudWatch Logs would hold them), model-server.log, and, when the test fixture started it,
up.log (the gateway's and the sign-in's own lines).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


class LogCapture:
    """Remember where each log file ends now; `text()` returns what was appended since."""

    def __init__(self, stack: dict[str, Any]) -> None:
        state_file = stack.get("stateFile")
        self.files = sorted(Path(state_file).parent.glob("*.log")) if state_file else []
        self._offsets = {path: path.stat().st_size for path in self.files}

    def text(self) -> str:
        time.sleep(0.5)  # let the model server's subprocess flush its buffered output
        chunks = []
        for path, start in self._offsets.items():
            with open(path, "rb") as handle:
                handle.seek(start)
                chunks.append(handle.read().decode("utf-8", "replace"))
        return "\n".join(chunks)
