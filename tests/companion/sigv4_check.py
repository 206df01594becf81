"""A proxy in front of moto that checks every request's AWS Signature V4, as R2 does (moto does not).

Written from the SigV4 specification, independently of the aws4 package the companion signs with, so a
disagreement on how a key with spaces, '+', parentheses or non-ASCII is canonicalised shows up here
instead of as R2's SignatureDoesNotMatch in production.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

UNRESERVED = "-_.~"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret: str, amz_date: str, scope: str, canonical_request: str) -> str:
    date, region, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(
    method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str], signed: list[str], payload: str
) -> str:
    # S3: the path is decoded to the key, then encoded once ('/' kept); '+' in a path is a plus.
    uri = quote(unquote(raw_path), safe="/" + UNRESERVED)
    pairs = sorted((quote(k, safe=UNRESERVED), quote(v, safe=UNRESERVED)) for k, v in query)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    return "\n".join([method, uri, canonical_query, canonical_headers, ";".join(signed), payload])


def check(method: str, target: str, headers: dict[str, str], body: bytes, secret: str) -> str | None:
    """None when the request is signed right, else what is wrong."""
    url = urlsplit(target)
    query = parse_qsl(url.query, keep_blank_values=True)
    params = dict(query)
    if "X-Amz-Signature" in params:
        credential = params["X-Amz-Credential"]
        scope = credential.split("/", 1)[1]
        signed = params["X-Amz-SignedHeaders"].split(";")
        unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        expected = signature(
            secret,
            params["X-Amz-Date"],
            scope,
            canonical_request(method, url.path, unsigned, headers, signed, "UNSIGNED-PAYLOAD"),
        )
        return None if hmac.compare_digest(expected, params["X-Amz-Signature"]) else "presigned URL signature mismatch"
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "not signed"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    scope = fields["Credential"].split("/", 1)[1]
    signed = fields["SignedHeaders"].split(";")
    payload = headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return "payload hash mismatch"
    expected = signature(
        secret, headers["x-amz-date"], scope, canonical_request(method, url.path, query, headers, signed, payload)
    )
    return None if hmac.compare_digest(expected, fields["Signature"]) else f"signature mismatch on {method} {url.path}"


class SigV4CheckingProxy:
    """Forwards to `upstream` only what is signed right with `secret`; `failures` lists the rest."""

    def __init__(self, upstream: str, secret: str) -> None:
        self.failures: list[str] = []
        self.checked = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                problem = check(self.command, self.path, headers, body, secret)
                outer.checked += 1
                if problem:
                    outer.failures.append(problem)
                    payload = f"<Error><Code>SignatureDoesNotMatch</Code><Message>{problem}</Message></Error>".encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                forward = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, upstream + self.path, headers=forward, content=body, timeout=60)
                self.send_response(answer.status_code)
                for name, value in answer.headers.multi_items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                content = b"" if self.command == "HEAD" else answer.content
                length = (
                    answer.headers.get("content-length", str(len(content)))
                    if self.command == "HEAD"
                    else str(len(content))
                )
                self.send_header("Content-Length", length)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SigV4CheckingProxy:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
