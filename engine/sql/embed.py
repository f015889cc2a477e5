#!/usr/bin/env python3
"""Turns the numbered migration files into C byte arrays so the daemon carries its schema."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from embed_bytes import embed  # noqa: E402


def row(name, path, data):
    base = os.path.basename(path)
    return '%d, "%s", %s' % (int(base.split("_", 1)[0]), base, name)


embed(sys.argv[1], "engine/sql/embed.py from the engine/sql migration files", "migrations.h",
      "migration", "migrations", sys.argv[2:], lambda p: open(p, "rb").read() + b"\0", row)
