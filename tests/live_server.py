"""The web app served for real (uvicorn on a loopback port) in a thread, for tests that need
a provider or a browser to call it over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI


class LiveServer:
    """`make_app` receives the server's URL: the app's public URL, which providers sign."""

    def __init__(self, make_app: Callable[[str], FastAPI]):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.app = make_app(self.url)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_config=None,
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web app did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
