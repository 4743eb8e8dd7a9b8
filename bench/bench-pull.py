#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`make bench-pull`: groved's registry pull, beside skopeo + umoci in the same run.

  1. a 5-layer image of about 300 MB (each layer gzip, part random bytes that do not
     compress, part text that does, in many files of spread sizes) pulled from a loopback
     docker-registry by CRI PullImage into groved's store, the pull measured from request
     to reply; the reference is `skopeo copy docker://... oci:DIR` then
     `umoci raw unpack` of it, timed in the same run from the same warm registry;
  2. a second image sharing its first 4 layers: what each side moves and takes (Grove
     downloads only the new layer: the registry's log and groved's progress totals say
     how many bytes).

Every pull starts from an empty store and an empty OCI dir. Grove's store commits
durably (ostree syncs the filesystem); the reference does not, so its time is also shown
with a `sync` after it. Timings never fail the run; only something that breaks gives a
non-zero exit. Everything is built in --workdir and removed afterwards. Needs root.
"""

import argparse
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

TARGET_RATIO = 0.7
LAYERS = 5
SHARED = 4


def median(samples):
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] if ordered else 0.0


def verdict(met):
    return "met" if met else "MISSED"


def mb(n):
    return n / 1e6


def command(argv):
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")


class Builder:
    """the layers of the two images, written as one OCI layout with tags 1 and 2"""

    def __init__(self, mkimage, layout, layer_bytes, files):
        self.mkimage = mkimage
        self.layout = layout
        self.layer_bytes = layer_bytes
        self.files = files
        self.blob_dir = os.path.join(layout, "blobs", "sha256")
        os.makedirs(self.blob_dir, exist_ok=True)

    def layer_tar(self, path, seed):
        """random bytes (60%) and text (40%) in `files` files under layer-SEED/"""
        rng = random.Random(seed)
        sizes = self.mkimage.big_sizes(self.files, self.layer_bytes, rng)
        text = self.mkimage.family_corpus(max(sizes) + 1, rng)
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            top = tarfile.TarInfo(f"layer-{seed}")
            top.type, top.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(top)
            for i, size in enumerate(sizes):
                info = tarfile.TarInfo(f"layer-{seed}/{i // 100:02d}/f{i:05d}")
                if i % 100 == 0:
                    sub = tarfile.TarInfo(f"layer-{seed}/{i // 100:02d}")
                    sub.type, sub.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(sub)
                data = rng.randbytes(size) if i % 5 < 3 else text[:size]
                info.size, info.mode = size, 0o644
                tar.addfile(info, io.BytesIO(data))

    def layer(self, seed):
        work = tempfile.mkdtemp(prefix=".layer-", dir=os.path.join(self.layout, "blobs"))
        raw = os.path.join(work, "layer.tar")
        self.layer_tar(raw, seed)
        layer = self.mkimage.FileLayer(raw, "gzip", f"bench layer {seed}", work)
        os.unlink(raw)
        return layer, work

    def build(self):
        made = [self.layer(seed) for seed in range(LAYERS + 1)]
        layers = [layer for layer, _ in made]
        first = self.mkimage.Image(layers[:LAYERS])
        second = self.mkimage.Image(layers[:SHARED] + layers[LAYERS:])
        self.mkimage.write_oci_dir(self.layout, first.blobs, first.descriptor("1"), "1")
        blobs = {h: d for h, d in second.blobs.items()
                 if not os.path.exists(os.path.join(self.blob_dir, h))}
        self.mkimage.write_oci_dir(self.layout, blobs, second.descriptor("2"), "2")
        for _, work in made:
            shutil.rmtree(work, ignore_errors=True)
        return first, second


class Bench:
    def __init__(self, args, t, gr):
        self.args = args
        self.t = t
        self.gr = gr
        self.workdir = tempfile.mkdtemp(prefix="grove-bench-pull-", dir=args.workdir)
        self.cgroup_parent = f"/grove-bench-pull-{os.getpid()}"
        self.registry = None
        self.daemon = None

    def sizes(self, image):
        """(compressed, uncompressed) bytes of the image's layers"""
        return (sum(len(layer.blob) for layer in image.layers),
                sum(self.args.layer_bytes for _ in image.layers))

    def prepare(self):
        layout = os.path.join(self.workdir, "layout")
        start = time.monotonic()
        builder = Builder(self.gr.mkimage, layout, self.args.layer_bytes, self.args.files)
        self.images = builder.build()
        self.registry = self.gr.Registry(self.workdir)
        for tag in ("1", "2"):
            self.gr.push(layout, f"{self.registry.host}/bench:{tag}", tag=tag)
        self.layers = {tag: self.gr.layer_digests(layout, tag) for tag in ("1", "2")}
        shutil.rmtree(layout)
        compressed, raw = self.sizes(self.images[0])
        print(f"  image 1: {LAYERS} gzip layers, {mb(compressed):.0f} MB to download, "
              f"{mb(raw):.0f} MB unpacked, {LAYERS * self.args.files} files; built and pushed "
              f"in {time.monotonic() - start:.0f} s")
        # both sides read the blobs from the page cache
        subprocess.run(["cat"] + [self.registry.blob_path(d) for d in self.layers["2"]
                                  + self.layers["1"]], stdout=subprocess.DEVNULL, check=True)

    # ---- Grove ----

    def start_groved(self):
        root = os.path.join(self.workdir, "groved")
        os.makedirs(root)
        config = f"[registry.{self.registry.host}]\ninsecure = true\n"
        self.daemon = self.t.Daemon(root, config, self.cgroup_parent)
        if not os.path.exists(self.daemon.socket):
            raise RuntimeError("groved did not serve the CRI: "
                               + open(os.path.join(root, "groved.log")).read())
        self.cri = self.t.Cri(self.daemon.load_api(), self.daemon.socket)

    def stop_groved(self):
        if self.daemon is not None:
            self.daemon.stop()
            time.sleep(0.2)
            self.t.remove_dirs(self.daemon.tmp, self.cgroup_parent)
            self.daemon = None

    def grove_pull(self, tag):
        """seconds, bytes the registry sent, groved's downloaded/total figures"""
        before = len(self.registry.blob_gets())
        start = time.monotonic()
        reply, error = self.cri("ImageService/PullImage",
                                {"image": {"image": f"{self.registry.host}/bench:{tag}"}},
                                timeout=1800)
        took = time.monotonic() - start
        if error is not None:
            raise RuntimeError(f"PullImage bench:{tag}: {error[0]}: {error[1]}")
        fetched = self.registry.blob_gets()[before:]
        sent = sum(os.path.getsize(self.registry.blob_path(d)) for d in fetched
                   if d in self.layers[tag])
        with open(os.path.join(self.daemon.tmp, "groved.log")) as f:
            found = re.findall(rf"pulled \S+/bench:{tag} as \S+: (\d+) of (\d+) layer bytes",
                               f.read())
        progress = tuple(int(n) for n in found[-1]) if found else (0, 0)
        return took, sent, progress

    # ---- reference ----

    def reference_pull(self, tag, oci, rootfs):
        """seconds of skopeo copy, of umoci raw unpack, of a sync after them"""
        start = time.monotonic()
        command(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                 f"docker://{self.registry.host}/bench:{tag}", f"oci:{oci}:bench"])
        copied = time.monotonic()
        command(["umoci", "raw", "unpack", "--image", f"{oci}:bench", rootfs])
        unpacked = time.monotonic()
        os.sync()
        return copied - start, unpacked - copied, time.monotonic() - unpacked

    def round(self, n):
        """one repetition: both sides pull image 1, then image 2 beside it"""
        ref_dir = os.path.join(self.workdir, f"reference-{n}")
        os.makedirs(ref_dir)
        oci = os.path.join(ref_dir, "oci")
        ref1 = self.reference_pull("1", oci, os.path.join(ref_dir, "rootfs-1"))
        ref2 = self.reference_pull("2", oci, os.path.join(ref_dir, "rootfs-2"))
        shutil.rmtree(ref_dir)
        os.sync()
        self.start_groved()
        try:
            grove1 = self.grove_pull("1")
            grove2 = self.grove_pull("2")
        finally:
            self.stop_groved()
        return ref1, ref2, grove1, grove2

    def cleanup(self):
        problems = []
        try:
            self.stop_groved()
        except Exception as error:  # noqa: BLE001: the rest is cleaned up anyway
            problems.append(str(error))
        if self.registry is not None:
            self.registry.close()
        left = self.t.remove_dirs(self.workdir, self.cgroup_parent)
        return problems + [f"cgroup left: {c}" for c in left]


def report(bench, rounds):
    compressed, raw = bench.sizes(bench.images[0])
    ref_copy = median([r[0][0] for r in rounds])
    ref_unpack = median([r[0][1] for r in rounds])
    ref_sync = median([r[0][2] for r in rounds])
    ref = median([r[0][0] + r[0][1] for r in rounds])
    grove = median([r[2][0] for r in rounds])
    print(f"\n== 1. pull + unpack of image 1 ({LAYERS} layers, {mb(compressed):.0f} MB gzip, "
          f"{mb(raw):.0f} MB unpacked), median of {len(rounds)} ==")
    print(f"  grove (CRI PullImage into the store): {grove:.2f} s, {mb(compressed) / grove:.0f} "
          f"MB/s downloaded, {mb(raw) / grove:.0f} MB/s unpacked")
    print(f"  reference skopeo copy + umoci raw unpack: {ref:.2f} s (copy {ref_copy:.2f} s, "
          f"unpack {ref_unpack:.2f} s), {mb(compressed) / ref:.0f} MB/s; with a sync after it "
          f"{ref + ref_sync:.2f} s")
    print(f"  ratio grove / reference: {grove / ref:.2f} (with its sync: "
          f"{grove / (ref + ref_sync):.2f})")
    print(f"  target: at most {TARGET_RATIO}x the reference {verdict(grove / ref <= TARGET_RATIO)}")
    new_layer = os.path.getsize(bench.registry.blob_path(bench.layers["2"][-1]))
    grove2 = median([r[3][0] for r in rounds])
    sent = median([r[3][1] for r in rounds])
    done, total = rounds[-1][3][2]
    ref2 = median([r[1][0] + r[1][1] for r in rounds])
    ref2_copy = median([r[1][0] for r in rounds])
    print(f"\n== 2. image 2, sharing {SHARED} of its {LAYERS} layers with image 1 ==")
    print(f"  grove: {grove2:.2f} s; the registry sent {mb(sent):.1f} MB of layers (the new layer "
          f"is {mb(new_layer):.1f} MB); groved's progress: {mb(done):.1f} of {mb(total):.1f} MB")
    print(f"  reference: {ref2:.2f} s (copy {ref2_copy:.2f} s into the same OCI dir, then a full "
          f"unpack)")
    print(f"  target: only the new layer moves {verdict(sent == new_layer and total == new_layer)}")


def run(bench):
    args = bench.args
    print(f"grove pull benchmark: {bench.workdir}, kernel {os.uname().release}, "
          f"{os.cpu_count()} CPUs")
    bench.prepare()
    rounds = [bench.round(n) for n in range(args.repetitions)]
    report(bench, rounds)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builddir", required=True)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--workdir", default="/var/tmp")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--layer-bytes", type=int, default=60 * 1000 * 1000)
    parser.add_argument("--files", type=int, default=1500, help="files per layer")
    args = parser.parse_args()
    for name in ("builddir", "srcdir", "workdir"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    return args


def import_helpers(srcdir):
    """the test helpers groved and the registries come from; ImportError without grpcio"""
    sys.path.insert(0, os.path.join(srcdir, "tests"))
    import grove_cri_test as t
    import grove_registry as gr
    t.grpc = __import__("grpc")
    t.cri_client = __import__("cri-client")
    return t, gr


def main():
    args = parse_args()
    missing = [tool for tool in ("docker-registry", "skopeo", "umoci") if not shutil.which(tool)]
    if os.geteuid() != 0 or missing:
        print(f"bench-pull: needs root and {', '.join(missing) or 'nothing else'}",
              file=sys.stderr)
        return 1
    try:
        t, gr = import_helpers(args.srcdir)
    except ImportError as error:
        print(f"bench-pull: needs python3-grpcio and grpc_tools: {error}", file=sys.stderr)
        return 1
    t.BUILD = args.builddir
    bench = Bench(args, t, gr)
    messages = []
    try:
        run(bench)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        messages.append(str(error))
    finally:
        messages += [f"cleanup: {problem}" for problem in bench.cleanup()]
    for message in messages:
        print(f"bench-pull: {message}", file=sys.stderr)
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
