#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Build container images for Grove's tests at test time.

Every image is assembled from Debian's busybox-static binary, so nothing binary is
committed. Output is deterministic: the same arguments give byte-identical blobs.

Subcommands (OUT is a directory for oci-dir, a file otherwise):
  busybox       one busybox layer (applets are hardlinks to bin/busybox)
  multilayer    three layers exercising whiteouts, opaque dirs, type changes and metadata
  hostile       a one-layer image whose layer (or one digest) is malicious
  multiplatform an image index with one image per platform
  biglayer      a plain layer tar with many pseudo-random files (benchmarks)
  bigimage      the same layer wrapped as an oci-dir image
  family        several one-layer images rebuilt from one base (benchmarks)

An oci-dir OUT that already holds a layout is extended: blobs are added and the tag is
(re)pointed at the new manifest, so variant images can share one layout.
Default tags: "latest" for OCI layouts, "grove-test:latest" for docker archives.
"""

import argparse
import functools
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

BUSYBOX = "/bin/busybox"
EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
REF_NAME = "org.opencontainers.image.ref.name"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
)
GROUP = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n"

HOSTILE_CASES = (
    "dotdot",
    "absolute",
    "symlink-dir-write",
    "symlink-relative-write",
    "hardlink-escape",
    "hardlink-missing",
    "setid-device",
    "truncated",
    "bad-layer-digest",
    "bad-diffid",
    "bad-config-digest",
    "bad-size",
)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def dump_json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class LayerBuilder:
    """An uncompressed, deterministic PAX layer tar built in memory."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _add(self, name, kind, mode, uid=0, gid=0, data=None, linkname="", xattrs=None):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid = uid
        info.gid = gid
        info.uname = ""
        info.gname = ""
        info.mtime = 0
        info.linkname = linkname
        if xattrs:
            info.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
        if data is not None:
            info.size = len(data)
            self.tar.addfile(info, io.BytesIO(data))
        else:
            self.tar.addfile(info)
        return info

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self._add(name, tarfile.DIRTYPE, mode, uid, gid)

    def file(self, name, data, mode=0o644, uid=0, gid=0, xattrs=None):
        if isinstance(data, str):
            data = data.encode()
        self._add(name, tarfile.REGTYPE, mode, uid, gid, data=data, xattrs=xattrs)

    def hardlink(self, name, target, mode=0o644, uid=0, gid=0):
        self._add(name, tarfile.LNKTYPE, mode, uid, gid, linkname=target)

    def symlink(self, name, target):
        self._add(name, tarfile.SYMTYPE, 0o777, linkname=target)

    def chardev(self, name, major, minor, mode=0o666):
        info = tarfile.TarInfo(name)
        info.type = tarfile.CHRTYPE
        info.mode = mode
        info.devmajor = major
        info.devminor = minor
        info.uname = info.gname = ""
        info.mtime = 0
        self.tar.addfile(info)

    def fifo(self, name, mode=0o644):
        self._add(name, tarfile.FIFOTYPE, mode)

    def finish(self):
        self.tar.close()
        return self.buf.getvalue()


@functools.cache
def busybox_applets():
    out = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    return tuple(sorted(set(out.stdout.split()) - {"busybox"}))


def add_busybox_tree(lb):
    """The base tree every image shares: busybox, its applets, passwd and group."""
    for name, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555),
                       ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777), ("var", 0o755)):
        lb.dir(name, mode)
    with open(BUSYBOX, "rb") as f:
        lb.file("bin/busybox", f.read(), 0o755)
    for applet in busybox_applets():
        lb.hardlink("bin/" + applet, "bin/busybox", 0o755)
    lb.file("etc/passwd", PASSWD)
    lb.file("etc/group", GROUP)


def parse_extra(items):
    extras = []
    for item in items or []:
        path, sep, text = item.partition("=")
        if not sep or not path.strip("/"):
            raise SystemExit(f"mkimage: --extra wants PATH=TEXT, got {item!r}")
        extras.append((path.strip("/"), text))
    return extras


def parse_binaries(items):
    """--binary DEST=HOSTFILE: a host file copied in as an executable."""
    binaries = []
    for item in items or []:
        path, sep, source = item.partition("=")
        if not sep or not path.strip("/") or not source:
            raise SystemExit(f"mkimage: --binary wants DEST=HOSTFILE, got {item!r}")
        with open(source, "rb") as f:
            binaries.append((path.strip("/"), f.read(), 0o755))
    return binaries


def add_extras(lb, extras, known_dirs):
    for path, data, *mode in extras:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in known_dirs:
                lb.dir(parent)
                known_dirs.add(parent)
        lb.file(path, data, *mode)


BASE_DIRS = {"bin", "dev", "etc", "proc", "root", "sys", "tmp", "var"}


def compress(raw, compression):
    if compression == "none":
        return raw
    if compression == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0)
    if compression == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, check=True,
                              capture_output=True).stdout
    raise SystemExit(f"mkimage: unknown compression {compression!r}")


class Layer:
    def __init__(self, raw, compression, comment):
        self.raw = raw
        self.diff_id = "sha256:" + sha256_hex(raw)
        self.blob = compress(raw, compression)
        self.hex = sha256_hex(self.blob)
        self.media_type = MT_LAYER[compression]
        self.comment = comment


class Image:
    """Blobs and descriptors of one image; `defect` plants one hostile digest error."""

    def __init__(self, layers, arch="amd64", variant=None, defect=None, user=None):
        self.layers = layers
        self.arch = arch
        self.variant = variant
        self.user = user
        self.blobs = {}
        diff_ids = [layer.diff_id for layer in layers]
        if defect == "bad-diffid":
            diff_ids[-1] = flip_hex(diff_ids[-1])
        self.config = self._config(diff_ids)
        self.config_hex = sha256_hex(self.config)
        if defect == "bad-config-digest":
            self.config_hex = sha256_hex(b"this is not the config")
        self.blobs[self.config_hex] = self.config
        self.layer_hexes = []
        layer_descs = []
        for i, layer in enumerate(layers):
            hexd, size = layer.hex, len(layer.blob)
            if i == len(layers) - 1 and defect == "bad-layer-digest":
                hexd = sha256_hex(b"this is not the layer")
            if i == len(layers) - 1 and defect == "bad-size":
                size += 1
            self.blobs[hexd] = layer.blob
            self.layer_hexes.append(hexd)
            layer_descs.append({"mediaType": layer.media_type, "digest": "sha256:" + hexd,
                                "size": size})
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": "sha256:" + self.config_hex,
                       "size": len(self.config)},
            "layers": layer_descs,
        }
        self.manifest = dump_json(manifest)
        self.manifest_hex = sha256_hex(self.manifest)
        self.blobs[self.manifest_hex] = self.manifest

    def _config(self, diff_ids):
        config = {"created": EPOCH, "architecture": self.arch, "os": "linux"}
        if self.variant:
            config["variant"] = self.variant
        config["config"] = {"Env": [DEFAULT_PATH], "Cmd": ["sh"]}
        if self.user:
            config["config"]["User"] = self.user
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config["history"] = [{"created": EPOCH, "created_by": f"grove mkimage: {layer.comment}"}
                             for layer in self.layers]
        return dump_json(config)

    def platform(self):
        platform = {"architecture": self.arch, "os": "linux"}
        if self.variant:
            platform["variant"] = self.variant
        return platform

    def descriptor(self, tag=None, with_platform=True):
        desc = {"mediaType": MT_MANIFEST, "digest": "sha256:" + self.manifest_hex,
                "size": len(self.manifest)}
        if with_platform:
            desc["platform"] = self.platform()
        if tag is not None:
            desc["annotations"] = {REF_NAME: tag}
        return desc


def flip_hex(digest):
    last = digest[-1]
    return digest[:-1] + ("1" if last == "0" else "0")


def index_json(descs):
    return dump_json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": descs})


OCI_LAYOUT = dump_json({"imageLayoutVersion": "1.0.0"})


def merge_index(old_raw, desc, tag):
    """Point `tag` at `desc` in an existing index.json, keeping the other tags."""
    try:
        old = json.loads(old_raw)
        manifests = old.get("manifests", [])
    except ValueError:
        manifests = []
    kept = [m for m in manifests if m.get("annotations", {}).get(REF_NAME) != tag]
    return index_json(kept + [desc])


def write_file(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_oci_dir(out, blobs, desc, tag):
    blob_dir = os.path.join(out, "blobs", "sha256")
    os.makedirs(blob_dir, exist_ok=True)
    for hexd, data in blobs.items():
        path = os.path.join(blob_dir, hexd)
        if isinstance(data, bytes):
            if not os.path.exists(path):
                write_file(path, data)
        else:
            os.replace(data, path)
    write_file(os.path.join(out, "oci-layout"), OCI_LAYOUT)
    index_path = os.path.join(out, "index.json")
    if os.path.exists(index_path):
        with open(index_path, "rb") as f:
            new = merge_index(f.read(), desc, tag)
    else:
        new = index_json([desc])
    write_file(index_path, new)


class ArchiveWriter:
    """A deterministic outer tar (oci-archive or docker-archive)."""

    def __init__(self, out):
        self.out = out
        self.tmp = out + ".tmp"
        self.tar = tarfile.open(self.tmp, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()

    def _info(self, name, kind, mode):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    def dir(self, name):
        if name not in self.dirs:
            self.dirs.add(name)
            self.tar.addfile(self._info(name, tarfile.DIRTYPE, 0o755))

    def file(self, name, data):
        parts = name.split("/")
        for i in range(1, len(parts)):
            self.dir("/".join(parts[:i]))
        info = self._info(name, tarfile.REGTYPE, 0o644)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def close(self):
        self.tar.close()
        os.replace(self.tmp, self.out)


def write_oci_archive(out, blobs, desc):
    writer = ArchiveWriter(out)
    writer.file("oci-layout", OCI_LAYOUT)
    writer.file("index.json", index_json([desc]))
    for hexd in sorted(blobs):
        writer.file("blobs/sha256/" + hexd, blobs[hexd])
    writer.close()


def split_repo_tag(repo_tag):
    name, sep, tag = repo_tag.rpartition(":")
    if not sep or "/" in tag:
        return repo_tag, "latest"
    return name, tag


def write_docker_archive(out, image, repo_tag, blobs_layout):
    """`docker save` output: legacy <layerid>/layer.tar, or docker 25's blobs/sha256 layout."""
    writer = ArchiveWriter(out)
    layer_paths = []
    if blobs_layout:
        for hexd, layer in zip(image.layer_hexes, image.layers):
            writer.file("blobs/sha256/" + hexd, layer.blob)
            layer_paths.append("blobs/sha256/" + hexd)
        writer.file("blobs/sha256/" + image.config_hex, image.config)
        writer.file("blobs/sha256/" + image.manifest_hex, image.manifest)
        config_path = "blobs/sha256/" + image.config_hex
        top_id = image.layer_hexes[-1]
    else:
        parent = ""
        for layer in image.layers:
            layer_id = sha256_hex(f"{parent}\n{layer.diff_id}".encode())
            legacy = {"id": layer_id, "created": EPOCH}
            if parent:
                legacy["parent"] = parent
            writer.dir(layer_id)
            writer.file(layer_id + "/VERSION", b"1.0")
            writer.file(layer_id + "/json", dump_json(legacy))
            writer.file(layer_id + "/layer.tar", layer.blob)
            layer_paths.append(layer_id + "/layer.tar")
            parent = layer_id
        config_path = image.config_hex + ".json"
        writer.file(config_path, image.config)
        top_id = parent
    name, tag = split_repo_tag(repo_tag)
    if blobs_layout:
        desc = image.descriptor(with_platform=False)
        desc["annotations"] = {"io.containerd.image.name": repo_tag, REF_NAME: tag}
        writer.file("index.json", index_json([desc]))
    writer.file("manifest.json", dump_json([{"Config": config_path, "RepoTags": [repo_tag],
                                              "Layers": layer_paths}]))
    if blobs_layout:
        writer.file("oci-layout", OCI_LAYOUT)
    writer.file("repositories", dump_json({name: {tag: top_id}}))
    writer.close()


def default_tag(args):
    if args.tag is not None:
        return args.tag
    return "grove-test:latest" if args.format == "docker-archive" else "latest"


def write_image(args, image):
    tag = default_tag(args)
    if args.format == "oci-dir":
        write_oci_dir(args.out, image.blobs, image.descriptor(tag), tag)
    elif args.format == "oci-archive":
        write_oci_archive(args.out, image.blobs, image.descriptor(tag))
    else:
        write_docker_archive(args.out, image, tag, args.docker_blobs)


def busybox_layer_raw(extras=(), platform_text=None):
    lb = LayerBuilder()
    add_busybox_tree(lb)
    if platform_text is not None:
        lb.file("etc/platform", platform_text + "\n")
    add_extras(lb, extras, set(BASE_DIRS))
    return lb.finish()


def cmd_busybox(args):
    raw = busybox_layer_raw(parse_extra(args.extra) + parse_binaries(args.binary))
    layer = Layer(raw, args.compression, "busybox")
    write_image(args, Image([layer], arch=args.arch, user=args.user))


def multilayer_layer1():
    lb = LayerBuilder()
    add_busybox_tree(lb)
    lb.dir("a")
    lb.file("a/keep", "keep: version 1\n")
    lb.file("a/gone", "this file is whited out by layer 2\n")
    lb.dir("b")
    lb.file("b/x", "x\n")
    lb.file("b/y", "y\n")
    lb.file("c", "c is a file in layer 1 and a directory in layer 2\n")
    lb.dir("d")
    lb.file("d/inner", "d is a directory in layer 1 and a file in layer 2\n")
    lb.file("hl1", "hardlinked content, version 1\n", 0o640, 1000, 1000)
    lb.hardlink("hl2", "hl1", 0o640, 1000, 1000)
    lb.symlink("sym", "bin/busybox")
    lb.symlink("abssym", "/etc/passwd")
    lb.dir("emptydir", 0o711)
    lb.file("owned", "owned by 1234:5678\n", 0o600, 1234, 5678)
    lb.file("setuid", "#!/bin/sh\necho setuid\n", 0o4755)
    lb.file("xattr-file", "carries xattrs\n",
            xattrs={"user.grove.test": "hello", "trusted.overlay.opaque": "y"})
    lb.chardev("dev/null", 1, 3, 0o666)
    lb.fifo("fifo", 0o644)
    return lb.finish()


def multilayer_layer2():
    lb = LayerBuilder()
    lb.dir("a")
    lb.file("a/.wh.gone", b"")
    lb.file("a/keep", "keep: version 2 (modified in layer 2)\n")
    lb.dir("b")
    lb.file("b/.wh..wh..opq", b"")
    lb.file("b/z", "z\n")
    lb.dir("c")
    lb.file("c/file", "inside c, now a directory\n")
    lb.file(".wh.d", b"")
    lb.file("d", "d is now a regular file\n")
    lb.file("newfile", "added in layer 2\n")
    lb.dir("dir2")
    lb.dir("dir2/sub")
    lb.file("dir2/sub/deep", "removed with all of dir2 by layer 3\n")
    return lb.finish()


def multilayer_layer3():
    lb = LayerBuilder()
    lb.file(".wh.dir2", b"")
    lb.dir("e")
    lb.file("e/f", "added in layer 3\n")
    lb.file("hl1", "hl1 replaced in layer 3; hl2 keeps version 1\n", 0o640, 1000, 1000)
    return lb.finish()


def cmd_multilayer(args):
    layers = [Layer(multilayer_layer1(), args.compression, "multilayer base"),
              Layer(multilayer_layer2(), args.compression, "multilayer whiteouts"),
              Layer(multilayer_layer3(), args.compression, "multilayer replacements")]
    write_image(args, Image(layers))


def truncate_last_member(raw, data_bytes):
    """Cut `raw` `data_bytes` into the data of its last member."""
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r") as tar:
        last = tar.getmembers()[-1]
    return raw[:last.offset_data + data_bytes]


def hostile_layer_raw(case):
    lb = LayerBuilder()
    add_busybox_tree(lb)
    if case == "dotdot":
        lb.file("../../../../tmp/grove-escape-dotdot", "escaped via ..\n")
    elif case == "absolute":
        lb.file("/tmp/grove-escape-absolute", "absolute path entry\n")
    elif case == "symlink-dir-write":
        lb.symlink("escape", "/tmp")
        lb.file("escape/grove-escape-symlink", "written through an absolute symlink\n")
    elif case == "symlink-relative-write":
        lb.symlink("escape2", "../../../../tmp")
        lb.file("escape2/grove-escape-rel", "written through a relative symlink\n")
    elif case == "hardlink-escape":
        lb.hardlink("hl", "../../../../etc/shadow")
    elif case == "hardlink-missing":
        lb.hardlink("hl", "nonexistent")
    elif case == "setid-device":
        lb.chardev("dev/evil", 1, 3, 0o6755)
    elif case == "truncated":
        lb.file("big", random.Random(1).randbytes(1 << 20))
        return truncate_last_member(lb.finish(), 1000)
    return lb.finish()


def cmd_hostile(args):
    if args.format == "docker-archive":
        # manifest.json has no sizes, and legacy layers are found by path, not digest
        inexpressible = {"bad-size"} if args.docker_blobs else {"bad-size", "bad-layer-digest"}
        if args.case in inexpressible:
            raise SystemExit(f"mkimage: case {args.case} cannot be expressed in this docker "
                             "archive layout")
    layer = Layer(hostile_layer_raw(args.case), args.compression, f"hostile {args.case}")
    write_image(args, Image([layer], defect=args.case))


def parse_platform(text):
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SystemExit(f"mkimage: platform must be os/arch[/variant], got {text!r}")
    if parts[0] != "linux":
        raise SystemExit(f"mkimage: only linux platforms are supported, got {text!r}")
    return parts[1], (parts[2] if len(parts) == 3 else None)


def cmd_multiplatform(args):
    tag = args.tag if args.tag is not None else "latest"
    blobs = {}
    descs = []
    for text in args.platforms.split(","):
        arch, variant = parse_platform(text)
        raw = busybox_layer_raw(platform_text=text.strip())
        image = Image([Layer(raw, args.compression, f"busybox {text.strip()}")], arch, variant)
        blobs.update(image.blobs)
        descs.append(image.descriptor())
    inner = index_json(descs)
    inner_hex = sha256_hex(inner)
    blobs[inner_hex] = inner
    desc = {"mediaType": MT_INDEX, "digest": "sha256:" + inner_hex, "size": len(inner),
            "annotations": {REF_NAME: tag}}
    if args.format == "oci-dir":
        write_oci_dir(args.out, blobs, desc, tag)
    else:
        write_oci_archive(args.out, blobs, desc)


def big_sizes(files, total, rng):
    """`files` sizes summing to exactly `total`, spread over roughly 1:1000."""
    weights = [rng.lognormvariate(0, 1.5) for _ in range(files)]
    scale = total / sum(weights) if weights else 0
    sizes = [int(w * scale) for w in weights]
    for i in range(total - sum(sizes)):
        sizes[i % files] += 1
    return sizes


def write_big_layer(fileobj, files, total, seed=42):
    rng = random.Random(seed)
    sizes = big_sizes(files, total, rng) if files > 0 else []
    tar = tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT)

    def add(name, kind, mode, data=None):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uname = info.gname = ""
        info.mtime = 0
        if data is None:
            tar.addfile(info)
            return
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    add("data", tarfile.DIRTYPE, 0o755)
    for i, size in enumerate(sizes):
        leaf, top = i // 100, i // 10000
        if i % 10000 == 0:
            add(f"data/{top:04d}", tarfile.DIRTYPE, 0o755)
        if i % 100 == 0:
            add(f"data/{top:04d}/{leaf % 100:02d}", tarfile.DIRTYPE, 0o755)
        add(f"data/{top:04d}/{leaf % 100:02d}/f{i:07d}", tarfile.REGTYPE, 0o644,
            rng.randbytes(size))
    tar.close()


def cmd_biglayer(args):
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        write_big_layer(f, args.files, args.total_bytes)
    os.replace(tmp, args.out)


def hash_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), os.path.getsize(path)


def compress_file(src, dst, compression):
    if compression == "gzip":
        with open(src, "rb") as fin, open(dst, "wb") as raw_out:
            with gzip.GzipFile(fileobj=raw_out, mode="wb", compresslevel=6, mtime=0,
                               filename="") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    else:
        subprocess.run(["zstd", "-q", "-f", "-3", src, "-o", dst], check=True)


class FileLayer(Layer):
    """A layer whose blob is a file on disk (too big to hold in memory)."""

    def __init__(self, raw_path, compression, comment, work_dir):
        raw_hex, _ = hash_file(raw_path)
        self.diff_id = "sha256:" + raw_hex
        if compression == "none":
            self.blob_path = raw_path
        else:
            self.blob_path = os.path.join(work_dir, "layer.compressed")
            compress_file(raw_path, self.blob_path, compression)
        self.hex, size = hash_file(self.blob_path)
        # Image only reads len(blob); write_oci_dir moves a str blob into place
        self.blob = SizedPath(self.blob_path, size)
        self.media_type = MT_LAYER[compression]
        self.comment = comment


def cmd_bigimage(args):
    tag = args.tag if args.tag is not None else "latest"
    os.makedirs(os.path.join(args.out, "blobs", "sha256"), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".mkimage-", dir=os.path.join(args.out, "blobs"))
    try:
        raw_path = os.path.join(work, "layer.tar")
        with open(raw_path, "wb") as f:
            write_big_layer(f, args.files, args.total_bytes)
        layer = FileLayer(raw_path, args.compression, "big layer", work)
        image = Image([layer])
        write_oci_dir(args.out, image.blobs, image.descriptor(tag), tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)


FAMILY_ALPHABET = b"abcdefghijklmnopqrstuvwxyz_0123456789"


def family_corpus(total, rng):
    """`total` bytes of text-like content that gzip shrinks about 2.5x, as distro files do."""
    vocab = [bytes(rng.choices(FAMILY_ALPHABET, k=rng.randint(2, 12))) for _ in range(3072)]
    words = rng.choices(vocab, k=total // 7 + 16)
    return b" ".join(words)[:total]


def family_file_set(files, total, seed=7):
    """The big file set every member shares: (path, data), under opt/base/NN/."""
    rng = random.Random(seed)
    sizes = big_sizes(files, total, rng) if files > 0 else []
    corpus = family_corpus(total, rng)
    out, offset = [], 0
    for i, size in enumerate(sizes):
        out.append((f"opt/base/{i // 100:02d}/f{i:05d}", corpus[offset:offset + size]))
        offset += size
    return out


def family_layer_raw(index, file_set):
    """Member `index`: the base plus its own small files and one file of the set changed."""
    rng = random.Random(1000 + index)
    lb = LayerBuilder()
    add_busybox_tree(lb)
    changed = (index * 997 + 13) % len(file_set) if file_set else -1
    dirs = set()
    lb.dir("opt")
    lb.dir("opt/base")
    for i, (path, data) in enumerate(file_set):
        parent = path.rsplit("/", 1)[0]
        if parent not in dirs:
            dirs.add(parent)
            lb.dir(parent)
        if i == changed:
            data = data[: len(data) // 2] + f"\nrebuilt as member {index}\n".encode()
        lb.file(path, data)
    lb.dir("app")
    lb.file("app/build-info", f"member {index}\nbuild {rng.getrandbits(64):016x}\n")
    lb.file("app/VERSION", f"1.0.{index}\n")
    lb.file("app/main.sh", "#!/bin/sh\n" + family_corpus(2000 + 500 * index, rng).decode() + "\n",
            0o755)
    lb.file("etc/hostname", f"member{index}\n")
    return lb.finish()


def cmd_family(args):
    file_set = family_file_set(args.files, args.total_bytes)
    for index in range(args.count):
        raw = family_layer_raw(index, file_set)
        layer = Layer(raw, args.compression, f"family member {index}")
        image = Image([layer])
        tag = f"{args.tag}:{index}"
        write_oci_dir(os.path.join(args.out, f"img{index}"), image.blobs, image.descriptor(tag),
                      tag)


class SizedPath(str):
    """A blob path that reports the blob's size as its len()."""

    def __new__(cls, path, size):
        obj = super().__new__(cls, path)
        obj.size = size
        return obj

    def __len__(self):
        return self.size


def add_format_args(parser, formats=("oci-dir", "oci-archive", "docker-archive")):
    parser.add_argument("--format", choices=formats, default="oci-dir")
    parser.add_argument("--compression", choices=("none", "gzip", "zstd"), default="none")
    parser.add_argument("--tag", default=None, help="OCI ref name, or docker name:tag")
    if "docker-archive" in formats:
        parser.add_argument("--docker-blobs", action="store_true",
                            help="docker 25 layout (blobs/sha256) for docker-archive")
    parser.add_argument("out", metavar="OUT")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("busybox", help="one busybox layer")
    add_format_args(p)
    p.add_argument("--arch", default="amd64")
    p.add_argument("--user", default=None, help="the config's User (uid, name, uid:gid)")
    p.add_argument("--extra", action="append", metavar="PATH=TEXT",
                   help="add a small regular file to the layer (repeatable)")
    p.add_argument("--binary", action="append", metavar="DEST=HOSTFILE",
                   help="add a host file as an executable, e.g. a static test helper (repeatable)")
    p.set_defaults(func=cmd_busybox)

    p = sub.add_parser("multilayer", help="three layers with whiteouts and special files")
    add_format_args(p)
    p.set_defaults(func=cmd_multilayer)

    p = sub.add_parser("hostile", help="a one-layer image with a malicious layer or digest")
    p.add_argument("--case", choices=HOSTILE_CASES, required=True)
    add_format_args(p)
    p.set_defaults(func=cmd_hostile)

    p = sub.add_parser("multiplatform", help="an image index with one image per platform")
    p.add_argument("--platforms", default="linux/amd64,linux/arm64")
    add_format_args(p, ("oci-dir", "oci-archive"))
    p.set_defaults(func=cmd_multiplatform)

    p = sub.add_parser("biglayer", help="a plain layer tar of many pseudo-random files")
    p.add_argument("--files", type=int, required=True)
    p.add_argument("--total-bytes", type=int, required=True)
    p.add_argument("out", metavar="OUT.tar")
    p.set_defaults(func=cmd_biglayer)

    p = sub.add_parser("bigimage", help="the big layer as a one-layer oci-dir image")
    p.add_argument("--files", type=int, required=True)
    p.add_argument("--total-bytes", type=int, required=True)
    p.add_argument("--compression", choices=("none", "gzip", "zstd"), default="none")
    p.add_argument("--tag", default=None)
    p.add_argument("out", metavar="OUT")
    p.set_defaults(func=cmd_bigimage)

    p = sub.add_parser("family", help="related one-layer oci-dir images OUTDIR/img0, img1, ...")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--files", type=int, required=True, help="files in the shared set")
    p.add_argument("--total-bytes", type=int, required=True, help="bytes in the shared set")
    p.add_argument("--compression", choices=("none", "gzip", "zstd"), default="gzip")
    p.add_argument("--tag", default="localhost/family",
                   help="repository of the images, tagged :0, :1, ...")
    p.add_argument("out", metavar="OUTDIR")
    p.set_defaults(func=cmd_family)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "docker_blobs", False) and args.format != "docker-archive":
        raise SystemExit("mkimage: --docker-blobs only applies to --format docker-archive")
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
