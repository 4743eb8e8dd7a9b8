#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compare two directory trees entry by entry, without following symlinks.

Compared: type, permission bits (including set-id and sticky bits), uid, gid, size of
regular files and symlinks, sha256 of file contents, symlink targets, device numbers and
extended attributes (security.selinux, trusted.overlay.* and user.overlay.* are ignored,
as they are set by the host and the overlay driver, not by the image).
Ignored: timestamps, link counts and directory sizes.

Paths are relative to each root; the roots themselves are compared as ".".
--ignore PATH drops PATH and everything below it (PATH "." drops only the roots' own
metadata). --hardlinks also requires the same groups of paths to share an inode.

Prints one line per difference and exits 1, or prints "identical (N entries)" and exits 0.
"""

import argparse
import hashlib
import os
import stat
import sys

IGNORED_XATTR_PREFIXES = ("security.selinux", "trusted.overlay.", "user.overlay.")

TYPE_NAMES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    values = {}
    for name in names:
        if name.startswith(IGNORED_XATTR_PREFIXES):
            continue
        try:
            values[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            values[name] = f"<unreadable: {e.strerror}>".encode()
    return values


def describe(path, st):
    """The compared attributes of one entry, as an ordered dict of printable values."""
    fmt = stat.S_IFMT(st.st_mode)
    info = {
        "type": TYPE_NAMES.get(fmt, f"unknown {fmt:o}"),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    if fmt == stat.S_IFREG:
        info["size"] = st.st_size
        info["sha256"] = file_sha256(path)
    elif fmt == stat.S_IFLNK:
        info["size"] = st.st_size
        info["target"] = os.readlink(path)
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
        info["device"] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    for name, value in sorted(read_xattrs(path).items()):
        info["xattr " + name] = value
    return info


def normalise_ignore(path):
    path = path.strip("/")
    return path if path else "."


def is_ignored(rel, ignores):
    for ignore in ignores:
        if rel == ignore:
            return True
        if ignore != "." and rel.startswith(ignore + "/"):
            return True
    return False


def scan(root, ignores):
    """Map relative path -> (lstat result, absolute path) for every entry under root."""
    entries = {}
    stack = ["."]
    while stack:
        rel = stack.pop()
        full = root if rel == "." else os.path.join(root, rel)
        st = os.lstat(full)
        if rel != "." or "." not in ignores:
            entries[rel] = (st, full)
        if not stat.S_ISDIR(st.st_mode):
            continue
        for name in os.listdir(full):
            child = name if rel == "." else f"{rel}/{name}"
            if not is_ignored(child, ignores):
                stack.append(child)
    return entries


def hardlink_groups(entries):
    """For each multiply-linked non-directory, the frozenset of paths sharing its inode."""
    by_inode = {}
    for rel, (st, _) in entries.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_inode.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    groups = {}
    for paths in by_inode.values():
        group = frozenset(paths)
        for rel in paths:
            groups[rel] = group
    return groups


def abbreviate(paths, limit=5):
    paths = sorted(paths)
    text = ", ".join(paths[:limit])
    if len(paths) > limit:
        text += f" and {len(paths) - limit} more"
    return text or "nothing"


def hardlink_diffs(a, b, common):
    """One line per A-side hardlink group that B does not reproduce, and vice versa."""
    a_groups = hardlink_groups(a)
    b_groups = hardlink_groups(b)
    diffs = []
    seen = set()
    common_set = frozenset(common)
    for rel in common:
        a_group = a_groups.get(rel, frozenset([rel])) & common_set
        b_group = b_groups.get(rel, frozenset([rel])) & common_set
        if a_group == b_group or (a_group, b_group) in seen:
            continue
        seen.add((a_group, b_group))
        diffs.append(f"{rel}: hardlinked in A with {len(a_group) - 1} paths, in B with "
                     f"{len(b_group) - 1}; only in A's group: {abbreviate(a_group - b_group)}; "
                     f"only in B's group: {abbreviate(b_group - a_group)}")
    return diffs


def compare(a_root, b_root, ignores, check_hardlinks):
    a = scan(a_root, ignores)
    b = scan(b_root, ignores)
    diffs = []
    for rel in sorted(a.keys() - b.keys()):
        diffs.append(f"only in A: {rel}")
    for rel in sorted(b.keys() - a.keys()):
        diffs.append(f"only in B: {rel}")
    common = sorted(a.keys() & b.keys())
    for rel in common:
        a_info = describe(a[rel][1], a[rel][0])
        b_info = describe(b[rel][1], b[rel][0])
        for key in list(a_info) + [k for k in b_info if k not in a_info]:
            a_value = a_info.get(key, "<absent>")
            b_value = b_info.get(key, "<absent>")
            if a_value != b_value:
                diffs.append(f"{rel}: {key} differs: {a_value!r} != {b_value!r}")
    if check_hardlinks:
        diffs.extend(hardlink_diffs(a, b, common))
    return diffs, len(common)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", metavar="A")
    parser.add_argument("b", metavar="B")
    parser.add_argument("--ignore", action="append", default=[], metavar="PATH",
                        help="skip PATH and everything below it (repeatable)")
    parser.add_argument("--hardlinks", action="store_true",
                        help="also require the same paths to share inodes")
    args = parser.parse_args(argv)
    for root in (args.a, args.b):
        if not os.path.isdir(root) or os.path.islink(root):
            print(f"treediff: {root} is not a directory", file=sys.stderr)
            return 2
    ignores = [normalise_ignore(p) for p in args.ignore]
    diffs, count = compare(args.a, args.b, ignores, args.hardlinks)
    for line in diffs:
        print(line)
    if diffs:
        return 1
    print(f"identical ({count} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
