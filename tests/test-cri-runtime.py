#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The CRI RuntimeService's pods and containers, end to end, as kubelet drives them.

groved runs on a private bus with a CRI socket; a busybox image is imported with
grovectl; then pods and containers go through their whole life over gRPC (messages
generated from Grove's api.proto at test time), with GetContainerEvents streamed on the
side. Real conmon, runc and cgroups throughout. Prints TAP; needs root and python3 with
grpcio. Leaves no process, mount or directory behind.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("G_TEST_SRCDIR", os.path.dirname(os.path.abspath(__file__))))
import grove_cri_test as t  # noqa: E402
from grove_cri_test import ok, Cri, Events, wait_state, pod_config, container_config  # noqa: E402,E501

PLAN = 31


def lifecycle(cri, events, tmp):
    pod, error = cri("RuntimeService/RunPodSandbox", {"config": pod_config(tmp, "web")})
    ok(pod is not None, "RunPodSandbox", error)
    pod_id = pod["pod_sandbox_id"] if pod else ""
    status, error = cri("RuntimeService/PodSandboxStatus",
                        {"pod_sandbox_id": pod_id[:12], "verbose": True})
    s = status["status"] if status else {}
    ok(s.get("state", "SANDBOX_READY") == "SANDBOX_READY" and s["metadata"]["name"] == "web"
       and s["metadata"]["attempt"] == 1 and s["labels"] == {"app": "web", "tier": "test"}
       and s["annotations"] == {"note": "from the CRI test"} and s["id"] == pod_id
       and s["runtime_handler"] == "runc" and int(s["created_at"]) > 0
       and json.loads(status["info"]["info"])["id"] == pod_id,
       "PodSandboxStatus by ID prefix: ready, metadata, labels, annotations, verbose info",
       status or error)
    listed, _ = cri("RuntimeService/ListPodSandbox",
                    {"filter": {"label_selector": {"app": "web"}}})
    not_ready, _ = cri("RuntimeService/ListPodSandbox",
                       {"filter": {"state": {"state": "SANDBOX_NOTREADY"}}})
    ok([p["id"] for p in listed.get("items", [])] == [pod_id] and not not_ready.get("items"),
       "ListPodSandbox filters by label and state", (listed, not_ready))

    created, error = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": container_config("app", "echo hello from cri; exec sleep 300"),
        "sandbox_config": pod_config(tmp, "web")})
    ok(created is not None, "CreateContainer", error)
    cid = created["container_id"] if created else ""
    ok(events.wait_for(cid, "CONTAINER_CREATED_EVENT") is not None,
       "GetContainerEvents: a created event", events.events)
    status = wait_state(cri, cid, "CONTAINER_CREATED", 5)
    ok(status is not None and status["metadata"]["name"] == "app"
       and status["image"]["image"] == "busybox" and status["image_ref"].startswith("sha256:")
       and status["log_path"].endswith("/logs/web/app.log"),
       "ContainerStatus of a created container", status)

    _, error = cri("RuntimeService/StartContainer", {"container_id": cid})
    status = wait_state(cri, cid, "CONTAINER_RUNNING")
    started = events.wait_for(cid, "CONTAINER_STARTED_EVENT")
    ok(error is None and status is not None and int(status["started_at"]) > 0,
       "StartContainer: running", error or status)
    ok(started is not None and started["pod_sandbox_status"]["id"] == pod_id
       and any(c["id"] == cid for c in started["containers_statuses"]),
       "GetContainerEvents: a started event with the pod's and containers' statuses", started)
    return pod_id, cid


def exec_and_logs(cri, tmp, cid):
    out, error = cri("RuntimeService/ExecSync",
                     {"container_id": cid, "cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"],
                      "timeout": 10})
    ok(out is not None and out.get("exit_code") == 3
       and out.get("stdout") == "b3V0Cg==" and out.get("stderr") == "ZXJyCg==",
       "ExecSync: stdout, stderr and the exit code", out or error)
    start = time.time()
    _, error = cri("RuntimeService/ExecSync",
                   {"container_id": cid, "cmd": ["sleep", "30"], "timeout": 1})
    took = time.time() - start
    ok(error is not None and error[0] == "DEADLINE_EXCEEDED" and took < 10,
       f"ExecSync past its timeout: DEADLINE_EXCEEDED after {took:.1f} s, the process killed",
       error)
    log = os.path.join(tmp, "logs", "web", "app.log")
    deadline = time.time() + 10
    while time.time() < deadline and not (os.path.exists(log)
                                          and "hello from cri" in open(log).read()):
        time.sleep(0.1)
    ok(os.path.exists(log) and " stdout F hello from cri" in open(log).read(),
       "the container's log is in the pod's log directory, in the CRI format")
    os.rename(log, log + ".1")
    _, error = cri("RuntimeService/ReopenContainerLog", {"container_id": cid})
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(log):
        time.sleep(0.1)
    ok(error is None and os.path.exists(log), "ReopenContainerLog opens a new log file", error)


def stats(cri, pod_id, cid):
    response, error = cri("RuntimeService/ContainerStats", {"container_id": cid})
    s = response["stats"] if response else {}
    ok(response is not None and s["attributes"]["id"] == cid
       and int(s["cpu"]["usage_core_nano_seconds"]["value"]) > 0
       and int(s["memory"]["working_set_bytes"]["value"]) > 0
       and int(s["writable_layer"]["inodes_used"]["value"]) >= 1,
       "ContainerStats: CPU, memory working set, writable layer", response or error)
    listed, _ = cri("RuntimeService/ListContainerStats", {"filter": {"pod_sandbox_id": pod_id}})
    ok(listed is not None and [x["attributes"]["id"] for x in listed["stats"]] == [cid],
       "ListContainerStats by pod", listed)
    time.sleep(0.2)
    pod, error = cri("RuntimeService/PodSandboxStats", {"pod_sandbox_id": pod_id})
    p = pod["stats"] if pod else {}
    ok(pod is not None and p["attributes"]["id"] == pod_id
       and [c["attributes"]["id"] for c in p["linux"]["containers"]] == [cid]
       and int(p["linux"]["memory"]["working_set_bytes"]["value"])
       >= int(p["linux"]["containers"][0]["memory"]["working_set_bytes"]["value"]) > 0
       and int(p["linux"]["process"]["process_count"]["value"]) >= 2,
       "PodSandboxStats: the pod's containers and its totals", pod or error)
    every, _ = cri("RuntimeService/ListPodSandboxStats", {})
    ok(every is not None and [x["attributes"]["id"] for x in every["stats"]] == [pod_id],
       "ListPodSandboxStats", every)


def resources(cri, cid):
    _, error = cri("RuntimeService/UpdateContainerResources",
                   {"container_id": cid, "linux": {"memory_limit_in_bytes": 67108864,
                                                   "cpu_quota": 20000, "cpu_period": 100000}})
    status = wait_state(cri, cid, "CONTAINER_RUNNING")
    res = status.get("resources", {}).get("linux", {}) if status else {}
    ok(error is None and res.get("memory_limit_in_bytes") == "67108864"
       and res.get("cpu_quota") == "20000",
       "UpdateContainerResources, read back in ContainerStatus", error or status)


def stop_and_remove(cri, events, pod_id, cid):
    _, error = cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 1})
    status = wait_state(cri, cid, "CONTAINER_EXITED", 5)
    ok(error is None and status is not None and status.get("exit_code") in (137, 143)
       and events.wait_for(cid, "CONTAINER_STOPPED_EVENT") is not None,
       "StopContainer: exited, with a stopped event", error or status)
    _, again = cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 1})
    ok(again is None, "StopContainer again succeeds", again)
    listed, _ = cri("RuntimeService/ListContainers",
                    {"filter": {"state": {"state": "CONTAINER_EXITED"},
                                "label_selector": {"role": "app"}}})
    ok(listed is not None and [c["id"] for c in listed.get("containers", [])] == [cid],
       "ListContainers filters by state and label", listed)
    _, error = cri("RuntimeService/RemoveContainer", {"container_id": cid})
    _, again = cri("RuntimeService/RemoveContainer", {"container_id": cid})
    _, gone = cri("RuntimeService/ContainerStatus", {"container_id": cid})
    ok(error is None and again is None and gone is not None and gone[0] == "NOT_FOUND"
       and events.wait_for(cid, "CONTAINER_DELETED_EVENT") is not None,
       "RemoveContainer twice; then NOT_FOUND, and a deleted event", (error, again, gone))


def oom(cri, pod_id, tmp):
    created, error = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": container_config("hog", "exec tail /dev/zero",
                                   linux={"resources": {"memory_limit_in_bytes": 16777216}}),
        "sandbox_config": pod_config(tmp, "web")})
    cid = created["container_id"] if created else ""
    cri("RuntimeService/StartContainer", {"container_id": cid})
    status = wait_state(cri, cid, "CONTAINER_EXITED", 30)
    ok(status is not None and status.get("reason") == "OOMKilled"
       and status.get("exit_code") == 137,
       "a container over its memory limit: OOMKilled, exit code 137", status or error)
    cri("RuntimeService/RemoveContainer", {"container_id": cid})


def pod_end(cri, pod_id):
    _, error = cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    status, _ = cri("RuntimeService/PodSandboxStatus", {"pod_sandbox_id": pod_id})
    _, again = cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    ok(error is None and again is None and status["status"]["state"] == "SANDBOX_NOTREADY",
       "StopPodSandbox twice: not ready", (error, again, status))
    _, error = cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})
    _, again = cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})
    _, gone = cri("RuntimeService/PodSandboxStatus", {"pod_sandbox_id": pod_id})
    ok(error is None and again is None and gone is not None and gone[0] == "NOT_FOUND",
       "RemovePodSandbox twice; then NOT_FOUND", (error, again, gone))


def errors(cri):
    checks = [
        ("RuntimeService/RunPodSandbox", {}, "INVALID_ARGUMENT", "config is required"),
        ("RuntimeService/CreateContainer",
         {"pod_sandbox_id": "no-such-pod", "config": container_config("x", "true")},
         "NOT_FOUND", "no-such-pod"),
        ("RuntimeService/StartContainer", {"container_id": "no-such-container"}, "NOT_FOUND",
         "no-such-container"),
        ("RuntimeService/ContainerStats", {"container_id": "nope"}, "NOT_FOUND", "nope"),
        ("RuntimeService/ExecSync", {"container_id": "nope", "cmd": []}, "INVALID_ARGUMENT",
         "cmd is required"),
        ("RuntimeService/StopContainer", {"container_id": "", "timeout": 1}, "INVALID_ARGUMENT",
         "container_id is required"),
    ]
    results = [(method, cri(method, request)[1], code, text)
               for method, request, code, text in checks]
    bad = [(m, e, c, t) for m, e, c, t in results
           if e is None or e[0] != c or t not in e[1]]
    ok(not bad, "bad requests get INVALID_ARGUMENT or NOT_FOUND naming what is wrong", bad)


def user_namespaces(cri, tmp):
    status, error = cri("RuntimeService/Status", {})
    features = {h["name"]: h.get("features", {}).get("user_namespaces", False)
                for h in (status or {}).get("runtime_handlers", [])}
    ok("runc" in features and all(features.values()),
       "Status: user namespaces a feature of every handler (probed at start)", status or error)
    # a userns pod's processes reach the state dirs below @tmp as an unmapped user
    path = tmp
    while path != "/":
        os.chmod(path, os.stat(path).st_mode & 0o7777 | 0o111)
        path = os.path.dirname(path)
    mapping = [{"container_id": 0, "host_id": 200000, "length": 65536}]
    config = pod_config(tmp, "userns")
    config["linux"] = {"security_context": {"namespace_options": {
        "userns_options": {"mode": "POD", "uids": mapping, "gids": mapping}}}}
    pod, pod_error = cri("RuntimeService/RunPodSandbox", {"config": config})
    pod_id = pod["pod_sandbox_id"] if pod else ""
    created, error = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id, "config": container_config("app", "exec sleep 300"),
        "sandbox_config": config}) if pod else (None, pod_error)
    cid = created["container_id"] if created else ""
    cri("RuntimeService/StartContainer", {"container_id": cid})
    out, error = cri("RuntimeService/ExecSync",
                     {"container_id": cid, "timeout": 10,
                      "cmd": ["sh", "-c", "id -u; tr -s ' ' < /proc/self/uid_map"]})
    ok(out is not None and out.get("stdout") == "MAogMCAyMDAwMDAgNjU1MzYK",
       "a pod with userns_options POD: ExecSync's id -u is 0, uid_map 0 200000 65536",
       out or pod_error or error)
    cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})
    config = pod_config(tmp, "bad-userns")
    config["linux"] = {"security_context": {"namespace_options": {"userns_options": {
        "mode": "POD", "uids": [{"container_id": 1, "host_id": 200000, "length": 10}],
        "gids": mapping}}}}
    _, error = cri("RuntimeService/RunPodSandbox", {"config": config})
    ok(error is not None and error[0] == "INVALID_ARGUMENT" and "is not mapped" in error[1],
       "mappings without the pod's root: INVALID_ARGUMENT", error)


def body(daemon, api, tmp):
    cri = Cri(api, daemon.socket)
    events = Events(api, daemon.socket)
    pod_id, cid = lifecycle(cri, events, tmp)
    exec_and_logs(cri, tmp, cid)
    stats(cri, pod_id, cid)
    resources(cri, cid)
    stop_and_remove(cri, events, pod_id, cid)
    oom(cri, pod_id, tmp)
    pod_end(cri, pod_id)
    errors(cri)
    user_namespaces(cri, tmp)


if __name__ == "__main__":
    sys.exit(t.run(PLAN, "cri-runtime", body))
