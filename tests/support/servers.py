"""Local servers for the tests: a free 127.0.0.1 port, moto's S3 server standing in for R2, an echo server."""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import quote, quote_plus

import boto3
from moto.server import ThreadedMotoServer
from mypy_boto3_s3 import S3Client


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_client(endpoint: str, key_id: str, secret: str) -> S3Client:
    """A boto3 S3 client for moto at `endpoint` (moto takes any key; R2's region is "auto", moto's us-east-1)."""
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1"
    )


def start_moto(port: int = 0) -> tuple[ThreadedMotoServer, str]:
    """moto's S3 server on 127.0.0.1 and its endpoint. moto keeps one in-process store, so every server
    started in this process (a restart on the same port, too) sees the same buckets."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, real_port = server.get_host_and_port()
    return server, f"http://{host}:{real_port}"


class LocalServer:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, served from a daemon thread while in a `with`."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class EchoServer(LocalServer):
    """A 127.0.0.1 server that reflects each whole request (line, headers, body) back in its answer, the
    way a debugging proxy or a mistyped API URL might: raw, JSON-escaped (`\\u002b`, `\\/`), URL-encoded,
    repr-escaped and base64, at the `status` it is given (a 4xx/5xx, or a 200 with a garbage body).

        with EchoServer(500) as echo:
            client = FlyClient(base_url=echo.url, token=...)
    """

    def __init__(self, status: int = 500, content_type: str = "text/plain") -> None:
        self.status = status
        self.content_type = content_type
        self.seen: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _echo(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = f"{self.requestline}\r\n{self.headers}".encode("latin-1") + body
                outer.seen.append(request)
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                payload = echo_forms(request, [v for _, v in self.headers.items()], body)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _echo

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.serve(Handler)


def echo_forms(request: bytes, header_values: list[str], body: bytes) -> bytes:
    """The request, once in each encoding an echo may use, one per line; base64 per header value and
    per JSON string in the body (base64 of the whole request would not align with any one value)."""
    text = request.decode("utf-8", "replace")
    forms = [
        text,
        json.dumps(text),  # \u escapes for non-ASCII, \" and \n
        json.dumps(text).replace("/", "\\/"),
        "".join(c if c.isalnum() else f"\\u{ord(c):04X}" for c in text),  # every symbol escaped
        quote(text, safe=""),
        quote_plus(text),
        repr(text),
    ]
    pieces = [*header_values, *_json_strings(body)]
    forms += [base64.b64encode(piece.encode("utf-8")).decode("ascii") for piece in pieces]
    return "\n".join(forms).encode("utf-8")


def _json_strings(body: bytes) -> list[str]:
    try:
        value = json.loads(body)
    except ValueError:
        return []
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def leaked(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text` in any form EchoServer uses; independent of the code under test's scrubber."""
    lowered = text.lower()
    found = []
    for secret in secrets:
        forms = {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret)[1:-1].replace("/", "\\/"),
            "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in secret),
            quote(secret, safe=""),
            quote_plus(secret),
            repr(secret)[1:-1],
            base64.b64encode(secret.encode("utf-8")).decode("ascii"),
        }
        if any(form.lower() in lowered for form in forms if len(form) >= 4):
            found.append(secret)
    return found
