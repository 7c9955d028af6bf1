"""How long one model call takes, for time estimates (`dilemma sweep --dry-run`) and ETAs.

The embedded model's latency depends on the machine, so it is measured: after a `run` or `sweep`
with `local`, the mean latency of its calls is kept in a small JSON file (LATENCY_FILE_ENV, by
default `$XDG_CACHE_HOME/dilemma/latency.json` or `~/.cache/dilemma/latency.json`). Every
other provider has a documented default (DEFAULT_LATENCY_S); these are assumptions, not
measurements, and every estimate made from them says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dilemma.models.spec import HUMAN, LOCAL, OPENAI, SCRIPTED, ModelSpec

LATENCY_FILE_ENV = "DILEMMA_LATENCY_FILE"
DEFAULT_LATENCY_S: dict[str, float] = {
    SCRIPTED: 0.0,
    OPENAI: 3.0,
    LOCAL: 20.0,
    HUMAN: 60.0,
}
"""Seconds per call assumed when nothing was measured: scripted policies answer at once; a hosted
API replies to a ~700-token structured reply in a few seconds; the embedded model on a small
CPU takes tens of seconds (minutes on a busy 2-core machine); a person takes about a minute."""
OTHER_PROVIDER_S = 5.0
"""Seconds per call assumed for any other LangChain provider."""


@dataclass(frozen=True)
class Latency:
    """Seconds per call of one model spec and where the number comes from."""

    seconds: float
    measured_calls: int
    """Calls the measurement averaged; 0 for a default."""

    @property
    def source(self) -> str:
        """`measured on this machine (N calls)` or `default`."""
        if self.measured_calls:
            return f"measured on this machine, mean of {self.measured_calls} calls"
        return "default"


def latency_file() -> Path:
    """Where measured latencies are kept."""
    named = os.environ.get(LATENCY_FILE_ENV)
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dilemma" / "latency.json"


def _read() -> dict[str, dict[str, float]]:
    try:
        data = json.loads(latency_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # nothing measured yet, or an unreadable file: defaults apply (and say so)
    if not isinstance(data, dict):
        return {}
    return {
        str(k): v
        for k, v in data.items()
        if isinstance(v, dict)
        and isinstance(v.get("seconds"), int | float)
        and isinstance(v.get("calls"), int)
        and v["seconds"] >= 0
        and v["calls"] > 0
    }


def latency_of(spec: str) -> Latency:
    """Seconds per call of `spec`: measured for `local` when a measurement is kept, else the
    provider's default."""
    parsed = ModelSpec.parse(spec)
    if parsed.is_local:
        kept = _read().get(spec)
        if kept is not None:
            return Latency(float(kept["seconds"]), int(kept["calls"]))
    return Latency(DEFAULT_LATENCY_S.get(parsed.provider, OTHER_PROVIDER_S), 0)


def remember_latency(spec: str, latencies: list[float]) -> bool:
    """Keep the mean of `latencies` (seconds of completed calls) as `spec`'s measurement; only
    the embedded model's is kept (others have defaults). Whether it was written."""
    if not latencies or spec != LOCAL:  # any other text (a test's fake model) is not measured
        return False
    data = _read()
    data[spec] = {"seconds": sum(latencies) / len(latencies), "calls": len(latencies)}
    path = latency_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return False  # a read-only home: the next estimate uses the default and says so
    return True
