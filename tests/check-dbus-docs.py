#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check that the D-Bus introspection XML in data/ is documented, as a TAP test.

Every interface, method, property, signal and argument needs a gtk-doc-style comment
directly before it: "Name:" first (the interface's full name for an interface), then a
description, and "@since:" for all but arguments. An argument may instead be described
as "@name:" in the comment of its method or signal. Every interface needs a "Version"
property of type "u". A comment's "@name:" that names no argument is an error too, so
stale documentation does not survive a rename.

Usage: check-dbus-docs.py [--tap] [FILE.xml...]
Without files it checks every data/*.xml next to the tests directory ($G_TEST_SRCDIR/..).
"""

import glob
import os
import re
import sys
import xml.dom.minidom
from xml.dom import Node

MEMBERS = ("method", "property", "signal")
# gtk-doc tags that are not argument names
TAGS = {"since", "deprecated", "stability", "short_description"}
TAG_RE = re.compile(r"(?:^|\s)@([A-Za-z_][A-Za-z0-9_]*):")


def comment_before(element):
    """The comment directly before element, skipping only whitespace, or None."""
    node = element.previousSibling
    while node is not None and node.nodeType == Node.TEXT_NODE and not node.data.strip():
        node = node.previousSibling
    if node is not None and node.nodeType == Node.COMMENT_NODE:
        return node.data
    return None


def split_comment(rest):
    """Split what follows "Name:" into its description and its @tags (name -> text).

    A tag runs to the end of its line plus the following lines indented deeper than it;
    tags may also follow the description on the same line ("Name: Text. @since: 0.1").
    """
    description = []
    tags = {}
    current = None
    indent = 0
    for line in rest.splitlines():
        stripped = line.strip()
        if not stripped:
            current = None
            continue
        line_indent = len(line) - len(line.lstrip())
        if current is not None and line_indent > indent and not stripped.startswith("@"):
            tags[current] += " " + stripped
            continue
        current = None
        pieces = re.split(r"(?:^|\s)@([A-Za-z_][A-Za-z0-9_]*):", stripped)
        description.append(pieces[0])
        for name, text in zip(pieces[1::2], pieces[2::2]):
            tags[name] = text.strip()
            current = name
            indent = line_indent
    return " ".join(description).strip(), tags


def check_comment(text, name, what, needs_since):
    """Problems with the gtk-doc comment text of the thing called name."""
    if text is None:
        return ["%s has no gtk-doc comment directly before it" % what]
    body = text.strip()
    if not body.startswith(name + ":"):
        first = body.splitlines()[0] if body else ""
        return ["%s: its comment starts with %r, not %r" % (what, first, name + ":")]
    problems = []
    description, tags = split_comment(" " * len(name) + " " + text.lstrip()[len(name) + 1 :])
    if not description:
        problems.append("%s: its comment has no description" % what)
    if needs_since and not tags.get("since"):
        problems.append("%s: its comment has no @since:" % what)
    return problems


def check_args(member, member_what, member_comment):
    """Problems with the <arg>s of a method or signal."""
    problems = []
    documented = set()
    if member_comment is not None:
        tags = split_comment(member_comment)[1]
        documented = {t for t, text in tags.items() if t not in TAGS and text}
    names = set()
    for arg in member.getElementsByTagName("arg"):
        name = arg.getAttribute("name")
        what = "%s argument %s" % (member_what, name or "(unnamed)")
        if not name:
            problems.append("%s has no name" % what)
            continue
        names.add(name)
        if name in documented:
            continue
        own = comment_before(arg)
        if own is None:
            problems.append("%s is documented neither as @%s: nor by a comment" % (what, name))
        else:
            problems += check_comment(own, name, what, needs_since=False)
    for stale in sorted(documented - names):
        problems.append("%s: @%s: documents no argument" % (member_what, stale))
    return problems


def check_interface(interface):
    """Problems with one <interface> and everything in it."""
    iface_name = interface.getAttribute("name")
    problems = check_comment(
        comment_before(interface), iface_name, "interface " + iface_name, needs_since=True
    )
    has_version = False
    for member in interface.childNodes:
        if member.nodeType != Node.ELEMENT_NODE:
            continue
        if member.tagName not in MEMBERS:
            if member.tagName != "annotation":
                problems.append("%s: unexpected <%s>" % (iface_name, member.tagName))
            continue
        name = member.getAttribute("name")
        what = "%s %s.%s" % (member.tagName, iface_name, name)
        comment = comment_before(member)
        problems += check_comment(comment, name, what, needs_since=True)
        if member.tagName == "property":
            if name == "Version":
                has_version = True
                if member.getAttribute("type") != "u":
                    problems.append("%s has type %r, not 'u'" % (what, member.getAttribute("type")))
        else:
            problems += check_args(member, what, comment)
    if not has_version:
        problems.append("interface %s has no Version property" % iface_name)
    return problems


def main(argv):
    files = [a for a in argv[1:] if a != "--tap"]
    if not files:
        srcdir = os.environ.get("G_TEST_SRCDIR", os.path.dirname(os.path.abspath(__file__)))
        files = sorted(glob.glob(os.path.join(srcdir, "..", "data", "*.xml")))
    if not files:
        print("Bail out! no D-Bus XML found in data/")
        return 1

    results = []
    for path in files:
        label = os.path.basename(path)
        try:
            document = xml.dom.minidom.parse(path)
        except Exception as e:  # noqa: BLE001 - any parse failure is a test failure
            results.append(("%s parses" % label, ["%s: %s" % (path, e)]))
            continue
        interfaces = document.getElementsByTagName("interface")
        if not interfaces:
            results.append(("%s has interfaces" % label, ["%s holds no <interface>" % path]))
        for interface in interfaces:
            results.append(
                (
                    "%s in %s is fully documented" % (interface.getAttribute("name"), label),
                    check_interface(interface),
                )
            )

    print("1..%d" % len(results))
    failed = False
    for number, (title, problems) in enumerate(results, 1):
        print("%s %d - %s" % ("not ok" if problems else "ok", number, title))
        for problem in problems:
            print("# " + problem)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
