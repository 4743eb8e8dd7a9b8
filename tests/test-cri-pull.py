#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""CRI PullImage from registries on loopback, as kubelet calls it.

Registries of grove_registry.py (docker-registry: plain HTTP, TLS with a CA made here,
htpasswd basic auth, bearer tokens; a stalling server and a server with canned answers)
serve images built at test time; groved is configured for them in its grove.conf and
serves the CRI on a private socket (grove_cri_test.py). Pulls go through ImageService,
credentials through AuthConfig; each failure must come back with its own gRPC status and
a message naming what failed. A pulled image then runs in a pod. Prints TAP; needs root,
python3 with grpcio, docker-registry and skopeo. Leaves no process, mount or directory.
"""

import base64
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.environ.get("G_TEST_SRCDIR", os.path.dirname(os.path.abspath(__file__))))
import grove_cri_test as t  # noqa: E402
from grove_cri_test import ok, Cri, wait_state, pod_config, container_config  # noqa: E402

PLAN = 28
KINDS = ("busybox", "multilayer", "index", "extra-cri", "extra-corrupt")


def pull(cri, ref, auth=None, timeout=None):
    request = {"image": {"image": ref}}
    if auth is not None:
        request["auth"] = auth
    return cri("ImageService/PullImage", request, timeout=timeout)


def image_status(cri, ref, verbose=False):
    status, error = cri("ImageService/ImageStatus", {"image": {"image": ref}, "verbose": verbose})
    return status or {}, error


def listed_ids(cri):
    listed, _ = cri("ImageService/ListImages")
    return [i["id"] for i in (listed or {}).get("images", [])]


def config_digest(layout):
    """the config digest of the layout's image ("latest"), which is its image ID"""
    hexd = gr.manifest_digest(layout).split(":", 1)[1]
    with open(os.path.join(layout, "blobs", "sha256", hexd)) as f:
        return json.load(f)["config"]["digest"]


def fs_used(cri):
    info, _ = cri("ImageService/ImageFsInfo")
    return int(info["image_filesystems"][0]["used_bytes"]["value"]) if info else 0


class Registries:
    """every server the test pulls from, and the grove.conf groups naming them"""

    def __init__(self, tmp):
        self.tmp = tmp
        self.servers = []
        self.plain = self.add(gr.Registry(tmp))
        self.layouts = {kind: gr.build_image(tmp, kind) for kind in KINDS}
        for kind, layout in self.layouts.items():
            gr.push(layout, f"{self.plain.host}/{kind}:1")
        storage = self.plain.storage
        self.ca = gr.CA(tmp)
        self.tls = self.add(gr.Registry(tmp, name="tls", tls=self.ca, storage=storage))
        self.basic = self.add(gr.Registry(tmp, name="basic", htpasswd=("alice", "s3cret"),
                                          storage=storage))
        self.bearer = self.add(gr.Registry(tmp, name="bearer", token=("bob", "t0ken"),
                                           storage=storage))
        self.stall = self.add(gr.StallServer())
        schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
        body = json.dumps({"schemaVersion": 1, "name": "old", "tag": "1"}).encode()
        self.canned = self.add(gr.CannedServer({"/v2/old/manifests/1": (200, schema1, body)}))

    def add(self, server):
        self.servers.append(server)
        return server

    def config(self):
        insecure = (self.plain, self.basic, self.bearer, self.stall, self.canned)
        return (f"[registries]\ndefault_registry = {self.plain.host}\n"
                + "".join(f"[registry.{s.host}]\ninsecure = true\n" for s in insecure)
                + f"[registry.{self.tls.host}]\nca_file = {self.ca.cert}\n")

    def close(self):
        for server in reversed(self.servers):
            server.close() if hasattr(server, "close") else server.stop()

    def corrupt(self, kind):
        """flips a byte in the middle of the image's own layer blob; its digest"""
        layer = gr.layer_digests(self.layouts[kind])[1]
        path = self.plain.blob_path(layer)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xff]))
        return layer


def test_plain(cri, regs):
    host = regs.plain.host
    layout = regs.layouts["busybox"]
    used = fs_used(cri)
    pulled, error = pull(cri, f"{host}/busybox:1")
    image_id = config_digest(layout)
    ok(pulled is not None and pulled["image_ref"] == image_id,
       "PullImage by tag over plain HTTP: image_ref is the config digest", pulled or error)
    status, error = image_status(cri, f"{host}/busybox:1")
    image = status.get("image", {})
    digest = gr.manifest_digest(layout)
    ok(image.get("id") == image_id and f"{host}/busybox:1" in image.get("repo_tags", [])
       and f"{host}/busybox@{digest}" in image.get("repo_digests", [])
       and int(image.get("size", 0)) > 1000000,
       "ImageStatus: the same ID, repo tag host:port/repo:tag, repo digest, size", status or error)
    listed, _ = cri("ImageService/ListImages", {"filter": {"image": {"image": image_id}}})
    ok([i["id"] for i in listed.get("images", [])] == [image_id]
       and listed["images"][0]["repo_digests"] == image.get("repo_digests")
       and listed["images"][0]["size"] == image.get("size"),
       "ListImages agrees with ImageStatus", listed)
    pulled, error = pull(cri, "multilayer:1")
    status, _ = image_status(cri, f"{host}/multilayer:1")
    ok(pulled is not None and pulled["image_ref"] == config_digest(regs.layouts["multilayer"])
       and status.get("image", {}).get("id") == pulled["image_ref"] and fs_used(cri) > used,
       "a short name is pulled from default_registry; ImageFsInfo counts the new layers",
       pulled or error)


def test_digest_and_index(cri, regs):
    host = regs.plain.host
    digest = gr.manifest_digest(regs.layouts["extra-cri"])
    ref = f"{host}/extra-cri@{digest}"
    pulled, error = pull(cri, ref)
    status, _ = image_status(cri, ref)
    image = status.get("image", {})
    ok(pulled is not None and pulled["image_ref"] == config_digest(regs.layouts["extra-cri"])
       and image.get("id") == pulled["image_ref"] and ref in image.get("repo_digests", [])
       and not image.get("repo_tags"),
       "PullImage by digest: the repo digest recorded, no tag", pulled or error)
    index = gr.manifest_digest(regs.layouts["index"])
    pulled, error = pull(cri, f"{host}/index:1")
    status, _ = image_status(cri, f"{host}/index:1", verbose=True)
    info = json.loads(status.get("info", {}).get("info", "{}"))
    ok(pulled is not None and info.get("config", {}).get("architecture") == "amd64"
       and f"{host}/index@{index}" in status["image"]["repo_digests"],
       "an index: the amd64 image is pulled, the index digest recorded", pulled or error)


def test_tls_and_auth(cri, regs):
    pulled, error = pull(cri, f"{regs.tls.host}/busybox:1")
    ok(pulled is not None, "TLS with the registry's ca_file", error)
    host = regs.basic.host
    _, none = pull(cri, f"{host}/multilayer:1")
    _, wrong = pull(cri, f"{host}/multilayer:1", {"username": "alice", "password": "wrong"})
    ok(none is not None and none[0] == "PERMISSION_DENIED" and wrong is not None
       and wrong[0] == "PERMISSION_DENIED" and host in wrong[1] and "not accepted" in wrong[1]
       and "no credentials" in none[1],
       "basic auth: no or wrong credentials are PERMISSION_DENIED, saying which", (none, wrong))
    pulled, error = pull(cri, f"{host}/multilayer:1", {"username": "alice", "password": "s3cret",
                                                       "server_address": host})
    ok(pulled is not None, "basic auth: AuthConfig username and password", error)
    encoded = base64.b64encode(b"alice:s3cret").decode()
    pulled, error = pull(cri, f"{host}/extra-cri:1", {"auth": encoded})
    ok(pulled is not None, "basic auth: AuthConfig auth (base64 of user:password)", error)
    host = regs.bearer.host
    before = regs.bearer.token_server.requests
    pulled, error = pull(cri, f"{host}/busybox:1", {"username": "bob", "password": "t0ken"})
    ok(pulled is not None and regs.bearer.token_server.requests > before,
       "bearer: a token from the token service for AuthConfig's credentials", error)
    _, error = pull(cri, f"{host}/busybox:1", {"username": "bob", "password": "nope"})
    ok(error is not None and error[0] == "PERMISSION_DENIED" and "token service" in error[1],
       "bearer, wrong password: PERMISSION_DENIED naming the token service", error)
    query = urllib.parse.urlencode({"service": gr.SERVICE,
                                    "scope": "repository:multilayer:pull"})
    request = urllib.request.Request(f"{regs.bearer.token_server.realm}?{query}", headers={
        "Authorization": "Basic " + base64.b64encode(b"bob:t0ken").decode()})
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.load(answer)["token"]
    before = regs.bearer.token_server.requests
    pulled, error = pull(cri, f"{host}/multilayer:1", {"registry_token": token})
    ok(pulled is not None and regs.bearer.token_server.requests == before,
       "bearer: AuthConfig registry_token is sent as it is", error)


def test_failures(cri, regs):
    before = listed_ids(cri)
    host = regs.plain.host
    _, error = pull(cri, f"{host}/busybox:nope")
    ok(error is not None and error[0] == "NOT_FOUND" and "busybox:nope" in error[1],
       "missing tag: NOT_FOUND naming it", error)
    layer = regs.corrupt("extra-corrupt")
    _, error = pull(cri, f"{host}/extra-corrupt:1")
    ok(error is not None and error[0] == "DATA_LOSS" and layer in error[1],
       "corrupted layer blob: DATA_LOSS naming the layer", error)
    _, error = pull(cri, f"{regs.canned.host}/old:1")
    ok(error is not None and error[0] == "FAILED_PRECONDITION" and "media type" in error[1]
       and "manifest.v1+prettyjws" in error[1],
       "a schema 1 manifest: FAILED_PRECONDITION naming the media type", error)
    _, error = pull(cri, "no/such/image")
    ok(error is not None and error[0] == "NOT_FOUND" and host in error[1],
       "a short name the default registry lacks: NOT_FOUND naming the registry", error)
    return before


def wait_log(daemon, text, seconds=5):
    """whether groved's log says @text within @seconds"""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(os.path.join(daemon.tmp, "groved.log")) as f:
            if text in f.read():
                return True
        time.sleep(0.1)
    return False


def test_deadline(cri, daemon, regs, before):
    start = time.monotonic()
    _, error = pull(cri, f"{regs.stall.host}/busybox:1", timeout=1)
    took = time.monotonic() - start
    stopped = wait_log(daemon, "the client's deadline passed; the pull was stopped")
    ok(error is not None and error[0] == "DEADLINE_EXCEEDED" and took < 3 and stopped,
       f"a stalled registry and a 1 s deadline: DEADLINE_EXCEEDED after {took:.1f} s, the "
       "pull stopped", error)
    path, request_class, response_class = cri.client.method("ImageService/PullImage")
    stub = cri.client.channel.unary_unary(path,
                                          request_serializer=request_class.SerializeToString,
                                          response_deserializer=response_class.FromString)
    future = stub.future(request_class(image=cri.api.ImageSpec(image=f"{regs.stall.host}/x:1")),
                         timeout=60)
    time.sleep(0.5)
    start = time.monotonic()
    version, error = cri("RuntimeService/Version")
    answered = time.monotonic() - start
    future.cancel()
    went_away = wait_log(daemon, "the client went away; the pull was stopped")
    ok(version is not None and answered < 0.5 and went_away,
       f"groved answers while a pull waits ({answered * 1000:.0f} ms); a client's cancel "
       "stops the pull", error)
    after = listed_ids(cri)
    ok(sorted(after) == sorted(before), "no image is left by any failed pull", (before, after))


def test_run(cri, tmp, regs):
    ref = f"{regs.plain.host}/extra-cri:1"
    pulled, error = pull(cri, ref)
    pod, error2 = cri("RuntimeService/RunPodSandbox", {"config": pod_config(tmp, "pulled")})
    pod_id = pod["pod_sandbox_id"] if pod else ""
    created, error3 = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": container_config("app", "exec sleep 300", image={"image": ref}),
        "sandbox_config": pod_config(tmp, "pulled")})
    cid = created["container_id"] if created else ""
    _, error4 = cri("RuntimeService/StartContainer", {"container_id": cid})
    status = wait_state(cri, cid, "CONTAINER_RUNNING")
    ok(pulled is not None and status is not None and status["image_ref"] == pulled["image_ref"],
       "a pulled image runs in a pod", (error, error2, error3, error4, status))
    out, error = cri("RuntimeService/ExecSync",
                     {"container_id": cid, "cmd": ["cat", "/etc/extra-cri"], "timeout": 10})
    ok(out is not None and out.get("exit_code", 0) == 0
       and base64.b64decode(out.get("stdout", "")) == b"extra-cri\n",
       "ExecSync in it reads the pulled layer's file", out or error)
    cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    _, error = cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})
    return pulled["image_ref"] if pulled else "", error


def test_remove_and_again(cri, regs, image_id):
    ref = f"{regs.plain.host}/extra-cri:1"
    _, error = cri("ImageService/RemoveImage", {"image": {"image": ref}})
    status, _ = image_status(cri, image_id)
    ok(error is None and not status.get("image") and image_id not in listed_ids(cri),
       "RemoveImage: the pulled image is gone", error or status)
    pulled, error = pull(cri, ref)
    status, _ = image_status(cri, ref)
    ok(pulled is not None and pulled["image_ref"] == image_id
       and status.get("image", {}).get("id") == image_id, "pulled again after its removal",
       pulled or error)


def body(daemon, api, tmp):
    cri = Cri(api, daemon.socket)
    test_plain(cri, regs)
    test_digest_and_index(cri, regs)
    test_tls_and_auth(cri, regs)
    before = test_failures(cri, regs)
    test_deadline(cri, daemon, regs, before)
    image_id, error = test_run(cri, tmp, regs)
    ok(error is None, "the pod is removed", error)
    test_remove_and_again(cri, regs, image_id)


if __name__ == "__main__":
    t.setup()
    for tool in ("docker-registry", "skopeo", "htpasswd", "openssl"):
        if shutil.which(tool) is None:
            print(f"1..0 # SKIP needs {tool}")
            sys.exit(0)
    import grove_registry as gr  # noqa: E402
    work = tempfile.mkdtemp(prefix="grove-cri-pull-registries-",
                            dir=os.environ.get("GROVE_TEST_TMPBASE", "/var/tmp"))
    regs = None
    try:
        regs = Registries(work)
        status = t.run(PLAN, "cri-pull", body, regs.config())
    finally:
        if regs is not None:
            regs.close()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)
