#!/usr/bin/env python3
"""fake_registry.py PORTFILE: a registry with docker's token auth, on 127.0.0.1.

For test_oci_registry.sh. It listens on a free loopback port (written to
PORTFILE) and serves, for the repository test/img only:

  /token       the token service: Basic user:pass gets a token that pulls
               (good for TOKEN_USES requests, so that a walk has to renew
               it); no credential gets an anonymous token that pulls
               nothing; a wrong one gets 401. service and scope must be
               ours. Answers alternate "token" and "access_token".
  /v2/test/img/manifests/REF   with a pulling token: "t" or its digest (a
               Docker schema 2 manifest), "idx" or its digest (an OCI index
               of it), "broken" (500 with an error body), "huge" (5 MiB);
               anything else is 404 MANIFEST_UNKNOWN. Without: 401 with a
               Bearer challenge.
  /v2/test/img/blobs/DIGEST    with a pulling token: a 307 to
               http://localhost:PORT/storage/DIGEST, another host name,
               where a request that carries an Authorization header is
               refused (400): credentials must not follow a redirect to
               storage.
"""
import base64
import hashlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

REPO = "test/img"
SERVICE = "fake.registry"
TOKEN_USES = 3
BASIC_OK = "Basic " + base64.b64encode(b"user:pass").decode()

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
# Over PROGRESS_STEP (256 KiB) so that progress has steps; not a real tar:
# the source does not look inside.
LAYER = bytes((i * 7 + i // 251) & 0xFF for i in range(300 * 1024 + 17))


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


BLOBS = {digest(CONFIG): CONFIG, digest(LAYER): LAYER}
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
               "digest": digest(CONFIG), "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": digest(LAYER), "size": len(LAYER)}],
}).encode()
INDEX = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                   "digest": digest(MANIFEST), "size": len(MANIFEST),
                   "platform": {"architecture": "amd64", "os": "linux"}}],
}).encode()
MANIFESTS = {
    "t": (MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"),
    "idx": (INDEX, "application/vnd.oci.image.index.v1+json"),
}
MANIFESTS[digest(MANIFEST)] = MANIFESTS["t"]
MANIFESTS[digest(INDEX)] = MANIFESTS["idx"]

lock = threading.Lock()
tokens = {}  # token -> uses left (None: anonymous, pulls nothing)
issued = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake_registry: %s %s\n" % (self.headers.get("Host"), fmt % args))

    def answer(self, code, body=b"", ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, err_code, message, headers=()):
        body = json.dumps({"errors": [{"code": err_code, "message": message}]}).encode()
        self.answer(code, body, "application/json; charset=utf-8", headers)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/token":
            return self.token(parse_qs(url.query))
        if url.path.startswith("/storage/"):
            return self.storage(url.path[len("/storage/"):])
        prefix = "/v2/%s/" % REPO
        if not url.path.startswith(prefix):
            return self.error(404, "NAME_UNKNOWN", "repository name not known")
        if not self.authorized():
            return self.error(401, "UNAUTHORIZED", "authentication required", [(
                "WWW-Authenticate",
                'Bearer realm="http://127.0.0.1:%d/token",service="%s",scope="repository:%s:pull"'
                % (self.server.server_port, SERVICE, REPO))])
        kind, _, ref = url.path[len(prefix):].partition("/")
        if kind == "manifests":
            return self.manifest(ref)
        if kind == "blobs" and ref in BLOBS:
            where = "http://localhost:%d/storage/%s" % (self.server.server_port, ref)
            return self.answer(307, b"", "text/plain", [("Location", where)])
        return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")

    def token(self, q):
        if q.get("service") != [SERVICE] or q.get("scope") != ["repository:%s:pull" % REPO]:
            return self.error(400, "BAD_SCOPE", "service or scope: %r" % q)
        auth = self.headers.get("Authorization")
        if auth and auth != BASIC_OK:
            return self.error(401, "UNAUTHORIZED", "bad credentials")
        with lock:
            issued[0] += 1
            tok = "tok-%d-%s" % (issued[0], "ok" if auth else "anon")
            tokens[tok] = TOKEN_USES if auth else None
            key = "token" if issued[0] % 2 else "access_token"
        self.answer(200, json.dumps({key: tok, "expires_in": 60}).encode())

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        with lock:
            left = tokens.get(auth[7:])
            if not left:
                return False
            tokens[auth[7:]] = left - 1
            return True

    def manifest(self, ref):
        if ref == "broken":
            return self.error(500, "UNKNOWN", "boom")
        if ref == "huge":
            return self.answer(200, b" " * (5 << 20),
                               "application/vnd.oci.image.manifest.v1+json")
        if ref not in MANIFESTS:
            return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        body, ctype = MANIFESTS[ref]
        self.answer(200, body, ctype + "; charset=utf-8")

    def storage(self, ref):
        if self.headers.get("Authorization"):
            sys.stderr.write("fake_registry: LEAK: an Authorization header reached storage\n")
            return self.answer(400, b"credentials leaked to storage", "text/plain")
        if ref not in BLOBS:
            return self.answer(404, b"no such object", "text/plain")
        self.answer(200, BLOBS[ref], "application/octet-stream")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_port)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
