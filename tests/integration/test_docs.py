"""The operator-facing documentation agrees with the binaries: every INTENTD_* variable the
engine reads is in README.md's Configuration table and in `intentd --help`, every variable the
README or docs/api-contract.md names is in `intentd --help`, and every `intentctl` command is in
the README's intentctl summary. Needs the binaries, no server."""

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRACT = (ROOT / "docs" / "api-contract.md").read_text(encoding="utf-8")
CTL = os.environ.get("INTENTCTL_BIN", str(ROOT / "build" / "tools" / "intentctl"))
VAR = re.compile(r"\bINTENTD_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def section(text, heading):
    """The text under a '## heading' up to the next '## ' heading."""
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(heading), text, re.M | re.S)
    assert m, "no '## %s' section" % heading
    return m.group(1)


def readme_config_vars():
    rows = re.findall(r"^\| `(INTENTD_[A-Z0-9_]+)` \|", section(README, "Configuration"), re.M)
    assert rows, "no variables in README's Configuration table"
    return set(rows)


def engine_vars():
    """Variables the daemon reads: getenv("INTENTD_…") and the env helpers in config.c."""
    found = set()
    for f in list((ROOT / "engine").glob("*.c")) + list((ROOT / "adapters").glob("*.c")):
        found |= set(re.findall(r'(?:getenv|_env)\(\s*"(INTENTD_[A-Z0-9_]+)"',
                                f.read_text(encoding="utf-8")))
    assert "INTENTD_LISTEN" in found and "INTENTD_PG_BINDIR" in found, found
    return found


@pytest.fixture(scope="module")
def intentd_help(intentd_binary):
    r = subprocess.run([intentd_binary, "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_every_variable_the_engine_reads_is_documented(intentd_help):
    missing_readme = engine_vars() - readme_config_vars()
    missing_help = engine_vars() - set(VAR.findall(intentd_help))
    assert not missing_readme, "not in README.md's Configuration table: %s" % missing_readme
    assert not missing_help, "not in intentd --help: %s" % missing_help


def test_help_lists_every_variable_the_docs_name(intentd_help):
    documented = set(VAR.findall(README)) | set(VAR.findall(section(CONTRACT,
                                                                     "Configuration (environment)")))
    internal = {"INTENTD_SOURCE_STATEMACHINES_DIR", "INTENTD_STATEMACHINES_DIR"}
    missing = documented - internal - set(VAR.findall(intentd_help))
    assert not missing, "named in the docs but not in intentd --help: %s" % missing


def test_readme_names_no_variable_the_engine_ignores():
    assert readme_config_vars() <= engine_vars(), readme_config_vars() - engine_vars()


def test_readme_lists_every_intentctl_command():
    if not os.access(CTL, os.X_OK):
        pytest.skip("%s not built (set INTENTCTL_BIN)" % CTL)
    r = subprocess.run([CTL, "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0
    usage = r.stdout.decode().split("commands:\n")[1].split("\n\n")[0]
    listed = subprocess.run([CTL, "commands"], capture_output=True, timeout=30)
    assert listed.returncode == 0
    # every command --help shows (the hidden ones it leaves out are test helpers)
    commands = {c for c in listed.stdout.decode().splitlines()
                if re.search(r"^  %s\b" % re.escape(c), usage, re.M)}
    assert {"compensate", "redrive", "signals", "preview", "connector set", "watch",
            "signals push set"} <= commands, commands
    block = section(README, "intentctl")
    missing = [c for c in commands if not re.search(r"^  %s\b" % re.escape(c), block, re.M)]
    assert not missing, "intentctl commands missing from README's summary: %s" % missing
