"""yantra-bridge: the daemon the Yantra editor spawns and talks to over stdin/stdout (JSON-RPC 2.0).

The package is split like pygls: `transport` (bytes and lines), `dispatcher` (routing, the in-flight
table, the one exception boundary), `server` (threads, lanes, lifecycle), `methods` (what each method
does), `config` (flags), `logs` (stderr that never blocks), `early` (the reader that answers `ping` while
the rest imports), `stopping` (signals and the stop request), `workers` (the process pool),
`projects` (each project's import index), `cache` (recent results) and `client` (spawn the daemon
and call it).
This module imports nothing heavy, so `python -m bridge` answers its first `ping` quickly; the wire
format lives in protocol/ and the model in model/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.config import BridgeConfig

__all__ = ["BridgeConfig"]


def __getattr__(name: str) -> Any:
    """`bridge.BridgeConfig` on first use: importing the package stays free of orjson and argparse,
    so `python -m bridge` reaches its signal handlers within milliseconds of starting."""
    if name == "BridgeConfig":
        from bridge.config import BridgeConfig

        return BridgeConfig
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
