"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load tests on loopback.

Cheap enough that clients sharing the CPU with the server do not become what is measured (httpx costs about
2 ms of CPU per request). It reads ``Content-Length`` bodies only, which is all the onnxplain server sends.
"""

from __future__ import annotations

import asyncio


class ConnectionLost(Exception):
    """The server closed the connection before answering (no byte of a response came back)."""


class Connection:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.closed_by_server = False

    async def __aenter__(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and body; ``ConnectionLost`` if the server closed first."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
        try:
            self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await self.writer.drain()
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise ConnectionLost(str(error) or type(error).__name__) from None
        status_line, *header_lines = raw.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines if ": " in line)
        payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        self.closed_by_server = headers.get("connection", "").lower() == "close"
        return int(status_line.split()[1]), headers, payload
