"""TLS for served test apps: a throwaway certificate authority, and a small reverse proxy.

Certificates
    certificates(directory) -> Certificates
        A CA made for this test run only (trustme) and a server certificate for 127.0.0.1 and
        localhost, written as PEM files that gunicorn's --certfile/--keyfile and the proxy read.

Reverse proxy
    TlsReverseProxy(backend_port, certs).start()
        Terminates TLS on 127.0.0.1:<free port> and forwards each request over plain HTTP to the
        app on 127.0.0.1:<backend_port>, as nginx does with `proxy_pass`: it keeps Host, sets
        X-Forwarded-Proto: https and appends the client's address to X-Forwarded-For. It connects
        to the app *from 127.0.0.2*, so the app sees a peer address that is not the client's and
        only trusting X-Forwarded-For (PROXY_COUNT=1) gives it the right one. `.requests` counts
        what went through, so a test can tell the browser really used the proxy.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .postgres import free_port

# Hop-by-hop headers (RFC 9110 7.6.1) are never forwarded; the proxy sets its own framing.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
# The address the proxy connects to the app from: anything but the browser's 127.0.0.1.
PROXY_SOURCE_ADDRESS = "127.0.0.2"


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # the authority's certificate, for clients that want to verify
    cert_file: Path  # the server's certificate chain
    key_file: Path  # the server's private key


def certificates(directory: Path) -> Certificates:
    """A fresh CA and a server certificate for 127.0.0.1 and localhost, as PEM files in `directory`."""
    import trustme

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    result = Certificates(directory / "ca.pem", directory / "server-chain.pem", directory / "server-key.pem")
    authority.cert_pem.write_to_path(str(result.ca_file))
    with result.cert_file.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    server.private_key_pem.write_to_path(str(result.key_file))
    return result


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the browser, as a real proxy does
    server: _ProxyServer

    def log_message(self, format, *args):  # noqa: A002 - the signature is BaseHTTPRequestHandler's
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {}
        for name, value in self.headers.items():
            if name.lower() in HOP_BY_HOP or name.lower().startswith("x-forwarded-"):
                continue  # what a client claims about forwarding is not passed on
            headers[name] = value
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(
            "127.0.0.1", self.server.backend_port, timeout=60, source_address=(PROXY_SOURCE_ADDRESS, 0)
        )
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():  # getheaders keeps every Set-Cookie
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.send_error(502, "Bad Gateway")
        finally:
            upstream.close()
        with self.server.lock:
            self.server.requests += 1

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _forward


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, backend_port: int, context: ssl.SSLContext):
        super().__init__(address, _ProxyHandler)
        self.backend_port = backend_port
        self.context = context
        self.lock = threading.Lock()
        self.requests = 0

    def get_request(self):
        sock, address = super().get_request()
        # The handshake happens in the handler's thread, on first read, so one slow client does not block others.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        pass  # a browser closing a keep-alive connection, or a failed handshake: nothing to report


class TlsReverseProxy:
    """TLS in front, plain HTTP to the app; see the module docstring."""

    def __init__(self, backend_port: int, certs: Certificates, port: int | None = None) -> None:
        self.backend_port = backend_port
        self.certs = certs
        self.port = port or free_port()
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return self._server.requests if self._server is not None else 0

    def start(self) -> TlsReverseProxy:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.certs.cert_file), str(self.certs.key_file))
        self._server = _ProxyServer(("127.0.0.1", self.port), self.backend_port, context)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tls-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
