#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The streaming server over HTTPS: with [cri] stream_tls_cert and stream_tls_key, CRI Exec
hands out https:// URLs, a WebSocket client that trusts the certificate runs a command
through wss://, and one that does not trust it is refused. The certificate is made for the
test with openssl. Prints TAP.
"""

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grove_cri_test as base  # noqa: E402

try:
    import websocket
except ImportError:
    print("1..0 # SKIP needs python3-websocket")
    sys.exit(0)

if shutil.which("openssl") is None:
    print("1..0 # SKIP needs openssl")
    sys.exit(0)

PLAN = 6


def make_certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def body(daemon, api, tmp, cert):
    cri = base.Cri(api, daemon.socket)
    pod, _ = cri("RuntimeService/RunPodSandbox", {"config": base.pod_config(tmp, "tls")})
    pod_id = pod["pod_sandbox_id"]
    created, _ = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id, "config": base.container_config("sh", "exec sleep 300"),
        "sandbox_config": base.pod_config(tmp, "tls")})
    cid = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": cid})
    request = {"container_id": cid, "cmd": ["sh", "-c", "echo over tls"], "stdout": True}
    response, error = cri("RuntimeService/Exec", request)
    url = response["url"] if response else ""
    base.ok(url.startswith("https://127.0.0.1:"), "Exec hands out an https:// URL", url or error)
    try:
        websocket.create_connection("wss" + url[len("https"):], subprotocols=["v4.channel.k8s.io"],
                                    timeout=10).close()
        refused = False
    except ssl.SSLError:
        refused = True
    base.ok(refused, "a client that does not trust the certificate is refused")
    response, _ = cri("RuntimeService/Exec", request)
    ws = websocket.create_connection("wss" + response["url"][len("https"):],
                                     subprotocols=["v4.channel.k8s.io"], timeout=20,
                                     sslopt={"ca_certs": cert})
    out = {}
    while True:
        opcode, data = ws.recv_data()
        if opcode != websocket.ABNF.OPCODE_BINARY:
            break
        out[data[0]] = out.get(data[0], b"") + data[1:]
    ws.close()
    base.ok(out.get(1) == b"over tls\n" and json.loads(out.get(3, b"{}")).get("status") == "Success",
            "exec through wss:// with the certificate trusted", out)
    cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})


def main():
    certs = tempfile.mkdtemp(prefix="grove-tls-",
                             dir=os.environ.get("GROVE_TEST_TMPBASE", "/var/tmp"))
    try:
        cert, key = make_certificate(certs)
        config = f"[cri]\nstream_tls_cert = {cert}\nstream_tls_key = {key}\n"
        return base.run(PLAN, "cri-streaming-tls",
                        lambda daemon, api, tmp: body(daemon, api, tmp, cert), config)
    finally:
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
