"""Publish the order page (``frontend/``) with the API's URL injected, and let the API accept it (CORS).

>>> url = publish_frontend(lab, stack.api.endpoint_url)          # doctest: +SKIP
>>> url                                          # prefix "alice": a port of her own  # doctest: +SKIP
'http://127.0.0.1:8066/'

The page itself is static (``index.html``, ``app.js``, ``style.css``); the API URL is not in it.
It reads ``config.js``, written here at publish time::

    window.ORDERLAB_CONFIG = {"apiUrl": "http://127.0.0.1:4599/_aws/execute-api/0c00ffa6", ...};

and the API's OpenAPI document, ``openapi.json`` (``frontend/openapi.json``, generated from the
handler's models by :mod:`helpers.pipeline.openapi`), published next to it with the API's URL as its server:
the page takes the operations' paths and its client-side rules from it.

- ``local`` and ``endpoint`` targets: :func:`serve_frontend` copies the page to
  ``$ORDERLAB_HOME/frontend-<port>/`` (never into the repository), writes ``config.js`` there and
  serves that folder on ``http://127.0.0.1:<port>/`` from a daemon thread of this process (it
  lives as long as the Python process — the notebook's kernel). Each prefix gets its own port
  (:func:`preferred_port`: 8000 for the default prefix ``orderlab``, a stable port in 8001-8999
  derived from any other prefix; the next free one if that is taken), so learners sharing a
  machine never overwrite each other's ``config.js``. Idempotent: if the lab's page server for
  the same prefix already listens there (this process or another one), it is reused and its
  ``config.js`` rewritten; a page server of another prefix is never touched.
- ``aws`` target: :func:`deploy_frontend_s3` uploads the page to an S3 static-website bucket
  ``<prefix>-frontend-<account id>`` (tagged like every lab resource; public read for the
  objects only) and returns its ``http://<bucket>.s3-website…amazonaws.com/`` address.

:func:`publish_frontend` picks one by target and then sets the HTTP API's CORS allowed origins
to exactly the page's origin, so a browser lets that page — and only that page — call the API.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import os
import shutil
import socket
import threading
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

import localcloud
from helpers.aws.website import WebsiteFile, publish_website
from helpers.core.lab import Lab
from helpers.core.naming import DEFAULT_PREFIX
from helpers.core.paths import FRONTEND_DIR
from helpers.pipeline.catalog import FRONTEND_COMPONENT
from helpers.pipeline.openapi import document_for, render
from helpers.pipeline.step1 import set_api_cors_origin

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_PORT",
    "FRONTEND_COMPONENT",
    "FRONTEND_DIR",
    "OPENAPI_FILE",
    "SITE_FILES",
    "FrontendServer",
    "config_js",
    "deploy_frontend_s3",
    "frontend_bucket_name",
    "openapi_json",
    "origin_of",
    "preferred_port",
    "publish_frontend",
    "serve_frontend",
    "stop_frontend",
]

SITE_FILES = ("index.html", "app.js", "style.css")
CONFIG_FILE = "config.js"
OPENAPI_FILE = (
    "openapi.json"  # the kept document (helpers.pipeline.openapi), published with this API's URL as its server
)
DEFAULT_PORT = 8000  # the default prefix's page; helpers.pipeline.step1.DEFAULT_CORS_ORIGINS allows it
# Other prefixes: DEFAULT_PORT + 1 + (crc32(prefix) % PORT_SPAN), then the next ones if taken.
PORT_SPAN = 999
PORT_TRIES = 20
LOCAL_HOST = "127.0.0.1"
# Answers JSON {"app": "orderlab-frontend", "root": ..., "pid": ..., "prefix": ...}: how a second
# caller recognises the lab's own page server on a port, whose page it is, and the folder it serves.
MARKER_PATH = "/__orderlab_frontend__"
MARKER_APP = "orderlab-frontend"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}


# ---------------------------------------------------------------------------------------------
# config.js
# ---------------------------------------------------------------------------------------------


def _check_api_url(api_url: str) -> str:
    if (
        not isinstance(api_url, str)
        or urlsplit(api_url).scheme not in ("http", "https")
        or not urlsplit(api_url).netloc
    ):
        raise ValueError(f"api_url must be the API's http(s) base URL (stack.api.endpoint_url), got {api_url!r}")
    return api_url.rstrip("/").removesuffix("/orders")


def config_js(api_url: str, **extra: Any) -> str:
    """The text of ``config.js``: ``window.ORDERLAB_CONFIG = {"apiUrl": ...}`` (plus ``extra`` keys).

    >>> print(config_js("https://abc.execute-api.eu-west-1.amazonaws.com/", prefix="alice"))
    // Generated by helpers.learn.frontend at publish time: the page's settings. Do not edit.
    window.ORDERLAB_CONFIG = {"apiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com", "prefix": "alice"};
    <BLANKLINE>
    """
    settings = {"apiUrl": _check_api_url(api_url), **extra}
    # JSON is valid JavaScript; "<" is escaped so no value can ever close a script element.
    literal = json.dumps(settings, ensure_ascii=True).replace("<", "\\u003c")
    return (
        "// Generated by helpers.learn.frontend at publish time: the page's settings. Do not edit.\n"
        f"window.ORDERLAB_CONFIG = {literal};\n"
    )


def openapi_json(api_url: str) -> str:
    """The text of the published ``openapi.json``: the kept document with ``servers`` = this API.

    >>> import json
    >>> json.loads(openapi_json("https://abc.execute-api.eu-west-1.amazonaws.com/"))["servers"]
    [{'url': 'https://abc.execute-api.eu-west-1.amazonaws.com'}]
    """
    return render(document_for(_check_api_url(api_url)))


def _settings(lab: Lab) -> dict[str, Any]:
    return {"prefix": lab.prefix, "target": lab.target.kind}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as browsers send it in ``Origin``.

    >>> origin_of("http://127.0.0.1:8000/index.html?x=1")
    'http://127.0.0.1:8000'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# ---------------------------------------------------------------------------------------------
# local: a small static server
# ---------------------------------------------------------------------------------------------


@dataclass
class FrontendServer:
    """The page served on ``url``. ``owned``: this process runs the server (``stop()`` stops it);
    otherwise another process's server was reused and ``stop()`` leaves it alone."""

    url: str
    port: int
    root: Path
    owned: bool
    prefix: str = ""
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        return origin_of(self.url)

    def stop(self) -> bool:
        """Stop the server if this process runs it (and remove its served copy); True if it was stopped."""
        if not self.owned or self._httpd is None:
            return False
        with _LOCK:
            if _SERVERS.get(self.port) is self:
                del _SERVERS[self.port]
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        shutil.rmtree(self.root, ignore_errors=True)  # the served copy: nobody serves it any more
        return True


_SERVERS: dict[int, FrontendServer] = {}
_LOCK = threading.Lock()


class _SiteHandler(SimpleHTTPRequestHandler):
    """Static files of one folder; no directory listings; nothing cached (config.js changes)."""

    server_version = "orderlab-frontend/1"
    prefix = ""  # whose page this is (set per server with functools.partial)

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        self.prefix = prefix
        super().__init__(*args, **kwargs)

    extensions_map = SimpleHTTPRequestHandler.extensions_map | _CONTENT_TYPES

    def do_GET(self) -> None:  # http.server's naming
        if self.path.split("?", 1)[0] == MARKER_PATH:
            body = json.dumps(
                {"app": MARKER_APP, "root": str(self.directory), "pid": os.getpid(), "prefix": self.prefix}
            ).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "No listing")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        pass  # quiet: a notebook's output is no place for access logs


def _site_dir(port: int) -> Path:
    return localcloud.paths.home() / f"frontend-{port}"


def _write_site(root: Path, generated: dict[str, str], source: Path = FRONTEND_DIR) -> None:
    """Copy the page's files into ``root`` and write the ``generated`` ones (name -> text), each
    file replaced atomically."""
    missing = [name for name in SITE_FILES if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"The frontend files {missing} are missing from {source}")
    root.mkdir(parents=True, exist_ok=True)
    for name in SITE_FILES:
        tmp = root / f".{name}.tmp-{os.getpid()}"
        shutil.copyfile(source / name, tmp)
        os.replace(tmp, root / name)
    for name, text in generated.items():
        tmp = root / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, root / name)


def _generated_files(lab: Lab, api_url: str) -> dict[str, str]:
    """What publishing writes next to the page: ``config.js`` and ``openapi.json`` for ``api_url``."""
    return {CONFIG_FILE: config_js(api_url, **_settings(lab)), OPENAPI_FILE: openapi_json(api_url)}


def _probe(port: int) -> tuple[Path, str] | bool | None:
    """What listens on 127.0.0.1:port: (root, prefix) of a lab page server, False if nothing,
    None if another program."""
    try:
        with socket.create_connection((LOCAL_HOST, port), timeout=0.5):
            pass
    except OSError:
        return False
    try:
        reply = requests.get(f"http://{LOCAL_HOST}:{port}{MARKER_PATH}", timeout=2)
        info = reply.json() if reply.ok else {}
    except (requests.RequestException, ValueError):
        return None
    if isinstance(info, dict) and info.get("app") == MARKER_APP and info.get("root"):
        return Path(info["root"]), str(info.get("prefix") or "")
    return None


def preferred_port(lab: Lab) -> int:
    """The port a prefix's page is served on locally: stable across kernel restarts, different per prefix.

    >>> from types import SimpleNamespace
    >>> preferred_port(SimpleNamespace(prefix="orderlab")), preferred_port(SimpleNamespace(prefix="alice"))
    (8000, 8066)
    """
    if lab.prefix == DEFAULT_PREFIX:
        return DEFAULT_PORT
    return DEFAULT_PORT + 1 + zlib.crc32(lab.prefix.encode("utf-8")) % PORT_SPAN


def serve_frontend(lab: Lab, api_url: str, *, port: int | None = None) -> FrontendServer:
    """Serve the page on ``http://127.0.0.1:<port>/`` with ``config.js`` pointing at ``api_url``.

    ``port=None``: this prefix's own port (:func:`preferred_port`), or the next free one if another
    program or another prefix's page holds it. An explicit ``port``: exactly that one, or
    ``RuntimeError`` if another program or another prefix's page holds it. A page server of the same
    prefix already there is reused (its ``config.js`` rewritten). Does not touch the API's CORS
    settings: :func:`publish_frontend` does.
    """
    files = _generated_files(lab, api_url)
    if port is not None:
        server = _serve_on(lab, files, port)
        if isinstance(server, FrontendServer):
            return server
        raise RuntimeError(
            f"Port {port} on {LOCAL_HOST} is used by {server}, so the order page cannot be served "
            f"there. Stop that program or choose another port: publish_frontend(lab, api_url, port=8010) "
            f"(the API's CORS origin follows the page)."
        )
    first = preferred_port(lab)
    holders = []
    for candidate in range(first, first + PORT_TRIES):
        server = _serve_on(lab, files, candidate)
        if isinstance(server, FrontendServer):
            return server
        holders.append(f"{candidate}: {server}")
    raise RuntimeError(
        f"No free port for the order page of prefix {lab.prefix!r} in {first}-{first + PORT_TRIES - 1} "
        f"({'; '.join(holders)}); pass port=<a free port> to publish_frontend"
    )


def _serve_on(lab: Lab, files: dict[str, str], port: int) -> FrontendServer | str:
    """Serve (or reuse this prefix's server) on ``port``; else a description of who holds the port."""
    url = f"http://{LOCAL_HOST}:{port}/"
    with _LOCK:
        current = _SERVERS.get(port)
        if current is not None and current._httpd is not None:
            if current.prefix != lab.prefix:
                return f"the order page of prefix {current.prefix!r} (this process)"
            _write_site(current.root, files)
            return current
        for _ in range(3):
            found = _probe(port)
            if isinstance(found, tuple):
                root, prefix = found
                if prefix != lab.prefix:
                    return f"the order page of prefix {prefix!r} (another process)"
                _write_site(root, files)
                return FrontendServer(url, port, root, owned=False, prefix=prefix)
            if found is None:
                return "another program"
            root = _site_dir(port)
            _write_site(root, files)
            handler = functools.partial(_SiteHandler, directory=str(root), prefix=lab.prefix)
            try:
                httpd = ThreadingHTTPServer((LOCAL_HOST, port), handler)
            except OSError:
                continue  # someone bound it meanwhile: look again
            httpd.daemon_threads = True
            thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name=f"orderlab-frontend-{port}", daemon=True
            )
            thread.start()
            server = FrontendServer(url, port, root, owned=True, prefix=lab.prefix, _httpd=httpd, _thread=thread)
            _SERVERS[port] = server
            return server
    return "a program that keeps binding and releasing it"


def stop_frontend(port: int = DEFAULT_PORT) -> bool:
    """Stop the page server this process runs on ``port`` (True if there was one)."""
    with _LOCK:
        server = _SERVERS.get(port)
    return server.stop() if server is not None else False


# ---------------------------------------------------------------------------------------------
# aws: an S3 static website
# ---------------------------------------------------------------------------------------------


def frontend_bucket_name(lab: Lab) -> str:
    """``<prefix>-frontend-<account id>``: bucket names are global, the account id keeps it ours."""
    return f"{lab.name(FRONTEND_COMPONENT)}-{lab.account_id}"


def deploy_frontend_s3(lab: Lab, api_url: str) -> str:
    """Upload the page to the S3 static-website bucket ``<prefix>-frontend-<account>``; return its URL
    (:func:`helpers.aws.website.publish_website`). ``config.js`` and ``openapi.json`` carry the API
    URL and are not cached; the page's own files are revalidated."""
    files = _generated_files(lab, api_url)
    missing = [name for name in SITE_FILES if not (FRONTEND_DIR / name).is_file()]
    if missing:
        raise FileNotFoundError(f"The frontend files {missing} are missing from {FRONTEND_DIR}")
    site: dict[str, WebsiteFile] = {}
    for name in SITE_FILES:
        content_type = (
            _CONTENT_TYPES.get(Path(name).suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        site[name] = ((FRONTEND_DIR / name).read_bytes(), content_type, "no-cache")
    for name, text in files.items():
        site[name] = (text.encode("utf-8"), _CONTENT_TYPES[Path(name).suffix], "no-store")
    return publish_website(lab, frontend_bucket_name(lab), site)


# ---------------------------------------------------------------------------------------------
# one call for the notebooks
# ---------------------------------------------------------------------------------------------


def publish_frontend(lab: Lab, api_url: str, *, port: int | None = None) -> str:
    """Publish the order page for ``api_url`` and make the API accept calls from it; return the page URL.

    ``aws``: an S3 static website (:func:`deploy_frontend_s3`). ``local``/``endpoint``: a local server
    on ``http://127.0.0.1:<port>/`` (:func:`serve_frontend`; ``port=None``: this prefix's own port).
    Then the API's CORS allowed origins become exactly the page's origin.
    """
    if lab.target.is_aws:
        url = deploy_frontend_s3(lab, api_url)
    else:
        url = serve_frontend(lab, api_url, port=port).url
    set_api_cors_origin(lab, origin_of(url))
    return url


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.learn.frontend --api-url URL [--port 8000]``: serve the page until Ctrl+C."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Serve the order page locally (the API's CORS is not changed).")
    parser.add_argument("--api-url", required=True, help="the HTTP API's base URL (without /orders)")
    parser.add_argument("--port", type=int, default=None, help="default: the prefix's own port (8000 for orderlab)")
    parser.add_argument("--prefix", default=None)
    args = parser.parse_args(argv)
    lab = Lab.connect(prefix=args.prefix, start_local=False)
    server = serve_frontend(lab, args.api_url, port=args.port)
    print(f"Serving the order page on {server.url} (Ctrl+C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
