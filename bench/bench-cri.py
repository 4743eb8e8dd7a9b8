#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`make bench-cri`: groved's CRI, each figure beside a peer measured in the same run.

  1. the Version round trip over the socket (python3-grpcio client), p50 and p99;
  2. RunPodSandbox + CreateContainer + StartContainer of a busybox container, per handler
     (crun, runc): --pods one after the other, then the same number in rounds of
     --parallel at once; beside the floor, `runtime create` + `runtime start` of an
     infra-like bundle and a container bundle made beforehand (as bench-runtime does).

groved runs on a bus of its own with a CRI socket; every pod is removed after it is
measured. Timings never fail the run; only something that breaks gives a non-zero exit.
Needs root.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

VERSION_TARGET_MS = 0.3
START_TARGET_MS = 180.0
CONTAINERD_P50_MS = 361.0
BUSYBOX = "/bin/busybox"


def percentile(samples, p):
    """the nearest-rank percentile, as bench-util.c computes it"""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = int(p * len(ordered) + 0.999999)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def verdict(met):
    return "met" if met else "MISSED"


def load(when):
    with open("/proc/loadavg") as f:
        print(f"  load average {when}: {f.read().strip()}")


class Bench:
    def __init__(self, args, t):
        self.args = args
        self.t = t
        self.workdir = tempfile.mkdtemp(prefix="grove-bench-cri-", dir=args.workdir)
        self.cgroup_parent = f"/grove-bench-cri-{os.getpid()}"
        self.daemon = None
        self.cri = None
        self.floor_live = []

    # ---- groved ----

    def start(self):
        self.t.BUILD = self.args.builddir
        handler = f"[handler.crun]\npath = {self.args.runtime_exec}\nargs = crun\n"
        self.daemon = self.t.Daemon(self.workdir, handler, self.cgroup_parent)
        if not os.path.exists(self.daemon.socket):
            raise RuntimeError("groved did not serve the CRI: "
                               + open(os.path.join(self.workdir, "groved.log")).read())
        imported = self.daemon.import_busybox()
        if imported.returncode != 0:
            raise RuntimeError(f"importing busybox: {imported.stderr}")
        self.api = self.daemon.load_api()
        self.cri = self.t.Cri(self.api, self.daemon.socket)

    def call(self, method, request):
        response, error = self.cri(method, request)
        if error is not None:
            raise RuntimeError(f"{method}: {error[0]}: {error[1]}")
        return response

    def remove_pod(self, pod_id):
        self.call("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
        self.call("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})

    def remove_every_pod(self):
        for pod in self.call("RuntimeService/ListPodSandbox", {}).get("items", []):
            self.remove_pod(pod["id"])

    # ---- 1. Version ----

    def version(self):
        grpc = self.t.grpc
        channel = grpc.insecure_channel("unix://" + self.daemon.socket)
        stub = channel.unary_unary("/runtime.v1.RuntimeService/Version",
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        request = self.api.VersionRequest(version="v1").SerializeToString()
        for _ in range(200):
            stub(request, timeout=10)
        samples = []
        for _ in range(self.args.calls):
            start = time.perf_counter()
            stub(request, timeout=10)
            samples.append((time.perf_counter() - start) * 1000)
        channel.close()
        p50 = percentile(samples, 0.5)
        print(f"\n== 1. CRI Version round trip, {self.args.calls} calls (python3-grpcio) ==")
        print(f"  p50 {p50:.3f} ms, p99 {percentile(samples, 0.99):.3f} ms; "
              f"target p50 < {VERSION_TARGET_MS} ms {verdict(p50 < VERSION_TARGET_MS)}")
        return p50

    # ---- 2. pod + container ----

    def pod_config(self, name):
        return {"metadata": {"name": name, "namespace": "bench", "uid": f"uid-{name}"},
                "log_directory": os.path.join(self.workdir, "logs", name)}

    def start_one(self, handler, name):
        """RunPodSandbox + CreateContainer + StartContainer: (pod ID, ms)"""
        cri = self.t.Cri(self.api, self.daemon.socket)
        start = time.perf_counter()
        pod, error = cri("RuntimeService/RunPodSandbox",
                         {"config": self.pod_config(name), "runtime_handler": handler})
        if error is None:
            created, error = cri("RuntimeService/CreateContainer", {
                "pod_sandbox_id": pod["pod_sandbox_id"],
                "config": {"metadata": {"name": "sleeper"}, "image": {"image": "busybox"},
                           "command": ["sleep", "1000"], "log_path": "sleeper.log"},
                "sandbox_config": self.pod_config(name)})
        if error is None:
            _, error = cri("RuntimeService/StartContainer",
                           {"container_id": created["container_id"]})
        took = (time.perf_counter() - start) * 1000
        if error is not None:
            raise RuntimeError(f"starting pod {name} with {handler}: {error[0]}: {error[1]}")
        return pod["pod_sandbox_id"], took

    def sequential(self, handler):
        self.remove_pod(self.start_one(handler, f"warm-{handler}")[0])
        samples = []
        for i in range(self.args.pods):
            pod_id, took = self.start_one(handler, f"seq-{handler}-{i}")
            samples.append(took)
            self.remove_pod(pod_id)
        return samples

    def parallel(self, handler):
        samples, rounds = [], []
        n = self.args.parallel
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            for r in range((self.args.pods + n - 1) // n):
                start = time.perf_counter()
                done = list(pool.map(lambda i: self.start_one(handler, f"par-{handler}-{r}-{i}"),
                                     range(n)))
                rounds.append((time.perf_counter() - start) * 1000)
                samples += [took for _, took in done]
                for pod_id, _ in done:
                    self.remove_pod(pod_id)
        return samples, rounds

    # ---- the floor: the OCI runtime alone ----

    def make_rootfs(self):
        rootfs = os.path.join(self.workdir, "floor", "rootfs")
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(rootfs, d))
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        for applet in ("sh", "sleep"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        return rootfs

    def floor_command(self, prefix, root, *args):
        log = os.path.join(self.workdir, "floor.log")
        with open(log, "w") as f:
            # never a pipe: `create` hands its stdio to the container, which keeps it open
            done = subprocess.run([*prefix, "--root", root, *args], stdout=f, stderr=f)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(prefix)} {' '.join(args)}: {open(log).read()}")

    def write_bundle(self, bundle, rootfs, cgroup):
        os.makedirs(bundle)
        subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
        path = os.path.join(bundle, "config.json")
        with open(path) as f:
            config = json.load(f)
        config["process"]["terminal"] = False
        config["process"]["args"] = ["sleep", "1000"]
        config["root"] = {"path": rootfs, "readonly": False}
        config["linux"]["cgroupsPath"] = f"{self.cgroup_parent}/{cgroup}"
        with open(path, "w") as f:
            json.dump(config, f)

    def floor(self, name, prefix, rootfs, reps):
        root = os.path.join(self.workdir, "floor", f"state-{name}")
        bundles = [os.path.join(self.workdir, "floor", f"{name}-{role}") for role in
                   ("infra", "ctr")]
        for bundle, role in zip(bundles, ("infra", "ctr")):
            self.write_bundle(bundle, rootfs, f"floor-{name}-{role}")
        samples = []
        for rep in range(reps + 1):
            start = time.perf_counter()
            for i, bundle in enumerate(bundles):
                cid = f"floor-{name}-{rep}-{i}"
                self.floor_command(prefix, root, "create", "--bundle", bundle, cid)
                self.floor_live.append((prefix, root, cid))
                self.floor_command(prefix, root, "start", cid)
            if rep > 0:  # the first warms the caches
                samples.append((time.perf_counter() - start) * 1000)
            self.floor_delete()
        return samples

    def floor_delete(self):
        while self.floor_live:
            prefix, root, cid = self.floor_live.pop()
            self.floor_command(prefix, root, "delete", "--force", cid)

    # ---- cleanup ----

    def cleanup(self):
        problems = []
        for step in (self.floor_delete, self.remove_every_pod if self.cri else None):
            try:
                if step:
                    step()
            except Exception as error:  # noqa: BLE001: each step is tried
                problems.append(str(error))
        if self.daemon:
            self.daemon.stop()
        time.sleep(0.2)
        left = self.t.remove_dirs(self.workdir, self.cgroup_parent)
        return problems + [f"cgroup left: {c}" for c in left]


def report_starts(name, seq, par, rounds, floor):
    seq50, par50 = percentile(seq, 0.5), percentile(par, 0.5)
    floor50, round50 = percentile(floor, 0.5), percentile(rounds, 0.5)
    print(f"  {name}: one after the other p50 {seq50:.1f} ms, p90 {percentile(seq, 0.9):.1f} ms;"
          f" floor p50 {floor50:.1f} ms; ratio {seq50 / floor50:.2f}")
    print(f"  {name}: {len(rounds)} rounds of {len(par) // len(rounds)} at once: per pod p50 "
          f"{par50:.1f} ms, p90 {percentile(par, 0.9):.1f} ms; a round p50 {round50:.1f} ms = "
          f"{round50 / seq50:.1f}x one alone")
    return seq50, round50


def run(bench):
    args = bench.args
    print(f"grove CRI benchmark: {bench.workdir}, kernel {os.uname().release}, "
          f"{os.cpu_count()} CPUs, cgroup parent {bench.cgroup_parent}")
    bench.start()
    bench.version()
    rootfs = bench.make_rootfs()
    handlers = [("crun", [args.runtime_exec, "crun"]), ("runc", ["runc"])]
    if shutil.which("crun") is None:
        print("note: crun is missing: runc only")
        handlers = handlers[1:]
    print(f"\n== 2. RunPodSandbox + CreateContainer + StartContainer (busybox), {args.pods} pods"
          f" per handler; floor: runtime create + start of two prepared bundles ==")
    load("before")
    figures = {}
    for name, prefix in handlers:
        floor = bench.floor(name, prefix, rootfs, args.floor_reps)
        seq = bench.sequential(name)
        par, rounds = bench.parallel(name)
        figures[name] = report_starts(name, seq, par, rounds, floor)
    load("after")
    if "crun" in figures:
        seq50, round50 = figures["crun"]
        print(f"  target: crun p50 < {START_TARGET_MS:.0f} ms {verdict(seq50 < START_TARGET_MS)}"
              f" ({seq50:.1f} ms; containerd 1.6 + runc {CONTAINERD_P50_MS:.0f} ms earlier: "
              f"{seq50 / CONTAINERD_P50_MS:.2f} of it)")
        print(f"  target: {args.parallel} at once well under {args.parallel}x one "
              f"(under {args.parallel / 2:.0f}x) {verdict(round50 < seq50 * args.parallel / 2)}"
              f" ({round50 / seq50:.1f}x with {os.cpu_count()} CPUs)")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builddir", required=True)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--runtime-exec", required=True, help="grove-runtime-exec (runs crun)")
    parser.add_argument("--workdir", default="/var/tmp")
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--calls", type=int, default=2000, help="Version calls")
    parser.add_argument("--floor-reps", type=int, default=20)
    args = parser.parse_args()
    # groved wants absolute paths in its config; make runs this from the build directory
    for name in ("builddir", "srcdir", "runtime_exec", "workdir"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print("bench-cri: needs root", file=sys.stderr)
        return 1
    sys.path.insert(0, os.path.join(args.srcdir, "tests"))
    import grove_cri_test as t
    try:
        t.grpc = __import__("grpc")
        t.cri_client = __import__("cri-client")
    except ImportError as error:
        print(f"bench-cri: needs python3-grpcio and python3-grpc-tools: {error}", file=sys.stderr)
        return 1
    bench = Bench(args, t)
    failure = None
    try:
        run(bench)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        failure = error
    problems = bench.cleanup()
    for problem in problems:
        print(f"bench-cri: cleanup: {problem}", file=sys.stderr)
    if failure is not None:
        print(f"bench-cri: {failure}", file=sys.stderr)
    return 1 if failure is not None or problems else 0


if __name__ == "__main__":
    sys.exit(main())
