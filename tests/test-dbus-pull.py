#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pulls over D-Bus: Runtime1.PullImage and StartPull with its Job1, and `grovectl pull`,
from registries on loopback (tests/grove_registry.py): plain HTTP, basic auth, a missing
tag, a bad option, progress on a terminal, Ctrl-C on a stalled pull, and a container run
from the pulled image."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.environ.get("G_TEST_SRCDIR", os.path.dirname(os.path.abspath(__file__))))
import grove_cri_test as t  # noqa: E402
import grove_registry as gr  # noqa: E402
from grove_cri_test import ok  # noqa: E402

PLAN = 23


def gdbus_argv(daemon, path, method, *args, timeout=None):
    limit = ["--timeout", str(timeout)] if timeout is not None else []
    return ["gdbus", "call", "--address", daemon.address, *limit, "--dest",
            "org.grove.Runtime1", "--object-path", path, "--method", method, *args]


def gdbus(daemon, path, method, *args, timeout=None):
    return subprocess.run(gdbus_argv(daemon, path, method, *args, timeout=timeout),
                          capture_output=True, text=True)


def start_pull(daemon, reference):
    """Runtime1.StartPull: the job's object path, and the gdbus result"""
    started = gdbus(daemon, "/org/grove/Runtime1", "org.grove.Runtime1.StartPull", reference,
                    "{}")
    return started.stdout.strip().strip("(),").replace("objectpath ", "").strip("'"), started


def job_property(daemon, job, name):
    got = gdbus(daemon, job, "org.freedesktop.DBus.Properties.Get", "org.grove.Job1", name)
    return got.stdout.strip()


def wait_job(daemon, job, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = job_property(daemon, job, "State")
        if "running" not in state:
            return state
        time.sleep(0.1)
    return "still running"


def busy_store(daemon, proxy):
    """a pull that holds the store while its layer hangs: groved keeps answering, and a
    RemoveImage waits for the store without holding up anything else"""
    job, started = start_pull(daemon, f"{proxy.host}/app/extra-stall:1")
    hung = proxy.stalled.wait(30)
    remove = subprocess.Popen(gdbus_argv(daemon, "/org/grove/Runtime1",
                                         "org.grove.Runtime1.RemoveImage",
                                         f"{daemon.registry_host}/app/shared-a:1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    start = time.monotonic()
    listed = gdbus(daemon, "/org/grove/Runtime1", "org.grove.Runtime1.ListImages", timeout=5)
    took = time.monotonic() - start
    ok(hung and remove.poll() is None and listed.returncode == 0 and took < 2,
       f"a pull stalled inside its layer, a RemoveImage waiting: ListImages answers in "
       f"{took * 1000:.0f} ms", f"{started.stderr} {hung} {remove.poll()} {listed.stderr}")
    gdbus(daemon, job, "org.grove.Job1.Cancel")
    state = wait_job(daemon, job, 30)
    out, err = remove.communicate(timeout=30)
    ok("cancelled" in state and remove.returncode == 0,
       "the pull cancelled, the waiting RemoveImage then done", f"{state} {err}")
    names = daemon.grovectl("image", "ls").stdout
    ok("shared-a" not in names and "extra-stall" not in names,
       "the removed image and the cancelled one are not listed", names)


def tests(registries, stall, proxy):
    plain, basic = registries

    def body(daemon, api, tmp):
        ref = f"{plain.host}/app/busybox:1"
        pulled = daemon.grovectl("pull", ref)
        image_id = pulled.stdout.strip()
        listed = daemon.grovectl("image", "ls")
        ok(pulled.returncode == 0 and len(image_id) == 64 and ref in listed.stdout,
           "grovectl pull: prints the image ID; image ls shows the reference",
           pulled.stderr + listed.stdout)

        ran = daemon.grovectl("run", "--rm", ref, "echo", "pulled and running")
        ok(ran.returncode == 0 and "pulled and running" in ran.stdout,
           "grovectl run: a container from the pulled image", ran.stdout + ran.stderr)

        multi = f"{plain.host}/app/multilayer:1"
        job, started = start_pull(daemon, multi)
        state = wait_job(daemon, job)
        layers = job_property(daemon, job, "Layers")
        operation = job_property(daemon, job, "Operation")
        result = job_property(daemon, job, "Result")
        ok("succeeded" in state and "pull" in operation and layers.count("true") == 3
           and "/org/grove/Runtime1/images/" in result,
           "StartPull: a pull job ends succeeded with 3 layers done and the image as result",
           f"{started.stderr} {state} {operation} {layers} {result}")
        done = job_property(daemon, job, "BytesDone")
        total = job_property(daemon, job, "BytesTotal")
        ok(done == total and done != "<uint64 0>", "the job's BytesDone reached BytesTotal",
           f"{done} {total}")

        direct = gdbus(daemon, "/org/grove/Runtime1", "org.grove.Runtime1.PullImage",
                       f"{plain.host}/app/shared-a:1", "{}")
        ok(direct.returncode == 0 and "/org/grove/Runtime1/images/" in direct.stdout,
           "PullImage: returns the image's object path", direct.stdout + direct.stderr)

        bad = gdbus(daemon, "/org/grove/Runtime1", "org.grove.Runtime1.PullImage", ref,
                    "{'colour': <'blue'>}")
        ok(bad.returncode != 0 and "org.grove.Error.InvalidArgument" in bad.stderr
           and "colour" in bad.stderr, "an unknown option: InvalidArgument naming it",
           bad.stderr)
        typed = gdbus(daemon, "/org/grove/Runtime1", "org.grove.Runtime1.PullImage", ref,
                      "{'username': <42>}")
        ok(typed.returncode != 0 and "org.grove.Error.InvalidArgument" in typed.stderr,
           "an option of the wrong type: InvalidArgument", typed.stderr)

        missing = daemon.grovectl("pull", f"{plain.host}/app/busybox:nope")
        ok(missing.returncode == 1 and "nope" in missing.stderr,
           "grovectl pull of a missing tag: exit 1, the error names the tag", missing.stderr)

        secret = f"{basic.host}/app/busybox:1"
        refused = daemon.grovectl("pull", "--creds", "user:wrong", secret)
        ok(refused.returncode == 1 and refused.stderr.strip() != "",
           "--creds with a wrong password: refused", refused.stderr)
        allowed = daemon.grovectl("pull", "--creds", "user:secret", secret)
        ok(allowed.returncode == 0 and len(allowed.stdout.strip()) == 64,
           "--creds with the right password: pulled", allowed.stderr)
        usage = daemon.grovectl("pull", "--creds", "nocolon", secret)
        ok(usage.returncode == 2, "--creds without a colon: a usage error", usage.stderr)

        short = daemon.grovectl("pull", "app/busybox:1")
        ok(short.returncode == 0 and short.stdout.strip() == image_id,
           "a short name is pulled from the default registry", short.stderr)
        found = daemon.grovectl("run", "--rm", "app/busybox:1", "echo", "short and found")
        ok(found.returncode == 0 and "short and found" in found.stdout,
           "and a container runs from it by that short name", found.stdout + found.stderr)

        # a terminal: script(1) gives grovectl one; each layer ends as a "done" line
        gdbus(daemon, "/org/grove/Runtime1", "org.grove.Runtime1.RemoveImage", multi)
        grovectl = os.path.join(t.BUILD, "grovectl")
        shown = subprocess.run(["script", "-qec", f"{grovectl} --bus {daemon.address} pull "
                                f"{multi}", "/dev/null"], capture_output=True, text=True)
        ok(shown.returncode == 0 and shown.stdout.count("done") >= 3,
           "grovectl pull on a terminal: a line per layer, each ending done", shown.stdout)

        # Ctrl-C on a pull that stalls: the job is cancelled, grovectl exits 130
        proc = subprocess.Popen([grovectl, "--bus", daemon.address, "pull",
                                 f"{stall.host}/app/x:1"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        ok(proc.returncode == 130 and "cancelled" in err,
           "Ctrl-C during a stalled pull: cancelled, exit 130", f"{proc.returncode} {err}")
        names = daemon.grovectl("image", "ls").stdout
        ok(stall.host not in names, "no image is left of the cancelled pull", names)

        daemon.registry_host = plain.host
        busy_store(daemon, proxy)

        # SIGHUP: the registries of the config file as it is now apply to the next pull
        conf = os.path.join(tmp, "grove.conf")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace(f"default_registry = {plain.host}\n", ""))
        daemon.groved.send_signal(signal.SIGHUP)
        time.sleep(1)
        again = daemon.grovectl("pull", "app/busybox:1")
        ok(again.returncode == 1 and "default registry" in again.stderr,
           "SIGHUP: a default_registry taken out of the config no longer serves short names",
           again.stderr)

    return body


def main():
    t.setup()
    workdir = tempfile.mkdtemp(prefix="grove-dbus-pull-", dir="/var/tmp")
    registries = []
    stall = None
    proxy = None
    try:
        plain = gr.Registry(workdir, name="plain")
        registries.append(plain)
        for kind in ("busybox", "multilayer", "shared-a", "extra-stall"):
            gr.push(gr.build_image(workdir, kind), f"{plain.host}/app/{kind}:1")
        basic = gr.Registry(workdir, name="basic", htpasswd=("user", "secret"),
                            storage=plain.storage)
        registries.append(basic)
        stall = gr.StallServer()
        proxy = gr.StallingProxy(plain)
        config = "".join(f"[registry.{r.host}]\ninsecure = true\n"
                         for r in (plain, basic, stall, proxy))
        config += f"[registries]\nstall_timeout = 60\ndefault_registry = {plain.host}\n"
        status = t.run(PLAN, "dbus-pull", tests(registries, stall, proxy), config)
    finally:
        if stall is not None:
            stall.stop()
        if proxy is not None:
            proxy.stop()
        for registry in registries:
            registry.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
