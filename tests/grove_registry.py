#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Loopback OCI registries for Grove's pull tests and benchmarks.

Debian's `docker-registry` (distribution 2.8) serves on 127.0.0.1 with a port the kernel
picks and its own storage dir (or a shared one, so several registries can serve the same
images): plain HTTP, TLS with a CA made here with openssl, htpasswd basic auth, or bearer
tokens from a small token server of this module (JWTs signed with a key made here; the
registry trusts its certificate through `auth.token.rootcertbundle`). Images are built
with mkimage.py from busybox-static and pushed with `skopeo copy`. Every process is ended
by its PID.

From Python (run with /usr/bin/python3):

    import grove_registry as gr
    with gr.Registry(workdir) as reg:                 # plain HTTP
        gr.push(gr.build_image(workdir, "busybox"), reg.host + "/busybox:1")
        reg.blob_gets()                                # digests GET'd so far (from its log)
    ca = gr.CA(workdir)
    gr.Registry(workdir, name="tls", tls=ca, storage=reg.storage)  # same images over TLS
    gr.Registry(workdir, name="basic", htpasswd=("user", "pass"), storage=reg.storage)
    gr.Registry(workdir, name="bearer", token=("user", "pass"), storage=reg.storage)
    reg.stop(); reg.start()                            # the same port again
    gr.StallServer()                                   # sends headers, then nothing
    gr.CannedServer({"/v2/x/manifests/1": (200, "text/plain", b"...")})  # fixed answers
    gr.StallingProxy(reg)                              # reg's images; layers hang mid-blob
    gr.StallingProxy(reg, layers="missing")            # reg's images; layers are 404

Images (`build_image(workdir, KIND)` gives an OCI layout dir; push with `push(dir, dest)`):
    busybox, multilayer (3 layers), shared-a / shared-b / extra-ANYTHING (the busybox layer,
    then one small layer of their own), zstd, index (amd64 + arm64), big (busybox + a 48 MB
    uncompressed layer).

From the shell:
    grove_registry.py start DIR [--name N] [--tls] [--basic USER:PASS] [--bearer USER:PASS]
                      [--storage DIR]        prints HOST=..., CA=... (for --tls), PID=...
    grove_registry.py push DIR KIND DEST     e.g. push /tmp/x busybox 127.0.0.1:5000/bb:1
    grove_registry.py stop DIR               ends every process `start` left in DIR
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage  # noqa: E402

REGISTRY = "docker-registry"
SERVICE = "grove-test-registry"
ISSUER = "grove-test-token-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class CA:
    """A CA and a server certificate it signed for 127.0.0.1 and localhost."""

    def __init__(self, workdir, name="ca"):
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        self.cert, self.key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        self.server_cert = os.path.join(d, "server.pem")
        self.server_key = os.path.join(d, "server.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=grove test CA", "-keyout", self.key, "-out", self.cert)
        csr = os.path.join(d, "server.csr")
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
                self.server_key, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", self.server_cert)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs registry JWTs (RS256) with a key and self-signed certificate made here."""

    def __init__(self, workdir):
        d = os.path.join(workdir, "token")
        os.makedirs(d, exist_ok=True)
        self.key, self.cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=grove test tokens", "-keyout", self.key, "-out", self.cert)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()

    def sign(self, subject, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": hashlib.sha256(os.urandom(16)).hexdigest(),
                  "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "."
                         + b64url(json.dumps(claims).encode()))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True).stdout
        return signing_input + "." + b64url(signature)


def parse_scopes(values):
    access = []
    for value in values:
        for scope in value.split(" "):
            parts = scope.split(":")
            if len(parts) >= 3:
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                               "actions": parts[-1].split(",")})
    return access


class TokenServer:
    """The token service of a bearer registry, on a thread: checks basic credentials and
    grants what is asked for. `requests` counts the tokens it handed out."""

    def __init__(self, issuer, credentials):
        self.issuer = issuer
        self.credentials = credentials
        self.requests = 0
        self.port = free_port()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(url.query)
                expected = "Basic " + base64.b64encode(
                    ("%s:%s" % server.credentials).encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                server.requests += 1
                token = server.issuer.sign(server.credentials[0],
                                           parse_scopes(query.get("scope", [])))
                body = json.dumps({"token": token, "access_token": token,
                                   "expires_in": 600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.realm = f"http://127.0.0.1:{self.port}/token"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def htpasswd_line(user, password):
    hashed = subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                            capture_output=True, text=True).stdout.strip()
    return hashed + "\n"


class Registry:
    """One `docker-registry serve` on 127.0.0.1; start() on construction, stop() by PID."""

    def __init__(self, workdir, name="registry", storage=None, tls=None, htpasswd=None,
                 token=None, port=None):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.storage = storage or os.path.join(self.dir, "storage")
        os.makedirs(self.storage, exist_ok=True)
        self.tls = tls
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = os.path.join(self.dir, "registry.log")
        self.proc = None
        self.token_server = None
        self.credentials = htpasswd or token
        auth = ""
        if htpasswd is not None:
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "w") as f:
                f.write(htpasswd_line(*htpasswd))
            auth = f"auth:\n  htpasswd:\n    realm: grove-test\n    path: {path}\n"
        if token is not None:
            issuer = TokenIssuer(self.dir)
            self.token_server = TokenServer(issuer, token)
            auth = (f"auth:\n  token:\n    realm: {self.token_server.realm}\n"
                    f"    service: {SERVICE}\n    issuer: {ISSUER}\n"
                    f"    rootcertbundle: {issuer.cert}\n")
        self.config = os.path.join(self.dir, "config.yml")
        tls_text = ""
        if tls is not None:
            tls_text = (f"  tls:\n    certificate: {tls.server_cert}\n"
                        f"    key: {tls.server_key}\n")
        with open(self.config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                    "  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.host}\n  secret: grove-test\n{tls_text}{auth}")
        self.start()

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([REGISTRY, "serve", self.config], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        wait_port(self.port, self.proc)

    def stop(self):
        stop_process(self.proc)

    def close(self):
        self.stop()
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def requests(self, kind):
        """Digests or tags of the GETs of `kind` ("blobs" or "manifests") answered so far."""
        pattern = re.compile(r'http\.request\.method=GET .*?http\.request\.uri="?/v2/\S*?/'
                             + kind + r'/([^"\s]+)"?.*?http\.response\.status=(\d+)')
        found = []
        with open(self.log, errors="replace") as f:
            for line in f:
                m = pattern.search(line)
                if m and "response completed" in line:
                    found.append(m.group(1))
        return found

    def blob_gets(self):
        return self.requests("blobs")

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")


class StallServer:
    """Answers every request with headers and a few bytes, then sends nothing more."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.conns = []
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest"
                         b".v1+json\r\nContent-Length: 100000\r\n\r\n{\"schema")

    def stop(self):
        self.closed = True
        self.sock.close()
        for conn in self.conns:
            conn.close()


class CannedServer:
    """Answers GETs from a table: path -> (status, content type, body); 404 otherwise."""

    def __init__(self, routes):
        self.routes = routes
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, content_type, body = server.routes.get(self.path,
                                                               (404, "text/plain", b""))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class StallingProxy:
    """A plain-HTTP front of `upstream` (a Registry) that passes manifests and configs on
    but, with layers="stall", stalls every gzip layer blob after half its bytes, until
    stop() (`stalled` is set once a layer download hangs there); with layers="missing", it
    answers 404 for them, as a mirror that lacks them."""

    def __init__(self, upstream, layers="stall"):
        self.upstream = upstream
        self.layers = layers
        self.manifests_served = 0
        self.layers_refused = 0
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.stalled = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, head_only):
                request = urllib.request.Request(f"http://{proxy.upstream.host}{self.path}",
                                                 method="HEAD" if head_only else "GET")
                for name in ("Accept", "Authorization"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    reply = urllib.request.urlopen(request, timeout=30)
                    status, headers, body = reply.status, reply.headers, reply.read()
                except urllib.error.HTTPError as error:
                    status, headers, body = error.code, error.headers, error.read()
                if "/manifests/" in self.path and status == 200 and not head_only:
                    proxy.manifests_served += 1
                if "/blobs/" in self.path and body[:2] == b"\x1f\x8b" and proxy.layers == "missing":
                    status, headers, body = 404, {"Content-Type": "application/json"}, b"{}"
                    headers["Content-Length"] = str(len(body))
                    proxy.layers_refused += 1
                self.send_response(status)
                for name in ("Content-Type", "Docker-Content-Digest", "Content-Length"):
                    if headers.get(name):
                        self.send_header(name, headers[name])
                self.end_headers()
                if head_only:
                    return
                if "/blobs/" in self.path and body[:2] == b"\x1f\x8b":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    proxy.stalled.set()
                    proxy.release.wait()
                    return
                self.wfile.write(body)

            def do_GET(self):
                self.answer(False)

            def do_HEAD(self):
                self.answer(True)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def write_image(workdir, name, image, tag="latest"):
    out = os.path.join(workdir, "images", name)
    mkimage.write_oci_dir(out, image.blobs, image.descriptor(tag), tag)
    return out


def extra_layer(name, text):
    lb = mkimage.LayerBuilder()
    lb.file(f"etc/{name}", text)
    return lb.finish()


def big_layer_raw(total):
    import io
    buf = io.BytesIO()
    mkimage.write_big_layer(buf, 400, total)
    return buf.getvalue()


def build_image(workdir, kind):
    """An OCI layout dir (tag "latest") holding the image `kind`; see the module doc."""
    out = os.path.join(workdir, "images", kind)
    if os.path.exists(os.path.join(out, "index.json")):
        return out
    base = mkimage.Layer(mkimage.busybox_layer_raw(), "gzip", "busybox")
    if kind == "busybox":
        return write_image(workdir, kind, mkimage.Image([base]))
    if kind == "multilayer":
        layers = [mkimage.Layer(raw, "gzip", f"layer {i}") for i, raw in enumerate(
            (mkimage.multilayer_layer1(), mkimage.multilayer_layer2(),
             mkimage.multilayer_layer3()))]
        return write_image(workdir, kind, mkimage.Image(layers))
    if kind in ("shared-a", "shared-b") or kind.startswith("extra-"):
        top = mkimage.Layer(extra_layer(kind, f"{kind}\n"), "gzip", kind)
        return write_image(workdir, kind, mkimage.Image([base, top]))
    if kind == "zstd":
        raw = mkimage.busybox_layer_raw([("etc/compression", "zstd\n")])
        return write_image(workdir, kind, mkimage.Image([mkimage.Layer(raw, "zstd", "zstd")]))
    if kind == "big":
        big = mkimage.Layer(big_layer_raw(48 << 20), "none", "big")
        return write_image(workdir, kind, mkimage.Image([base, big]))
    if kind == "index":
        args = argparse.Namespace(tag="latest", platforms="linux/amd64,linux/arm64",
                                  compression="gzip", format="oci-dir", out=out)
        mkimage.cmd_multiplatform(args)
        return out
    raise ValueError(f"unknown image kind {kind!r}")


def push(layout, dest, creds=None, ca_dir=None, tag="latest"):
    """Copies the OCI layout's `tag` (an index with all its images) to docker://DEST."""
    cmd = ["skopeo", "copy", "--quiet", "--all", "--preserve-digests"]
    if ca_dir is not None:
        cmd += ["--dest-cert-dir", ca_dir]
    else:
        cmd += ["--dest-tls-verify=false"]
    if creds is not None:
        cmd += ["--dest-creds", "%s:%s" % creds]
    subprocess.run(cmd + [f"oci:{layout}:{tag}", f"docker://{dest}"], check=True,
                   capture_output=True)


def manifest_digest(layout, tag="latest"):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get(mkimage.REF_NAME) == tag:
            return desc["digest"]
    raise KeyError(tag)


def layer_digests(layout, tag="latest"):
    hexd = manifest_digest(layout, tag).split(":", 1)[1]
    with open(os.path.join(layout, "blobs", "sha256", hexd)) as f:
        return [layer["digest"] for layer in json.load(f)["layers"]]


def cli_start(args):
    workdir = os.path.abspath(args.dir)
    tls = CA(workdir) if args.tls else None
    basic = tuple(args.basic.split(":", 1)) if args.basic else None
    bearer = tuple(args.bearer.split(":", 1)) if args.bearer else None
    if bearer is not None:
        raise SystemExit("grove_registry: --bearer needs the token server thread: use the "
                         "Python API")
    reg = Registry(workdir, name=args.name, storage=args.storage, tls=tls, htpasswd=basic)
    with open(os.path.join(workdir, "pids"), "a") as f:
        f.write(f"{reg.proc.pid}\n")
    print(f"HOST={reg.host}")
    print(f"STORAGE={reg.storage}")
    if tls is not None:
        print(f"CA={tls.cert}")
    print(f"PID={reg.proc.pid}")


def cli_stop(args):
    path = os.path.join(os.path.abspath(args.dir), "pids")
    if not os.path.exists(path):
        return
    with open(path) as f:
        for line in f:
            try:
                os.kill(int(line), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
    os.unlink(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start")
    p.add_argument("dir")
    p.add_argument("--name", default="registry")
    p.add_argument("--storage", default=None)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--basic", default=None)
    p.add_argument("--bearer", default=None)
    p.set_defaults(func=cli_start)
    p = sub.add_parser("push")
    p.add_argument("dir")
    p.add_argument("kind")
    p.add_argument("dest")
    p.set_defaults(func=lambda a: push(build_image(os.path.abspath(a.dir), a.kind), a.dest))
    p = sub.add_parser("stop")
    p.add_argument("dir")
    p.set_defaults(func=cli_stop)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
