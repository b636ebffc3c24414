"""An ArtemServer run by its own event loop in a background thread, for tests and benchmarks
that drive it with the (synchronous) reference client from the main thread."""

from __future__ import annotations

import asyncio
import threading

from .server import ArtemServer, ServerConfig


class LoopbackServer:
    """Starts at construction and is serving when the constructor returns; `address` is
    host:port. Stop with `stop()` or by leaving a `with` block."""

    def __init__(self, config: ServerConfig, start_timeout_s: float = 600) -> None:
        self.config = config
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), daemon=True, name="artem-loopback-server"
        )
        self._thread.start()
        if not self._ready.wait(start_timeout_s):
            raise TimeoutError(f"the server did not start within {start_timeout_s:.0f} s")
        if self._error is not None:
            raise self._error
        self.address = f"127.0.0.1:{self.server.port}"

    async def _main(self) -> None:
        try:
            self.server = ArtemServer(self.config)
            await self.server.start()
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
        except BaseException as e:
            self._error = e
            raise
        finally:
            self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def stop(self, timeout_s: float = 60) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout_s)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
