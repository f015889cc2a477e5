"""The daemon's malloc: `intentd --version` names it, and it is the one every library's calls
reach. With -Dallocator=jemalloc (the default) a link that dropped libjemalloc, or put it
where libc's malloc wins, would quietly bring back glibc's allocator and its cost."""
import os
import re
import subprocess

from fixtures import intentd_binary  # noqa: F401


def version_allocator(binary):
    r = subprocess.run([binary, "--version"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"intentd \S+ \(malloc: (jemalloc|system)\)\n", r.stdout.decode())
    assert m, r.stdout
    return m.group(1)


def malloc_bindings(binary):
    """The library each object's `malloc` reference was bound to, as the dynamic linker says."""
    env = dict(os.environ, LD_DEBUG="bindings")
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([binary, "--version"], capture_output=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    return set(re.findall(r"binding file \S+ \[\d+\] to (\S+) \[\d+\]: normal symbol `malloc'",
                          r.stderr.decode()))


def test_version_names_the_allocator_every_library_calls(intentd_binary):  # noqa: F811
    allocator = version_allocator(intentd_binary)
    targets = malloc_bindings(intentd_binary)
    assert targets, "LD_DEBUG showed no binding of malloc"
    names = {os.path.basename(t) for t in targets}
    if allocator == "jemalloc":
        assert names == {"libjemalloc.so.2"}, names
    else:
        assert not any("jemalloc" in n for n in names), names
