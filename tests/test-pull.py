#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pulls from real registries on loopback (docker-registry, see grove_registry.py) through
grove_store_pull_image(), driven by `grove-store-tool pull`: plain HTTP, TLS with and
without the CA, basic and bearer auth, mirrors, by digest, an index, several layers, zstd,
shared layers skipped, and the failures: missing tag, wrong password, corrupted blob,
registry killed mid-pull (then a retry), stalled server, cancel. After each failure the
repository passes `ostree fsck` and no partial image is listed. Prints TAP.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("G_TEST_SRCDIR", HERE)
BUILD = os.environ.get("G_TEST_BUILDDIR", HERE)
sys.path.insert(0, SRC)

for tool in ("docker-registry", "skopeo", "htpasswd", "openssl", "ostree"):
    if shutil.which(tool) is None:
        print(f"1..0 # SKIP needs {tool}")
        sys.exit(0)

import grove_registry as gr  # noqa: E402

TOOL = os.path.join(BUILD, "grove-store-tool")
PLAN = 37
count = 0
failed = False


def ok(condition, what, detail=""):
    global count, failed
    count += 1
    print(f"{'ok' if condition else 'not ok'} {count} - {what}", flush=True)
    if not condition:
        failed = True
        for line in str(detail).splitlines()[-30:]:
            print(f"# {line}", flush=True)


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed
        self.image = None
        for line in out.splitlines():
            if line.startswith("image "):
                parts = line.split(" ")
                self.image = {"id": parts[1], "names": [n for n in parts[2].split(",") if n],
                              "digests": [d for d in parts[3].split(",") if d]}
        self.error = err.strip().splitlines()[-1] if err.strip() else ""

    def failed_with(self, name):
        return self.rc == 1 and self.error.startswith(f"error {name}:")

    def __str__(self):
        return f"rc={self.rc}\nstdout:\n{self.out[-2000:]}\nstderr:\n{self.err[-3000:]}"


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0

    def store(self):
        self.n += 1
        return os.path.join(self.tmp, f"store{self.n}")

    def conf(self, text):
        self.n += 1
        path = os.path.join(self.tmp, f"grove{self.n}.conf")
        with open(path, "w") as f:
            f.write(text)
        return path


def pull(store, conf, ref, user="", cancel_at=None):
    args = [TOOL, "pull", store, conf, ref, user]
    if cancel_at is not None:
        args.append(str(cancel_at))
    start = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def listed(store):
    proc = subprocess.run([TOOL, "ls", store], capture_output=True, text=True)
    return [line.split(" ")[0] for line in proc.stdout.splitlines()]


def fsck_clean(store):
    proc = subprocess.run(["ostree", "fsck", f"--repo={store}/repo"], capture_output=True,
                          text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr


def check_clean(store, before, what):
    clean, output = fsck_clean(store)
    now = listed(store)
    ok(clean and now == before, f"{what}: ostree fsck clean, no partial image listed",
       f"{output}\nimages before {before}, after {now}")


def config_id(layout, digest):
    hexd = digest.split(":", 1)[1]
    with open(os.path.join(layout, "blobs", "sha256", hexd)) as f:
        doc = json.load(f)
    if "manifests" in doc:
        for desc in doc["manifests"]:
            platform = desc.get("platform", {})
            if platform.get("architecture") == "amd64":
                return config_id(layout, desc["digest"])
        return config_id(layout, doc["manifests"][0]["digest"])
    return doc["config"]["digest"].split(":", 1)[1]


def insecure(*hosts):
    return "".join(f"[registry.{h}]\ninsecure = true\n" for h in hosts)


def test_plain(env, reg, layouts):
    store = env.store()
    conf = env.conf("[registries]\nstall_timeout = 10\n" + insecure(reg.host))
    r = pull(store, conf, f"{reg.host}/busybox:1")
    digest = gr.manifest_digest(layouts["busybox"])
    ok(r.rc == 0 and r.image["id"] == config_id(layouts["busybox"], digest),
       "plain HTTP: busybox pulled, its ID is the config digest", r)
    ok(r.image is not None and r.image["names"] == [f"{reg.host}/busybox:1"]
       and f"{reg.host}/busybox@{digest}" in r.image["digests"],
       "tagged host:port/repo:tag, repo digest of the manifest fetched", r)
    progress = [line for line in r.out.splitlines() if line.startswith("progress ")]
    last = progress[-1].split() if progress else []
    ok(last and last[1] == last[2] and last[3] == last[4] == "1",
       "progress ends with all bytes and layers done", r)
    ok(fsck_clean(store)[0] and listed(store) == [r.image["id"]], "fsck clean, image listed",
       fsck_clean(store)[1])
    return store


def test_short_names(env, reg):
    store = env.store()
    r = pull(store, env.conf(insecure(reg.host)), "busybox:1")
    ok(r.failed_with("org.grove.Error.InvalidArgument") and "default registry" in r.error,
       "short name without default_registry: refused, saying so", r)
    conf = env.conf(f"[registries]\ndefault_registry = {reg.host}\n" + insecure(reg.host))
    r = pull(store, conf, "busybox:1")
    ok(r.rc == 0 and r.image["names"] == [f"{reg.host}/busybox:1"],
       "short name goes to default_registry", r)


def test_by_digest(env, reg, layouts):
    store = env.store()
    conf = env.conf(insecure(reg.host))
    digest = gr.manifest_digest(layouts["multilayer"])
    r = pull(store, conf, f"{reg.host}/multilayer@{digest}")
    ok(r.rc == 0 and r.image["names"] == [] and r.image["digests"] == [
        f"{reg.host}/multilayer@{digest}"]
       and r.image["id"] == config_id(layouts["multilayer"], digest),
       "by digest: 3-layer image pulled, repo digest recorded, no tag", r)
    wrong = "sha256:" + "0" * 64
    before = listed(store)
    r = pull(store, conf, f"{reg.host}/multilayer@{wrong}")
    ok(r.failed_with("org.grove.Error.NotFound") and wrong in r.error,
       "unknown digest: NotFound naming it", r)
    check_clean(store, before, "unknown digest")


def test_index_and_zstd(env, reg, layouts):
    store = env.store()
    conf = env.conf(insecure(reg.host))
    digest = gr.manifest_digest(layouts["index"])
    r = pull(store, conf, f"{reg.host}/index:1")
    ok(r.rc == 0 and r.image["id"] == config_id(layouts["index"], digest)
       and f"{reg.host}/index@{digest}" in r.image["digests"],
       "index: the amd64 image pulled, the index digest recorded", r)
    r = pull(store, conf, f"{reg.host}/zstd:1")
    ok(r.rc == 0, "zstd layer pulled", r)


def test_shared_layers(env, reg, layouts):
    store = env.store()
    conf = env.conf(insecure(reg.host))
    r = pull(store, conf, f"{reg.host}/shared-a:1")
    before = len(reg.blob_gets())
    r2 = pull(store, conf, f"{reg.host}/shared-b:1")
    fetched = set(reg.blob_gets()[before:])
    layers = gr.layer_digests(layouts["shared-b"])
    ok(r.rc == 0 and r2.rc == 0 and layers[0] not in fetched and layers[1] in fetched,
       "second image sharing the base layer downloads only its own layer",
       f"{r}\n{r2}\nfetched {fetched}\nlayers {layers}")


def test_missing_tag(env, reg, store):
    before = listed(store)
    r = pull(store, env.conf(insecure(reg.host)), f"{reg.host}/busybox:nope")
    ok(r.failed_with("org.grove.Error.NotFound") and "busybox:nope" in r.error,
       "missing tag: NotFound naming repository and tag", r)
    check_clean(store, before, "missing tag")


def test_tls(env, reg, tmp):
    ca = gr.CA(tmp)
    with gr.Registry(tmp, name="tls", tls=ca, storage=reg.storage) as tls:
        store = env.store()
        before = listed(store) if os.path.exists(store) else []
        r = pull(store, env.conf(""), f"{tls.host}/busybox:1")
        ok(r.failed_with("org.grove.Error.Unavailable") and "certificate" in r.error
           and "unknown certificate authority" in r.error,
           "TLS without the CA: Unavailable naming the certificate problem", r)
        check_clean(store, before, "TLS refused")
        conf = env.conf(f"[registry.{tls.host}]\nca_file = {ca.cert}\n")
        r = pull(store, conf, f"{tls.host}/busybox:1")
        ok(r.rc == 0, "TLS with ca_file: pulled", r)


def test_basic(env, reg, tmp):
    with gr.Registry(tmp, name="basic", htpasswd=("alice", "s3cret"),
                     storage=reg.storage) as basic:
        store = env.store()
        conf = env.conf(insecure(basic.host))
        r = pull(store, conf, f"{basic.host}/busybox:1", "alice:wrong")
        ok(r.failed_with("org.grove.Error.PermissionDenied") and basic.host in r.error,
           "basic auth, wrong password: PermissionDenied naming the registry", r)
        check_clean(store, listed(store), "wrong password")
        r = pull(store, conf, f"{basic.host}/busybox:1")
        ok(r.failed_with("org.grove.Error.PermissionDenied"), "basic auth, no credentials: "
           "PermissionDenied", r)
        r = pull(store, conf, f"{basic.host}/busybox:1", "alice:s3cret")
        ok(r.rc == 0, "basic auth, credentials of the request: pulled", r)
        auth_file = os.path.join(tmp, "auth.json")
        with open(auth_file, "w") as f:
            json.dump({"auths": {basic.host: {
                "auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
        conf = env.conf(f"[registries]\nauth_file = {auth_file}\n" + insecure(basic.host))
        r = pull(env.store(), conf, f"{basic.host}/multilayer:1")
        ok(r.rc == 0, "basic auth from auth_file (auth.json format): pulled", r)


def test_bearer(env, reg, tmp):
    with gr.Registry(tmp, name="bearer", token=("bob", "t0ken"), storage=reg.storage) as bearer:
        store = env.store()
        conf = env.conf(insecure(bearer.host))
        r = pull(store, conf, f"{bearer.host}/busybox:1", "bob:t0ken")
        ok(r.rc == 0 and bearer.token_server.requests >= 1,
           "bearer: token from the token service, pulled", r)
        r = pull(env.store(), conf, f"{bearer.host}/busybox:1", "bob:nope")
        ok(r.failed_with("org.grove.Error.PermissionDenied"),
           "bearer, wrong password: PermissionDenied", r)


def test_mirror(env, reg, tmp):
    with gr.Registry(tmp, name="mirror", storage=reg.storage) as mirror:
        conf = env.conf(f"[registry.{reg.host}]\ninsecure = true\nmirrors = {mirror.host}\n"
                        + insecure(mirror.host))
        origin_before = len(reg.requests("manifests"))
        r = pull(env.store(), conf, f"{reg.host}/busybox:1")
        ok(r.rc == 0 and len(mirror.requests("manifests")) >= 1
           and len(reg.requests("manifests")) == origin_before
           and r.image["names"] == [f"{reg.host}/busybox:1"],
           "mirror tried first: it serves, the origin is not asked, the name is the origin's",
           r)
        mirror.stop()
        r = pull(env.store(), conf, f"{reg.host}/busybox:1")
        ok(r.rc == 0 and len(reg.requests("manifests")) > origin_before,
           "mirror down: the origin serves", r)
    lacking = gr.StallingProxy(reg, layers="missing")
    try:
        conf = env.conf(f"[registry.{reg.host}]\ninsecure = true\nmirrors = {lacking.host}\n"
                        + insecure(lacking.host))
        r = pull(env.store(), conf, f"{reg.host}/multilayer:1")
        ok(r.rc == 0 and lacking.manifests_served >= 1 and lacking.layers_refused == 3
           and r.image["names"] == [f"{reg.host}/multilayer:1"],
           "a mirror that lacks the layers: it serves the manifest, the origin the 3 layers",
           f"{r}\nmanifests {lacking.manifests_served}, refused {lacking.layers_refused}")
    finally:
        lacking.stop()


def test_corrupt(env, reg, layouts):
    store = env.store()
    layer = gr.layer_digests(layouts["extra-corrupt"])[1]
    path = reg.blob_path(layer)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xff]))
    before = listed(store) if os.path.exists(store) else []
    r = pull(store, env.conf(insecure(reg.host)), f"{reg.host}/extra-corrupt:1")
    ok(r.failed_with("org.grove.Error.DigestMismatch") and layer in r.error,
       "corrupted blob: DigestMismatch naming the layer", r)
    check_clean(store, before, "corrupted blob")


def pull_until(store, conf, ref, stop_when):
    """runs a pull, calls stop_when(fields) on each progress line until it says True"""
    proc = subprocess.Popen([TOOL, "pull", store, conf, ref, ""], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out = []
    acted = False
    for line in proc.stdout:
        out.append(line)
        fields = line.split()
        if not acted and fields and fields[0] == "progress" and stop_when(fields):
            acted = True
    err = proc.stderr.read()
    proc.wait()
    return Result(proc.returncode, "".join(out), err, 0), acted


def test_killed(env, reg, layouts):
    store = env.store()
    conf = env.conf("[registries]\nmax_concurrent_downloads = 1\n" + insecure(reg.host))
    base, big = gr.layer_digests(layouts["big"])

    def kill(fields):
        if int(fields[3]) >= 1 and int(fields[1]) < int(fields[2]):
            reg.proc.send_signal(signal.SIGKILL)
            return True
        return False

    r, acted = pull_until(store, conf, f"{reg.host}/big:1", kill)
    ok(acted and r.failed_with("org.grove.Error.Unavailable") and reg.host in r.error,
       "registry killed mid-pull: Unavailable naming it", r)
    check_clean(store, [], "registry killed")
    reg.proc.wait()
    reg.start()
    before = len(reg.blob_gets())
    r = pull(store, conf, f"{reg.host}/big:1")
    fetched = reg.blob_gets()[before:]
    ok(r.rc == 0 and big in fetched and base not in fetched,
       "retry completes, downloading only the layer that had not completed",
       f"{r}\nfetched {fetched}")


def test_stall(env, tmp):
    stall = gr.StallServer()
    try:
        store = env.store()
        conf = env.conf("[registries]\nstall_timeout = 2\n" + insecure(stall.host))
        r = pull(store, conf, f"{stall.host}/busybox:1")
        ok(r.failed_with("org.grove.Error.Unavailable") and "stall timeout" in r.error
           and r.elapsed < 10, f"stalled server: Unavailable after the stall timeout "
           f"({r.elapsed:.1f}s)", r)
    finally:
        stall.stop()


def test_unsupported(env):
    schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    body = json.dumps({"schemaVersion": 1, "name": "old", "tag": "1", "fsLayers": []}).encode()
    canned = gr.CannedServer({"/v2/old/manifests/1": (200, schema1, body)})
    try:
        store = env.store()
        r = pull(store, env.conf(insecure(canned.host)), f"{canned.host}/old:1")
        ok(r.failed_with("org.grove.Error.Unsupported") and schema1 in r.error,
           "schema 1 manifest: Unsupported naming the media type", r)
    finally:
        canned.stop()


def test_cancel(env, reg):
    store = env.store()
    conf = env.conf(insecure(reg.host))
    r = pull(store, conf, f"{reg.host}/big:1", cancel_at=4 << 20)
    ok(r.failed_with("cancelled") and r.elapsed < 30,
       f"cancelled pull stops ({r.elapsed:.1f}s)", r)
    check_clean(store, [], "cancelled")


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root")
        return 0
    tmp = tempfile.mkdtemp(prefix="grove-pull-",
                           dir=os.environ.get("GROVE_TEST_TMPBASE", "/var/tmp"))
    env = Env(tmp)
    print(f"1..{PLAN}", flush=True)
    reg = None
    try:
        reg = gr.Registry(tmp)
        kinds = ("busybox", "multilayer", "shared-a", "shared-b", "zstd", "index", "big",
                 "extra-corrupt")
        layouts = {k: gr.build_image(tmp, k) for k in kinds}
        for kind, layout in layouts.items():
            gr.push(layout, f"{reg.host}/{kind}:1")
        ok(True, "registry up, test images pushed")
        store = test_plain(env, reg, layouts)
        test_short_names(env, reg)
        test_by_digest(env, reg, layouts)
        test_index_and_zstd(env, reg, layouts)
        test_shared_layers(env, reg, layouts)
        test_missing_tag(env, reg, store)
        test_tls(env, reg, tmp)
        test_basic(env, reg, tmp)
        test_bearer(env, reg, tmp)
        test_mirror(env, reg, tmp)
        test_corrupt(env, reg, layouts)
        test_stall(env, tmp)
        test_unsupported(env)
        test_cancel(env, reg)
        test_killed(env, reg, layouts)
    finally:
        if reg is not None:
            reg.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if count != PLAN:
        print(f"# planned {PLAN}, ran {count}")
    return 1 if failed or count != PLAN else 0


if __name__ == "__main__":
    sys.exit(main())
