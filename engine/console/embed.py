#!/usr/bin/env python3
"""Turns the web console's files (engine/console) into C byte arrays, so intentd serves them from
the binary: no file is read at run time, whatever the working directory or container.

The content type comes from the file's extension; an unknown extension, or a file that is not
UTF-8 (the charset the type names), fails the build rather than be served as something a
browser might sniff."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from embed_bytes import embed  # noqa: E402

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def read(path):
    if os.path.splitext(path)[1] not in TYPES:
        sys.exit("embed.py: %s: no content type for this extension" % path)
    data = open(path, "rb").read()
    data.decode("utf-8")
    return data


def row(name, path, data):
    base = os.path.basename(path)
    return '"%s", "%s", %s, %d' % (base, TYPES[os.path.splitext(base)[1]], name, len(data))


embed(sys.argv[1], "engine/console/embed.py from the engine/console files", "console_assets.h",
      "console_asset", "console_assets", sys.argv[2:], read, row)
