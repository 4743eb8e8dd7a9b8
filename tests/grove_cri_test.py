# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the Python CRI tests share: TAP output, a private dbus-daemon with groved serving
the CRI, a client calling any RPC by name, the GetContainerEvents stream collected in the
background, and pod and container configs for busybox.

A test calls setup() first: it prints the TAP skip line and exits when grpcio, the
generated messages or root are missing.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.environ.get("G_TEST_BUILDDIR", HERE), "..")
SRC = os.environ.get("G_TEST_SRCDIR", HERE)

grpc = None
cri_client = None
count = 0
failed = False


def setup():
    """imports grpc and the client, or skips the whole test"""
    global grpc, cri_client
    try:
        import grpc as grpc_module
        sys.path.insert(0, SRC)
        cri_client = __import__("cri-client")
        grpc = grpc_module
    except ImportError:
        print("1..0 # SKIP needs python3 with grpcio and grpc_tools")
        sys.exit(0)
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root")
        sys.exit(0)


def ok(condition, what, detail=""):
    global count, failed
    count += 1
    if condition:
        print(f"ok {count} - {what}", flush=True)
    else:
        failed = True
        print(f"not ok {count} - {what}", flush=True)
        for line in str(detail).splitlines():
            print(f"# {line}", flush=True)


def exit_status(plan):
    if count != plan:
        print(f"# planned {plan}, ran {count}")
    return 1 if failed or count != plan else 0


def run(plan, name, body, config=""):
    """the whole test: groved up (with @config added to its grove.conf), busybox imported,
    body (daemon, api, tmp), groved down; three checks of its own. Returns the exit status"""
    setup()
    base = os.environ.get("GROVE_TEST_TMPBASE", "/var/tmp")
    tmp = tempfile.mkdtemp(prefix=f"grove-{name}-", dir=base)
    daemon = Daemon(tmp, config)
    print(f"1..{plan}", flush=True)
    try:
        ok(os.path.exists(daemon.socket), "groved serves the CRI",
           open(os.path.join(tmp, "groved.log")).read())
        imported = daemon.import_busybox()
        ok(imported.returncode == 0, "busybox imported over D-Bus", imported.stderr)
        body(daemon, daemon.load_api(), tmp)
        daemon.stop()
        ok(daemon.groved.returncode == 0 and not os.path.exists(daemon.socket),
           "SIGTERM: groved exits 0 and removes its socket, a GetContainerEvents stream open")
    finally:
        daemon.stop()
        time.sleep(0.2)
        left = remove_dirs(tmp, daemon.cgroup_parent)
        if left:
            print(f"# cgroups left: {left}")
    return exit_status(plan)


def remove_dirs(tmp, cgroup_parent):
    """once groved is gone: unmounts what it left below @tmp (the netns directory it made a
    mount point of its own), removes the cgroups below @cgroup_parent and @tmp"""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for mount in sorted((m for m in mounts if m.startswith(tmp + "/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    left = []
    for hierarchy in ["", *os.listdir("/sys/fs/cgroup")]:
        top = os.path.join("/sys/fs/cgroup", hierarchy, cgroup_parent.lstrip("/"))
        for path, _, _ in sorted(os.walk(top), key=lambda walked: -len(walked[0])):
            try:
                os.rmdir(path)
            except OSError:
                left.append(path)
    shutil.rmtree(tmp, ignore_errors=True)
    return left


class Daemon:
    """a private dbus-daemon and groved serving the CRI on a socket in @tmp"""

    def __init__(self, tmp, config="", cgroup_parent=None):
        self.tmp = tmp
        self.cgroup_parent = cgroup_parent or f"/grove-test-{os.getpid()}"
        self.socket = os.path.join(tmp, "run", "cri.sock")
        self.bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1",
             f"--address=unix:path={tmp}/bus"], stdout=subprocess.PIPE, text=True)
        self.address = self.bus.stdout.readline().strip()
        conf = os.path.join(tmp, "grove.conf")
        with open(conf, "w") as f:
            # no CNI config of the machine's: pods get loopback only
            f.write(f"[runtime]\ncgroup_parent = {self.cgroup_parent}\n"
                    f"[network]\nconf_dir = {tmp}/no-cni\n{config}")
        self.log = open(os.path.join(tmp, "groved.log"), "w")
        self.groved = subprocess.Popen(
            [os.path.join(BUILD, "groved"), "--config", conf, "--bus", self.address,
             "--root", os.path.join(tmp, "root"), "--runroot", os.path.join(tmp, "run"),
             "--pause", os.path.join(BUILD, "grove-pause"), "--cri-socket", self.socket],
            stderr=self.log)
        for _ in range(200):
            if os.path.exists(self.socket) or self.groved.poll() is not None:
                break
            time.sleep(0.05)

    def grovectl(self, *args):
        return subprocess.run([os.path.join(BUILD, "grovectl"), "--bus", self.address, *args],
                              capture_output=True, text=True)

    def import_busybox(self, tag="busybox"):
        """builds a busybox image and imports it over D-Bus; the grovectl result"""
        image = os.path.join(self.tmp, "busybox")
        subprocess.run([sys.executable, os.path.join(SRC, "mkimage.py"), "busybox",
                        "--format", "oci-dir", image], check=True)
        return self.grovectl("image", "import", image, "--tag", tag)

    def load_api(self):
        stubs = os.path.join(self.tmp, "stubs")
        os.makedirs(stubs, exist_ok=True)
        return cri_client.load_api(os.path.join(SRC, "..", "src", "server", "cri", "api.proto"),
                                   stubs)

    def stop(self):
        if self.groved.poll() is None:
            self.groved.send_signal(signal.SIGTERM)
            try:
                self.groved.wait(20)
            except subprocess.TimeoutExpired:
                self.groved.kill()
                self.groved.wait()
        if self.bus.poll() is None:
            self.bus.terminate()
            self.bus.wait()
        if not self.log.closed:
            self.log.close()


class Cri:
    """calls RPCs by name with JSON-like dicts; one channel per instance"""

    def __init__(self, api, socket):
        self.api = api
        self.client = cri_client.Client(api, socket, 60)

    def __call__(self, method, request=None, timeout=None):
        """(response as a dict, None) or (None, (code name, message))"""
        try:
            response = self.call(method, request, timeout)
            return cri_client.json_format.MessageToDict(
                response, preserving_proto_field_name=True), None
        except grpc.RpcError as error:
            return None, (error.code().name, error.details())

    def call(self, method, request=None, timeout=None):
        """the response message; raises grpc.RpcError. Thread-safe: the timeout is per call"""
        path, request_class, response_class = self.client.method(method)
        request = cri_client.json_format.Parse(json.dumps(request or {}), request_class())
        stub = self.client.channel.unary_unary(
            path, request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString)
        return stub(request, timeout=timeout if timeout is not None else 60)


class Events(threading.Thread):
    """GetContainerEvents, collected in the background"""

    def __init__(self, api, socket):
        super().__init__(daemon=True)
        channel = grpc.insecure_channel("unix://" + socket)
        stub = channel.unary_stream("/runtime.v1.RuntimeService/GetContainerEvents",
                                    request_serializer=api.GetEventsRequest.SerializeToString,
                                    response_deserializer=api.ContainerEventResponse.FromString)
        self.stream = stub(api.GetEventsRequest())
        self.events = []
        self.start()

    def run(self):
        try:
            for event in self.stream:
                self.events.append(cri_client.json_format.MessageToDict(
                    event, preserving_proto_field_name=True))
        except grpc.RpcError:
            pass

    def kinds(self, container_id):
        """the event types seen for @container_id, in order"""
        return [e.get("container_event_type", "CONTAINER_CREATED_EVENT") for e in self.events
                if e.get("container_id") == container_id]

    def wait_for(self, container_id, kind, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            for event in self.events:
                if event.get("container_id") == container_id and \
                        event.get("container_event_type", "CONTAINER_CREATED_EVENT") == kind:
                    return event
            time.sleep(0.05)
        return None


def wait_state(cri, container_id, state, seconds=20):
    deadline = time.time() + seconds
    status = None
    while time.time() < deadline:
        status, _ = cri("RuntimeService/ContainerStatus", {"container_id": container_id})
        if status and status["status"].get("state", "CONTAINER_CREATED") == state:
            return status["status"]
        time.sleep(0.1)
    return status["status"] if status else None


def pod_config(tmp, name):
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "attempt": 1},
            "log_directory": os.path.join(tmp, "logs", name),
            "labels": {"app": name, "tier": "test"},
            "annotations": {"note": "from the CRI test"},
            "dns_config": {"servers": ["192.0.2.53"], "searches": ["test.local"]}}


def container_config(name, script, **extra):
    config = {"metadata": {"name": name, "attempt": 0},
              "image": {"image": "busybox"},
              "command": ["/bin/sh", "-c", script],
              "log_path": f"{name}.log",
              "labels": {"role": name}}
    config.update(extra)
    return config
