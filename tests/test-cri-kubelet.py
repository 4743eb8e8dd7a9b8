#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""groved's CRI as kubelet uses it, beyond single calls.

A kubelet-like sequence (two containers, PLEG-style polling, stats, a probe, stop, remove)
with the event stream checked for each container's whole life; concurrent RunPodSandbox
calls; a client deadline expiring while the engine works; pods seen from both frontends
(CRI and D-Bus); a message over the size limit; ListMetricDescriptors and
ListPodSandboxMetrics. groved runs on a private bus with a CRI socket, with real conmon,
runc and cgroups. Prints TAP; needs root and python3 with grpcio. Leaves no process,
mount or directory behind.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.environ.get("G_TEST_SRCDIR", os.path.dirname(os.path.abspath(__file__))))
import grove_cri_test as t  # noqa: E402
from grove_cri_test import ok, Cri, Events, wait_state, pod_config, container_config  # noqa: E402,E501

PLAN = 23
LIFE = ["CONTAINER_CREATED_EVENT", "CONTAINER_STARTED_EVENT", "CONTAINER_STOPPED_EVENT",
        "CONTAINER_DELETED_EVENT"]
# exits 0 on SIGTERM, within a fifth of a second
POLITE = "trap 'exit 0' TERM; while :; do sleep 0.2; done"
# ignores SIGTERM: only SIGKILL ends it
STUBBORN = "trap '' TERM; while :; do sleep 0.2; done"


def run_pod(cri, tmp, name):
    pod, error = cri("RuntimeService/RunPodSandbox", {"config": pod_config(tmp, name)})
    return (pod["pod_sandbox_id"] if pod else None), error


def run_container(cri, tmp, pod_id, pod_name, name, script):
    created, error = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id, "config": container_config(name, script),
        "sandbox_config": pod_config(tmp, pod_name)})
    if created is None:
        return None, error
    _, error = cri("RuntimeService/StartContainer", {"container_id": created["container_id"]})
    return created["container_id"], error


def remove_pod(cri, pod_id):
    cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    return cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})[1]


def poll_once(cri, pod_id, ids):
    """one round of kubelet's PLEG and stats loops; what looks wrong, or None"""
    pods, error = cri("RuntimeService/ListPodSandbox", {})
    if error or [p["id"] for p in pods.get("items", []) if p["id"] == pod_id] != [pod_id]:
        return ("ListPodSandbox", pods, error)
    listed, error = cri("RuntimeService/ListContainers", {"filter": {"pod_sandbox_id": pod_id}})
    if error or sorted(c["id"] for c in listed.get("containers", [])) != sorted(ids) \
            or any(c.get("state") != "CONTAINER_RUNNING" for c in listed["containers"]):
        return ("ListContainers", listed, error)
    for cid in ids:
        status, error = cri("RuntimeService/ContainerStatus", {"container_id": cid})
        if error or status["status"].get("state") != "CONTAINER_RUNNING":
            return ("ContainerStatus", status, error)
    stats, error = cri("RuntimeService/ListPodSandboxStats", {"filter": {"id": pod_id}})
    if error or len(stats.get("stats", [])) != 1 or sorted(
            c["attributes"]["id"] for c in stats["stats"][0]["linux"].get("containers", [])) \
            != sorted(ids):
        return ("ListPodSandboxStats", stats, error)
    return None


def kubelet_sequence(cri, events, tmp):
    pod_id, error = run_pod(cri, tmp, "kube")
    ids = []
    for name in ("main", "sidecar"):
        cid, error = run_container(cri, tmp, pod_id, "kube", name, POLITE)
        ids.append(cid)
    running = [wait_state(cri, cid, "CONTAINER_RUNNING") for cid in ids]
    ok(pod_id is not None and None not in ids
       and all(s and s.get("state") == "CONTAINER_RUNNING" for s in running),
       "a pod with two containers started", error or running)
    problems = [poll_once(cri, pod_id, ids) for _ in range(10)]
    ok(problems == [None] * 10,
       "10 rounds of ListPodSandbox, ListContainers, ContainerStatus, ListPodSandboxStats agree",
       [p for p in problems if p])
    probe, error = cri("RuntimeService/ExecSync",
                       {"container_id": ids[0], "cmd": ["sh", "-c", "test -d /proc/1 && echo ok"],
                        "timeout": 5})
    failing, _ = cri("RuntimeService/ExecSync",
                     {"container_id": ids[1], "cmd": ["sh", "-c", "exit 1"], "timeout": 5})
    ok(probe is not None and probe.get("exit_code", 0) == 0 and probe.get("stdout") == "b2sK"
       and failing is not None and failing.get("exit_code") == 1,
       "ExecSync probes: one passes, one fails", (probe, failing, error))
    stopped = []
    for cid in ids:
        _, error = cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 10})
        stopped.append((error, wait_state(cri, cid, "CONTAINER_EXITED", 5)))
    ok(all(e is None and s and s.get("state") == "CONTAINER_EXITED" and s.get("exit_code", 0) == 0
           for e, s in stopped),
       "StopContainer: both end on SIGTERM with exit code 0", stopped)
    removed = [cri("RuntimeService/RemoveContainer", {"container_id": cid})[1] for cid in ids]
    ok(remove_pod(cri, pod_id) is None and removed == [None, None],
       "RemoveContainer, StopPodSandbox, RemovePodSandbox", removed)
    for cid in ids:
        events.wait_for(cid, "CONTAINER_DELETED_EVENT", 10)
    lives = {cid: events.kinds(cid) for cid in ids}
    ok(all(kinds == LIFE for kinds in lives.values()),
       "GetContainerEvents: each container created, started, stopped, deleted, in order", lives)


def concurrent_pods(cri, tmp, socket):
    alone = []
    for i in range(2):
        start = time.monotonic()
        pod_id, error = run_pod(cri, tmp, f"alone{i}")
        alone.append(time.monotonic() - start)
        remove_pod(cri, pod_id)
    one = min(alone)
    barrier = threading.Barrier(8)
    results = [None] * 8

    def worker(i):
        client = Cri(cri.api, socket)  # a channel of its own, as separate clients have
        barrier.wait()
        start = time.monotonic()
        pod_id, error = run_pod(client, tmp, f"many{i}")
        results[i] = (pod_id, error, start, time.monotonic())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [r[0] for r in results]
    total = max(r[3] for r in results) - min(r[2] for r in results)
    overlap = max(r[2] for r in results) < min(r[3] for r in results)
    first = min(r[3] for r in results) - min(r[2] for r in results)
    ok(None not in ids and len(set(ids)) == 8,
       "8 concurrent RunPodSandbox calls: all succeed, 8 distinct IDs",
       [r[1] for r in results])
    # one pod start keeps about two CPUs busy (runc, conmon): with few CPUs 8 cannot finish
    # much sooner than 8 one after another, but served together they all progress at once
    # and the first finishes late; served one by one, the first would finish in about one's time
    ok(overlap and (total < 5 * one or first > 2 * one),
       f"they run together: 8 pods in {total * 1000:.0f} ms ({total / one:.1f}x one alone, "
       f"{one * 1000:.0f} ms), the first done after {first * 1000:.0f} ms "
       f"({os.cpu_count()} CPUs)", results)
    errors = [remove_pod(cri, pod_id) for pod_id in ids if pod_id]
    ok(errors == [None] * 8 and not cri("RuntimeService/ListPodSandbox", {})[0].get("items"),
       "the 8 pods removed", errors)


def pod_burst(cri, tmp, socket, n=40):
    """more pods at once than GTask's pool has threads: the engine's workers block on
    runc and conmon, and must not starve GIO of the threads its own async calls need"""
    results = [None] * n

    def worker(i):
        client = Cri(cri.api, socket)
        results[i] = run_pod(client, tmp, f"burst{i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - start
    ids = [r[0] for r in results if r and r[0]]
    errors = [r[1] for r in results if r and r[1]]
    ok(len(set(ids)) == n, f"{n} RunPodSandbox calls at once: all done in {took:.1f} s", errors)
    for pod_id in ids:
        remove_pod(cri, pod_id)


def deadline(cri, tmp):
    pod_id, _ = run_pod(cri, tmp, "slow")
    cid, error = run_container(cri, tmp, pod_id, "slow", "stubborn", STUBBORN)
    wait_state(cri, cid, "CONTAINER_RUNNING")
    start = time.monotonic()
    _, error = cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 4},
                   timeout=1)
    took = time.monotonic() - start
    version, verror = cri("RuntimeService/Version", {})
    ok(error is not None and error[0] == "DEADLINE_EXCEEDED" and took < 3
       and version is not None and version.get("runtime_name") == "grove",
       f"StopContainer past the client's 1 s deadline: DEADLINE_EXCEEDED after {took:.1f} s; "
       "groved keeps serving", (error, verror))
    # the stop's own timeout (4 s) has passed: had the work gone on, SIGKILL would have come
    time.sleep(max(0, start + 6 - time.monotonic()))
    status = wait_state(cri, cid, "CONTAINER_RUNNING", 1)
    ok(status is not None and status.get("state") == "CONTAINER_RUNNING",
       "the deadline cancelled the stop behind it: no SIGKILL, the container still runs",
       status)
    _, error = cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 0})
    status = wait_state(cri, cid, "CONTAINER_EXITED", 5)
    ok(error is None and status is not None and status.get("exit_code") == 137,
       "a new StopContainer (timeout 0) kills it", error or status)
    remove_pod(cri, pod_id)


def both_frontends(cri, daemon, tmp):
    pod_id, error = run_pod(cri, tmp, "from-cri")
    listed = daemon.grovectl("-o", "json", "pod", "ls")
    ok(pod_id is not None and listed.returncode == 0 and pod_id in listed.stdout
       and "from-cri" in listed.stdout,
       "a pod run over the CRI is listed over D-Bus (grovectl pod ls)",
       (error, listed.stdout, listed.stderr))
    config = os.path.join(tmp, "dbus-pod.json")
    with open(config, "w") as f:
        json.dump({"metadata": {"name": "from-dbus", "namespace": "default", "uid": "u-dbus"},
                   "labels": {"via": "dbus"}, "logDirectory": os.path.join(tmp, "logs")}, f)
    ran = daemon.grovectl("pod", "run", config)
    dbus_id = ran.stdout.strip()
    pods, error = cri("RuntimeService/ListPodSandbox",
                      {"filter": {"label_selector": {"via": "dbus"}}})
    items = pods.get("items", []) if pods else []
    ok(ran.returncode == 0 and [(p["id"], p["metadata"]["name"]) for p in items]
       == [(dbus_id, "from-dbus")] and items[0].get("state", "SANDBOX_READY") == "SANDBOX_READY",
       "a pod run over D-Bus (grovectl pod run) is listed over the CRI, ready",
       (ran.stderr, pods, error))
    ok(remove_pod(cri, dbus_id) is None and remove_pod(cri, pod_id) is None
       and "from-" not in daemon.grovectl("pod", "ls").stdout,
       "both removed over the CRI; D-Bus sees them gone")


def huge_message(cri):
    name = "x" * (20 * 1024 * 1024)
    _, error = cri("RuntimeService/Version", {"version": name})
    version, verror = cri("RuntimeService/Version", {})
    ok(error is not None and error[0] == "RESOURCE_EXHAUSTED" and version is not None,
       "a 20 MiB request: RESOURCE_EXHAUSTED, and groved keeps serving", (error, verror))


def metric_values(response, kind, owner_id, name):
    """the metrics named @name of a pod (kind "pod") or a container, by its ID"""
    for pod in response.get("pod_metrics", []):
        if kind == "pod" and pod["pod_sandbox_id"] == owner_id:
            return [m for m in pod.get("metrics", []) if m["name"] == name]
        for container in pod.get("container_metrics", []):
            if kind == "container" and container["container_id"] == owner_id:
                return [m for m in container.get("metrics", []) if m["name"] == name]
    return []


def value(metrics):
    return int(metrics[0].get("value", {}).get("value", 0)) if metrics else -1


def check_labels(response, keys):
    """metrics whose name is not described or whose label values do not match the keys"""
    bad = []
    now = time.time()
    for pod in response.get("pod_metrics", []):
        every = list(pod.get("metrics", []))
        for container in pod.get("container_metrics", []):
            every += container.get("metrics", [])
        for m in every:
            if m["name"] not in keys or len(m.get("label_values", [])) != len(keys[m["name"]]) \
                    or abs(int(m.get("timestamp", 0)) / 1e9 - now) > 60:
                bad.append(m)
    return bad


def metrics(cri, tmp):
    described, error = cri("RuntimeService/ListMetricDescriptors", {})
    keys = {d["name"]: d.get("label_keys", []) for d in (described or {}).get("descriptors", [])}
    wanted = {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
              "container_memory_rss", "container_memory_usage_bytes", "container_fs_usage_bytes",
              "container_fs_inodes_total", "container_fs_inodes_free", "container_processes",
              "container_network_receive_bytes_total", "container_network_transmit_bytes_total"}
    ok(described is not None and wanted <= set(keys)
       and all(k[:3] == ["id", "name", "image"] and not {"namespace", "pod", "container"} & set(k)
               for k in keys.values()),
       "ListMetricDescriptors: cAdvisor's names, label keys id, name, image first and none of "
       "those kubelet adds", described or error)
    pod_id, _ = run_pod(cri, tmp, "metered")
    busy, e1 = run_container(cri, tmp, pod_id, "metered", "busy", "while :; do :; done")
    idle, e2 = run_container(cri, tmp, pod_id, "metered", "idle", POLITE)
    wait_state(cri, busy, "CONTAINER_RUNNING")
    wait_state(cri, idle, "CONTAINER_RUNNING")
    first, error = cri("RuntimeService/ListPodSandboxMetrics", {})
    cpu = metric_values(first or {}, "container", busy, "container_cpu_usage_seconds_total")
    working_set = metric_values(first or {}, "container", idle,
                                "container_memory_working_set_bytes")
    processes = metric_values(first or {}, "container", idle, "container_processes")
    inodes = metric_values(first or {}, "container", idle, "container_fs_inodes_total")
    free = metric_values(first or {}, "container", idle, "container_fs_inodes_free")
    pod_memory = metric_values(first or {}, "pod", pod_id, "container_memory_usage_bytes")
    ok(first is not None and not check_labels(first, keys)
       and [p["pod_sandbox_id"] for p in first.get("pod_metrics", [])] == [pod_id]
       and cpu and cpu[0]["label_values"] == [busy, "busy", "busybox", "total"]
       and cpu[0].get("metric_type", "COUNTER") == "COUNTER"
       and working_set[0].get("metric_type") == "GAUGE" and value(working_set) > 0
       and value(processes) >= 2 and value(inodes) > value(free) > 0 and value(pod_memory) > 0,
       "ListPodSandboxMetrics: every pod and container, described names, one label value a key, "
       "recent timestamps, plausible values", first or error)
    deadline = time.time() + 15
    later = value(cpu)
    while time.time() < deadline and later <= value(cpu):
        time.sleep(0.5)
        again, _ = cri("RuntimeService/ListPodSandboxMetrics", {})
        later = value(metric_values(again or {}, "container", busy,
                                    "container_cpu_usage_seconds_total"))
    ok(value(cpu) >= 0 and later > value(cpu),
       f"the busy container's CPU counter grows: {value(cpu)} s, then {later} s", (e1, e2))
    remove_pod(cri, pod_id)


def body(daemon, api, tmp):
    cri = Cri(api, daemon.socket)
    events = Events(api, daemon.socket)
    kubelet_sequence(cri, events, tmp)
    concurrent_pods(cri, tmp, daemon.socket)
    pod_burst(cri, tmp, daemon.socket)
    deadline(cri, tmp)
    both_frontends(cri, daemon, tmp)
    huge_message(cri)
    metrics(cri, tmp)


if __name__ == "__main__":
    sys.exit(t.run(PLAN, "cri-kubelet", body))
