#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""CRI Exec, Attach and PortForward through groved's streaming server, over WebSocket and
SPDY/3.1.

The URLs come from the CRI calls; Debian's python3-websocket connects to them with the
Kubernetes channel protocols (v4 and v5.channel.k8s.io: one byte in front of each message
names the channel). Exit codes arrive in the v4 JSON status, a terminal follows resizes,
an attach detaches leaving the container running, a port is forwarded into the pod's
network namespace, tokens work once, and sessions leave no process behind. Prints TAP.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grove_cri_test as base  # noqa: E402
import spdy_client  # noqa: E402

try:
    import websocket
except ImportError:
    print("1..0 # SKIP needs python3-websocket")
    sys.exit(0)

PLAN = 23
# seconds a streaming URL lasts here: long enough to use it, short enough to wait out
TOKEN_LIFETIME = 3
V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"


def ws_url(url):
    return "ws" + url[len("http"):]


def session(url, protocol=V4, send=(), wait=20):
    """connects, sends (channel, bytes) messages, and collects everything until the server
    closes: ({channel: bytes}, status JSON or None)"""
    ws = websocket.create_connection(ws_url(url), subprotocols=[protocol], timeout=wait)
    for channel, data in send:
        ws.send_binary(bytes([channel]) + data)
    out = {}
    while True:
        try:
            opcode, data = ws.recv_data()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        if opcode == websocket.ABNF.OPCODE_BINARY and data:
            out[data[0]] = out.get(data[0], b"") + data[1:]
    ws.close()
    status = json.loads(out[3]) if 3 in out else None
    return out, status


def exec_url(cri, cid, cmd, **streams):
    request = {"container_id": cid, "cmd": cmd, "stdout": True, "stderr": True}
    request.update(streams)
    response, error = cri("RuntimeService/Exec", request)
    return response["url"] if response else None, error


def container_pids(cid):
    """the processes in the container's cgroup (pids controller)"""
    pids = set()
    for root, _, files in os.walk("/sys/fs/cgroup/pids"):
        if os.path.basename(root) == "grove-" + cid and "cgroup.procs" in files:
            with open(os.path.join(root, "cgroup.procs")) as f:
                pids |= {int(line) for line in f if line.strip()}
    return pids


def exec_tests(cri, cid):
    url, error = exec_url(cri, cid, ["sh", "-c", "echo hi; echo oops >&2"])
    ok = base.ok
    ok(url is not None and url.startswith("http://127.0.0.1:") and "/exec/" in url,
       "Exec returns a URL of the streaming server", url or error)
    out, status = session(url)
    ok(out.get(1) == b"hi\n" and out.get(2) == b"oops\n" and status == {
        "metadata": {}, "status": "Success"}, "exec over v4: stdout, stderr, status Success",
       (out, status))
    url, _ = exec_url(cri, cid, ["sh", "-c", "exit 3"])
    _, status = session(url)
    ok(status is not None and status["status"] == "Failure"
       and status["reason"] == "NonZeroExitCode"
       and status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}],
       "exec with a non-zero exit: the real exit code in the status", status)
    url, _ = exec_url(cri, cid, ["cat"], stdin=True)
    out, status = session(url, V5, send=[(0, b"hello\nworld"), (255, b"\x00")])
    ok(out.get(1) == b"hello\nworld" and status["status"] == "Success",
       "exec over v5: stdin echoed by cat, closed with [255, 0]", (out, status))
    url, _ = exec_url(cri, cid, ["sh", "-c", "read x; stty size; read y; stty size; exit 4"],
                      stdin=True, tty=True, stderr=False)
    ws = websocket.create_connection(ws_url(url), subprotocols=[V5], timeout=20)
    out = {}
    for width, height in ((80, 30), (100, 40)):
        ws.send_binary(b"\x04" + json.dumps({"Width": width, "Height": height}).encode())
        ws.send_binary(b"\x00\n")
        while f"{height} {width}\r\n".encode() not in out.get(1, b""):
            opcode, data = ws.recv_data()
            if opcode != websocket.ABNF.OPCODE_BINARY:
                break
            out[data[0]] = out.get(data[0], b"") + data[1:]
    while True:
        opcode, data = ws.recv_data()
        if opcode != websocket.ABNF.OPCODE_BINARY:
            break
        out[data[0]] = out.get(data[0], b"") + data[1:]
    ws.close()
    status = json.loads(out[3]) if 3 in out else {}
    text = out.get(1, b"").decode(errors="replace")
    ok("30 80\r\n" in text and "40 100\r\n" in text and 2 not in out
       and status.get("details", {}).get("causes", [{}])[0].get("message") == "4",
       "exec with a terminal: resizes reach stty, one output stream, exit code 4",
       (out, status))
    _, error = cri("RuntimeService/Exec", {"container_id": cid, "cmd": ["true"], "tty": True,
                                           "stdout": True, "stderr": True})
    ok(error is not None and error[0] == "INVALID_ARGUMENT" and "tty" in error[1],
       "Exec with a terminal and stderr: INVALID_ARGUMENT", error)


def token_tests(cri, cid):
    url, _ = exec_url(cri, cid, ["true"])
    session(url)
    refused = []
    for bad in (url, url[:-4] + "AAAA", url.replace("/exec/", "/attach/")):
        try:
            websocket.create_connection(ws_url(bad), subprotocols=[V4], timeout=10).close()
            refused.append(False)
        except websocket.WebSocketBadStatusException as error:
            refused.append(error.status_code == 404)
    url, _ = exec_url(cri, cid, ["true"])
    time.sleep(TOKEN_LIFETIME + 0.5)
    try:
        websocket.create_connection(ws_url(url), subprotocols=[V4], timeout=10).close()
        refused.append(False)
    except websocket.WebSocketBadStatusException as error:
        refused.append(error.status_code == 404)
    base.ok(refused == [True, True, True, True],
            "a used token, an unknown one, one of another kind, an expired one: 404", refused)


def attach_tests(cri, pod_id, tmp):
    created, error = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": base.container_config("ticker", "while true; do echo tick; sleep 0.2; done"),
        "sandbox_config": base.pod_config(tmp, "web")})
    cid = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": cid})
    response, error = cri("RuntimeService/Attach", {"container_id": cid, "stdout": True,
                                                    "stderr": True})
    ws = websocket.create_connection(ws_url(response["url"]), subprotocols=[V4], timeout=10)
    got = b""
    deadline = time.time() + 10
    while b"tick\ntick\n" not in got and time.time() < deadline:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_BINARY and data[:1] == b"\x01":
            got += data[1:]
    ws.close()
    time.sleep(0.5)
    status = base.wait_state(cri, cid, "CONTAINER_RUNNING", 5)
    base.ok(b"tick\ntick\n" in got and status is not None,
            "attach: the container's output streams; detaching leaves it running",
            (got, status))
    cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 0})
    cri("RuntimeService/RemoveContainer", {"container_id": cid})


def port_forward_tests(cri, pod_id, tmp):
    created, _ = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": base.container_config(
            "web", "mkdir /www; echo grove-page > /www/index.html; exec httpd -f -p 8080 -h /www"),
        "sandbox_config": base.pod_config(tmp, "web")})
    cid = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": cid})
    time.sleep(0.5)
    response, error = cri("RuntimeService/PortForward", {"pod_sandbox_id": pod_id,
                                                         "port": [8080]})
    out, _ = session(response["url"], V4, send=[(0, b"GET / HTTP/1.0\r\n\r\n")])
    base.ok(out.get(0, b"")[:2] == (8080).to_bytes(2, "little")
            and out.get(1, b"")[:2] == (8080).to_bytes(2, "little")
            and b"grove-page" in out.get(0, b""),
            "port-forward: each channel names its port, the pod's httpd answers", out)
    response, _ = cri("RuntimeService/PortForward", {"pod_sandbox_id": pod_id, "port": [9]})
    out, _ = session(response["url"], V4)
    base.ok(b"refused" in out.get(1, b"").lower(),
            "port-forward to a closed port: the error channel says so", out)
    cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 0})
    cri("RuntimeService/RemoveContainer", {"container_id": cid})


def spdy_tests(cri, pod_id, cid, tmp):
    url, _ = exec_url(cri, cid, ["sh", "-c", "echo hi; echo oops >&2; exit 7"])
    out, err, status = spdy_client.exec_session(url)
    base.ok(out == b"hi\n" and err == b"oops\n" and status.get("reason") == "NonZeroExitCode"
            and status["details"]["causes"][0]["message"] == "7",
            "SPDY exec: stdout and stderr streams, exit code 7 in the v4 status",
            (out, err, status))
    url, _ = exec_url(cri, cid, ["cat"], stdin=True)
    out, err, status = spdy_client.exec_session(url, stdin_bytes=b"through spdy\n" * 10000)
    base.ok(out == b"through spdy\n" * 10000 and status.get("status") == "Success",
            "SPDY exec: 130 KB through stdin and back (flow control), Success",
            (len(out), status))
    url, _ = exec_url(cri, cid, ["sh", "-c", "sleep 0.5; stty size"], stdin=True, tty=True,
                      stderr=False)
    out, err, status = spdy_client.exec_session(url, stdin_bytes=b"", tty=True,
                                                resize=(91, 24))
    base.ok(b"24 91" in out and status.get("status") == "Success",
            "SPDY exec with a terminal: the resize stream sets its size", (out, status))
    created, _ = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": base.container_config(
            "web2", "mkdir /www; echo spdy-page > /www/index.html; exec httpd -f -p 8081 -h /www"),
        "sandbox_config": base.pod_config(tmp, "web")})
    web = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": web})
    time.sleep(0.5)
    created, _ = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id,
        "config": base.container_config(
            "reader", "echo ready; while read line; do echo got:$line; done; exit 9",
            stdin=True, stdin_once=True),
        "sandbox_config": base.pod_config(tmp, "web")})
    reader = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": reader})
    response, _ = cri("RuntimeService/Attach", {"container_id": reader, "stdin": True,
                                                "stdout": True, "stderr": True})
    out, err, status = spdy_client.exec_session(response["url"], stdin_bytes=b"one\ntwo\n")
    exited = base.wait_state(cri, reader, "CONTAINER_EXITED", 10)
    base.ok(b"got:one\ngot:two\n" in out and exited is not None
            and exited.get("exit_code") == 9,
            "SPDY attach: stdin reaches the container, its output comes back, and the end of "
            "stdin ends a stdin_once container", (out, err, status, exited))
    cri("RuntimeService/StopContainer", {"container_id": reader, "timeout": 0})
    cri("RuntimeService/RemoveContainer", {"container_id": reader})
    response, _ = cri("RuntimeService/PortForward", {"pod_sandbox_id": pod_id, "port": [8081]})
    reply = spdy_client.port_forward(response["url"], 8081, b"GET / HTTP/1.0\r\n\r\n")
    base.ok(b"spdy-page" in reply, "SPDY port-forward: the pod's httpd answers", reply)
    cri("RuntimeService/StopContainer", {"container_id": web, "timeout": 0})
    cri("RuntimeService/RemoveContainer", {"container_id": web})


def goes_away_tests(cri, pod_id, tmp):
    created, _ = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id, "config": base.container_config("victim", "exec sleep 300"),
        "sandbox_config": base.pod_config(tmp, "web")})
    cid = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": cid})
    before = container_pids(cid)
    url, _ = exec_url(cri, cid, ["sleep", "1000"])
    ws = websocket.create_connection(ws_url(url), subprotocols=[V4], timeout=20)
    deadline = time.time() + 10
    while not container_pids(cid) - before and time.time() < deadline:
        time.sleep(0.05)
    cri("RuntimeService/StopContainer", {"container_id": cid, "timeout": 0})
    out = {}
    while True:
        opcode, data = ws.recv_data()
        if opcode != websocket.ABNF.OPCODE_BINARY:
            break
        out[data[0]] = out.get(data[0], b"") + data[1:]
    ws.close()
    status = json.loads(out[3]) if 3 in out else {}
    base.ok(status.get("status") == "Failure"
            and status.get("details", {}).get("causes", [{}])[0].get("message") == "137"
            and not container_pids(cid),
            "a container stopped under an exec session: the session ends with exit code 137, "
            "nothing left in the container", (status, container_pids(cid)))
    cri("RuntimeService/RemoveContainer", {"container_id": cid})


def groved_fds(daemon):
    return len(os.listdir(f"/proc/{daemon.groved.pid}/fd"))


def load_tests(cri, cid, daemon):
    fds_before = groved_fds(daemon)
    before = container_pids(cid)
    results = [None] * 20

    def one(i):
        url, _ = exec_url(cri, cid, ["sh", "-c", f"sleep 0.3; echo {i}"])
        results[i] = session(url)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    base.ok(all(r is not None and r[0].get(1) == f"{i}\n".encode()
                and r[1]["status"] == "Success" for i, r in enumerate(results)),
            "20 concurrent exec sessions each get their own output and status", results)
    url, _ = exec_url(cri, cid, ["sleep", "1000"])
    ws = websocket.create_connection(ws_url(url), subprotocols=[V4], timeout=10)
    deadline = time.time() + 10
    while len(container_pids(cid) - before) == 0 and time.time() < deadline:
        time.sleep(0.05)
    started = container_pids(cid) - before
    ws.close()
    deadline = time.time() + 10
    while container_pids(cid) - before and time.time() < deadline:
        time.sleep(0.05)
    base.ok(len(started) == 1 and not container_pids(cid) - before,
            "a client that disconnects takes its exec'd process along; nothing is left",
            (started, container_pids(cid) - before))
    deadline = time.time() + 10
    while groved_fds(daemon) > fds_before and time.time() < deadline:
        time.sleep(0.1)
    base.ok(groved_fds(daemon) <= fds_before,
            "after 21 sessions groved holds no more file descriptors than before",
            (fds_before, groved_fds(daemon)))


def body(daemon, api, tmp):
    cri = base.Cri(api, daemon.socket)
    pod, _ = cri("RuntimeService/RunPodSandbox", {"config": base.pod_config(tmp, "web")})
    pod_id = pod["pod_sandbox_id"]
    created, _ = cri("RuntimeService/CreateContainer", {
        "pod_sandbox_id": pod_id, "config": base.container_config("sh", "exec sleep 300"),
        "sandbox_config": base.pod_config(tmp, "web")})
    cid = created["container_id"]
    cri("RuntimeService/StartContainer", {"container_id": cid})
    exec_tests(cri, cid)
    token_tests(cri, cid)
    attach_tests(cri, pod_id, tmp)
    port_forward_tests(cri, pod_id, tmp)
    spdy_tests(cri, pod_id, cid, tmp)
    goes_away_tests(cri, pod_id, tmp)
    load_tests(cri, cid, daemon)
    cri("RuntimeService/StopPodSandbox", {"pod_sandbox_id": pod_id})
    _, error = cri("RuntimeService/RemovePodSandbox", {"pod_sandbox_id": pod_id})
    base.ok(error is None, "the pod goes", error)


if __name__ == "__main__":
    sys.exit(base.run(PLAN, "cri-streaming", body,
                      f"[cri]\nstream_token_lifetime = {TOKEN_LIFETIME}\n"))
