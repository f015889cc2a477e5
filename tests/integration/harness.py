"""Test harness for intentd's integration and crash tests.

Everything here is written against docs/api-contract.md and ../shared/SPEC.md, not against the
server's source. Only the Python standard library plus psycopg2 (Debian: python3-psycopg2).

Pieces:
  PgCluster   a throwaway PostgreSQL 15 cluster (initdb, fsync=off, 127.0.0.1:<free port>,
              trust auth); run as the `postgres` system user when we are root.
  Database    one database of that cluster with SQL helpers (superuser connections).
  Intentd     one intentd process: start / wait_ready / stop (SIGTERM) / kill9 / restart.
  Client      a small HTTP client (http.client) that always sends X-Request-ID.
  sign()      the Intent-Signature header value (HMAC-SHA256 over "<t>.<body>").
  make_intent() a valid ActionIntentV1 for internal.create_task (or any overrides).
"""

import atexit
import hashlib
import hmac
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED")

# Generous deadlines: we wait, we never assert on how long something took.
READY_TIMEOUT = float(os.environ.get("INTENTD_TEST_READY_TIMEOUT", "30"))
STATE_TIMEOUT = float(os.environ.get("INTENTD_TEST_STATE_TIMEOUT", "60"))


class HarnessError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# small utilities


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:16])


def wait_until(predicate, timeout, interval=0.1, what="condition"):
    """Polls predicate() until it returns a truthy value (returned) or timeout passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - the predicate may fail transiently
            last_exc = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.0f s waiting for %s" % (timeout, what)
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise HarnessError(msg)
        time.sleep(interval)


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def is_root():
    return os.geteuid() == 0


def pg_os_user():
    """The system user that owns the throwaway cluster."""
    if is_root():
        return "postgres" if _user_exists("postgres") else "nobody"
    return pwd.getpwuid(os.geteuid()).pw_name


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def processes_mentioning(needle):
    """PIDs of live processes whose command line contains needle (read from /proc)."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        # skip zombies: they hold no resources and will be reaped by their parent
        after = stat.rsplit(")", 1)[-1].split()
        if after and after[0] == "Z":
            continue
        if needle in cmd:
            found.append((int(entry), cmd.strip()))
    return found


# --------------------------------------------------------------------------------------------
# signing and intents


def sign(body, key, t=None):
    """Intent-Signature header value: t=<t>,v1=<hex HMAC-SHA256(key, "<t>." + body)>.

    body: bytes (the exact request body); key: the approval key string exactly as returned."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if t is None:
        t = int(time.time())
    mac = hmac.new(key.encode("utf-8"), ("%d." % int(t)).encode("ascii") + body, hashlib.sha256)
    return "t=%d,v1=%s" % (int(t), mac.hexdigest())


def make_intent(tenant_id="acme", **overrides):
    """A valid ActionIntentV1 for internal.create_task expiring in an hour. Keyword overrides
    replace top-level fields; pass a field with the value DELETE to drop it."""
    now = int(time.time())
    intent = {
        "schema": "action_intent.v1",
        "action_intent_id": unique("ai_"),
        "tenant_id": tenant_id,
        "account_id": "acct_123",
        "action_type": "internal.create_task",
        "parameters": {"title": "Call the customer back", "assignee": "user_7",
                       "notes": "from the integration tests"},
        "decision": {"decision_id": unique("d_"), "proposal_id": unique("p_"),
                     "summary": "customer asked for a call back"},
        "approval": {"approval_id": unique("ap_"), "approved_by": "user_123",
                     "approved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5))},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 4)),
        "expires_at_epoch": now + 3600,
        "priority": 50,
    }
    if tenant_id is DELETE:
        intent.pop("tenant_id", None)
    for k, v in overrides.items():
        if v is DELETE:
            intent.pop(k, None)
        else:
            intent[k] = v
    return intent


class _Delete:
    def __repr__(self):
        return "DELETE"


DELETE = _Delete()


def follow_up_intent(tenant_id, wait_seconds=1, **overrides):
    return make_intent(tenant_id, action_type="internal.follow_up",
                       parameters={"note": "customer asked to be called back",
                                   "title": "Call back", "wait_seconds": wait_seconds},
                       **overrides)


# --------------------------------------------------------------------------------------------
# PostgreSQL


class PgCluster:
    """A throwaway PostgreSQL cluster listening on 127.0.0.1:<port>, trust authentication.

    When we are root the cluster runs as the `postgres` system user (PostgreSQL refuses root);
    its directory is under /tmp and chowned to that user."""

    def __init__(self, base_dir=None, port=None, extra_conf=None):
        self.os_user = pg_os_user()
        self.superuser = self.os_user
        self.base = base_dir or tempfile.mkdtemp(prefix="intentd-pg-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgres.log")
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_conf = dict(extra_conf or {})
        self._db_counter = 0
        self._lock = threading.Lock()
        self.owner_role = "intentd_owner"
        self.started = False
        self.pgbouncer = None  # a PgBouncer that intentd reaches this cluster through, or None

    # commands run as the cluster's OS user
    def _cmd(self, argv):
        if is_root():
            return ["runuser", "-u", self.os_user, "--"] + argv
        return argv

    def _run(self, argv, check=True, timeout=120):
        env = dict(os.environ, LC_ALL="C", LANG="C")
        env.pop("PGDATA", None)
        p = subprocess.run(self._cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=timeout, cwd=self.base)
        out = p.stdout.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise HarnessError("%s failed (%d):\n%s\n--- postgres log ---\n%s" % (
                " ".join(argv), p.returncode, out, tail(self.logfile, 40)))
        return p.returncode, out

    def init(self):
        os.makedirs(self.sockdir, exist_ok=True)
        if is_root():
            pw = pwd.getpwnam(self.os_user)
            for d in (self.base, self.sockdir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", self.superuser,
                   "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.sockdir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] %u@%d '",
        }
        conf.update(self.extra_conf)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# intentd test harness\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        return self

    def start(self):
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                   "-w", "-t", "120", "start"])
        self.started = True
        wait_until(self._accepting, 60, what="PostgreSQL to accept connections")
        self._ensure_owner_role()
        return self

    def _accepting(self):
        try:
            self.connect("postgres").close()
            return True
        except Exception:  # noqa: BLE001
            return False

    def stop(self, mode="fast"):
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.started = False
            return
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t",
                   "120", "stop"], check=False)
        self.started = False

    def restart(self, mode="fast"):
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                   "-m", mode, "-w", "-t", "120", "restart"])
        self.started = True

    def destroy(self):
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    # connections and databases
    def connect(self, dbname, user=None):
        import psycopg2  # Debian: python3-psycopg2
        conn = psycopg2.connect(host=self.host, port=self.port, user=user or self.superuser,
                                dbname=dbname, connect_timeout=10)
        conn.autocommit = True
        return conn

    def _ensure_owner_role(self):
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.owner_role,))
                if cur.fetchone() is None:
                    cur.execute('CREATE ROLE "%s" LOGIN NOSUPERUSER' % self.owner_role)
        finally:
            conn.close()

    def create_database(self, name=None, owner=None):
        """Creates a fresh database. By default it is owned by a non-superuser role (so intentd
        runs as an ordinary table owner, as in production); INTENTD_TEST_DB_SUPERUSER=1 makes
        intentd connect as the superuser instead."""
        with self._lock:
            self._db_counter += 1
            n = self._db_counter
        name = name or "intentd_%d_%s" % (n, uuid.uuid4().hex[:6])
        if owner is None:
            owner = (self.superuser if os.environ.get("INTENTD_TEST_DB_SUPERUSER") == "1"
                     else self.owner_role)
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute('CREATE DATABASE "%s" OWNER "%s"' % (name, owner))
        finally:
            conn.close()
        return Database(self, name, owner)


PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")


def pgbouncer_wanted():
    """INTENTD_TEST_PGBOUNCER=1: intentd reaches the session cluster through pgbouncer."""
    return os.environ.get("INTENTD_TEST_PGBOUNCER") == "1"


class PgBouncer:
    """A throwaway pgbouncer in front of a PgCluster, in transaction pooling mode: every
    database of the cluster is reachable through it (`* = host=... port=...`), on 127.0.0.1:<free
    port> with no unix socket, trust authentication for the cluster's roles. Run as the cluster's
    OS user when we are root (pgbouncer refuses root).

    pool_size is the server connections per database and user, deliberately below intentd's
    default INTENTD_DB_POOL (4), so that transactions really take turns on server sessions."""

    def __init__(self, cluster, pool_size=3):
        self.cluster = cluster
        self.pool_size = pool_size
        self.base = tempfile.mkdtemp(prefix="intentd-pgbouncer-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.ini = os.path.join(self.base, "pgbouncer.ini")
        self.logfile = os.path.join(self.base, "pgbouncer.log")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc = None

    def _write_config(self):
        users = [self.cluster.superuser, self.cluster.owner_role]
        with open(os.path.join(self.base, "userlist.txt"), "w") as f:
            for u in users:
                f.write('"%s" ""\n' % u)
        conf = {
            "listen_addr": self.host,
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": os.path.join(self.base, "userlist.txt"),
            "admin_users": self.cluster.superuser,
            "pool_mode": "transaction",
            "default_pool_size": str(self.pool_size),
            "reserve_pool_size": "0",
            "max_client_conn": "800",
            # Every test makes databases: close idle server connections soon, so the pools of
            # finished tests do not add up past the cluster's max_connections.
            "server_idle_timeout": "5",
            "logfile": self.logfile,
            "pidfile": os.path.join(self.base, "pgbouncer.pid"),
        }
        with open(self.ini, "w") as f:
            f.write("[databases]\n* = host=%s port=%d\n\n[pgbouncer]\n" % (
                self.cluster.host, self.cluster.port))
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))

    def start(self):
        self._write_config()
        kw = {}
        if is_root():
            pw = pwd.getpwnam(self.cluster.os_user)
            for name in os.listdir(self.base) + [""]:
                os.chown(os.path.join(self.base, name), pw.pw_uid, pw.pw_gid)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        log = open(os.path.join(self.base, "stderr.log"), "ab")
        self.proc = subprocess.Popen([PGBOUNCER_BIN, self.ini], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, cwd=self.base,
                                     start_new_session=True, **kw)
        log.close()
        try:
            wait_until(self._accepting, 30, what="pgbouncer to accept connections")
        except BaseException as e:
            # not left running (nor its directory) by a start that failed
            if isinstance(e, HarnessError):
                e.args = ("%s; pgbouncer log tail:\n%s\nstderr tail:\n%s" % (
                    e, tail(self.logfile, 20), tail(os.path.join(self.base, "stderr.log"), 20)),)
            try:
                self.stop()
            except Exception:  # noqa: BLE001 - the start's own error is the one to see
                pass
            raise
        return self

    def _accepting(self):
        if self.proc.poll() is not None:
            raise HarnessError("pgbouncer exited with %s:\n%s" % (
                self.proc.returncode, tail(os.path.join(self.base, "stderr.log"), 20)))
        self.connect("postgres").close()
        return True

    def url(self, database):
        """database's URL through pgbouncer (same role and database name)."""
        return "postgresql://%s@%s:%d/%s" % (database.owner, self.host, self.port, database.name)

    def connect(self, dbname, user=None):
        import psycopg2  # Debian: python3-psycopg2
        conn = psycopg2.connect(host=self.host, port=self.port, user=user or self.cluster.superuser,
                                dbname=dbname, connect_timeout=10)
        conn.autocommit = True
        return conn

    def show(self, what):
        """SHOW <what> on pgbouncer's admin console: a list of dicts (column -> value)."""
        conn = self.connect("pgbouncer")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW %s" % what)
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: immediate shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)


class Database:
    """One database of a PgCluster. SQL helpers connect as the cluster superuser, a fresh
    connection per call (so they survive PostgreSQL restarts)."""

    def __init__(self, cluster, name, owner):
        self.cluster = cluster
        self.name = name
        self.owner = owner

    @property
    def url(self):
        return "postgresql://%s@%s:%d/%s" % (self.owner, self.cluster.host, self.cluster.port,
                                             self.name)

    def connect(self, user=None):
        return self.cluster.connect(self.name, user=user)

    def query(self, sql, params=None, role=None, setup=()):
        """Runs sql as the superuser (or, with role=, after SET ROLE) and returns all rows
        (or [] for statements without a result). setup: statements run first, same session."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                for s in setup:
                    cur.execute(s)
                if role is not None:
                    cur.execute('SET ROLE "%s"' % role)
                cur.execute(sql, params)
                if cur.description is None:
                    return cur.rowcount
                return cur.fetchall()
        finally:
            conn.close()

    def scalar(self, sql, params=None):
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def table_owner(self, schema, table):
        return self.scalar("SELECT tableowner FROM pg_tables WHERE schemaname=%s AND tablename=%s",
                           (schema, table))

    def column_type(self, schema, table, column):
        return self.scalar(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname=%s AND c.relname=%s AND a.attname=%s AND NOT a.attisdropped",
            (schema, table, column))

    def has_column(self, schema, table, column):
        return self.column_type(schema, table, column) is not None

    # intentd-specific helpers (public contract tables, SPEC/issue 2 item 4)
    def counts(self):
        """Row counts of the tables a rejected request must not change."""
        out = {}
        for t in ("intents", "ledger", "internal_tasks", "internal_notes", "internal_briefs"):
            out[t] = self.scalar("SELECT count(*) FROM intentd.%s" % t)
        return out

    def intent_identities(self):
        """{(tenant_id, action_intent_id): (intent_hash hex, md5 of the stored intent,
        submission_id)} for every intent: what a rejected or idempotent request must not
        rewrite (the intent itself as a digest, to keep large databases cheap to compare)."""
        rows = self.query("SELECT tenant_id, action_intent_id, encode(intent_hash, 'hex'), "
                          "md5(intent::text), submission_id FROM intentd.intents")
        return {(r[0], r[1]): tuple(r[2:]) for r in rows}

    def nonterminal_count(self):
        return self.scalar("SELECT count(*) FROM intentd.intents WHERE state <> ALL(%s)",
                           (list(TERMINAL_STATES),))

    def wait_quiescent(self, timeout=STATE_TIMEOUT):
        wait_until(lambda: self.nonterminal_count() == 0, timeout,
                   what="every intent in the database to be terminal")

    def intent_state(self, intent_id, tenant_id=None):
        if tenant_id is None:
            return self.scalar("SELECT state FROM intentd.intents WHERE action_intent_id=%s",
                               (intent_id,))
        return self.scalar("SELECT state FROM intentd.intents WHERE action_intent_id=%s "
                           "AND tenant_id=%s", (intent_id, tenant_id))

    def effect_count(self, table, intent_id, tenant_id=None):
        if tenant_id is None:
            return self.scalar("SELECT count(*) FROM intentd.%s WHERE action_intent_id=%%s" % table,
                               (intent_id,))
        return self.scalar("SELECT count(*) FROM intentd.%s WHERE action_intent_id=%%s "
                           "AND tenant_id=%%s" % table, (intent_id, tenant_id))

    def ledger_rows(self, intent_id, tenant_id=None):
        sql = ("SELECT seq, event, from_state, to_state, node_id, actor, payload, created_at "
               "FROM intentd.ledger WHERE action_intent_id=%s")
        params = [intent_id]
        if tenant_id is not None:
            sql += " AND tenant_id=%s"
            params.append(tenant_id)
        sql += " ORDER BY seq"
        rows = self.query(sql, params)
        keys = ("seq", "event", "from_state", "to_state", "node_id", "actor", "payload",
                "created_at")
        return [dict(zip(keys, r)) for r in rows]


# --------------------------------------------------------------------------------------------
# HTTP


RESPONSE_OBSERVERS = []  # callables (port, method, target, Response); see integration/conftest.py


def observe_response(port, method, target, resp):
    """Hands every response a test receives to the observers (the OpenAPI conformance check).
    method/target are None when the request line could not be parsed (deliberately malformed)."""
    for fn in list(RESPONSE_OBSERVERS):
        fn(port, method, target, resp)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception:  # noqa: BLE001
            return None

    def __repr__(self):
        body = self.body[:600].decode("utf-8", "replace")
        return "<Response %d %s>" % (self.status, body)


class Client:
    """HTTP/1.1 client for intentd. Keeps one keep-alive connection (not thread-safe: one
    Client per thread). Every request carries X-Request-ID (generated unless given)."""

    def __init__(self, host, port, token=None, timeout=60.0):
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self._conn = None
        self.last_request_id = None

    def with_token(self, token):
        return Client(self.host, self.port, token=token, timeout=self.timeout)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, body=None, headers=None, token=None, request_id=None,
                content_type="application/json"):
        hdrs = {}
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = canonical(body)
        if body is not None and content_type:
            hdrs["Content-Type"] = content_type
        tok = self.token if token is None else token
        if tok:
            hdrs["Authorization"] = "Bearer %s" % tok
        rid = request_id or ("test-" + uuid.uuid4().hex)
        hdrs["X-Request-ID"] = rid
        self.last_request_id = rid
        if headers:
            for k, v in headers.items():
                if v is None:
                    hdrs.pop(k, None)
                else:
                    hdrs[k] = v
        for attempt in (0, 1):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=hdrs)
                r = self._conn.getresponse()
                data = r.read()
                resp = Response(r.status, r.getheaders(), data)
                observe_response(self.port, method, path, resp)
                if (r.getheader("Connection") or "").lower() == "close":
                    self.close()
                return resp
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                # a keep-alive connection the server had already closed: retry once on a new
                # connection (what every HTTP client library does)
                if reused and attempt == 0:
                    continue
                raise
            except Exception:
                self.close()
                raise
        raise AssertionError("unreachable")

    # convenience
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body if body is not None else b"", **kw)

    def submit(self, intent, key=None, t=None, signature=None, headers=None, **kw):
        """POST /v1/intents. intent: dict (sent as compact JSON) or raw bytes. Signs with key
        unless signature is given (signature=False sends no Intent-Signature header)."""
        body = intent if isinstance(intent, (bytes, bytearray)) else canonical(intent)
        h = dict(headers or {})
        if signature is None and key is not None:
            h["Intent-Signature"] = sign(body, key, t)
        elif signature:
            h["Intent-Signature"] = signature
        return self.request("POST", "/v1/intents", body=body, headers=h, **kw)

    def batch(self, intents, key=None, t=None, signature=None, headers=None, **kw):
        body = intents if isinstance(intents, (bytes, bytearray)) else canonical(
            {"intents": intents})
        h = dict(headers or {})
        if signature is None and key is not None:
            h["Intent-Signature"] = sign(body, key, t)
        elif signature:
            h["Intent-Signature"] = signature
        return self.request("POST", "/v1/intents:batch", body=body, headers=h, **kw)

    def intent(self, intent_id, tenant_id=None, **kw):
        path = "/v1/intents/%s" % intent_id
        if tenant_id:
            path += "?tenant_id=%s" % tenant_id
        return self.get(path, **kw)

    def timeline(self, intent_id, tenant_id=None, **kw):
        path = "/v1/intents/%s/timeline" % intent_id
        if tenant_id:
            path += "?tenant_id=%s" % tenant_id
        return self.get(path, **kw)

    def cancel(self, intent_id, reason="test", body=None, **kw):
        if body is None:
            body = {"reason": reason}
        return self.post("/v1/intents/%s/cancel" % intent_id, body=body, **kw)

    def executions(self, account_id=None, **params):
        from urllib.parse import urlencode
        path = "/v1/executions" if account_id is None else "/v1/accounts/%s/executions" % account_id
        q = {k: v for k, v in params.items() if v is not None}
        if q:
            path += "?" + urlencode(q)
        return self.get(path)

    def verify_ledger(self, **kw):
        return self.get("/v1/ledger/verify", **kw)

    def wait_for_state(self, intent_id, states, timeout=STATE_TIMEOUT, tenant_id=None):
        """Polls GET /v1/intents/{id} until state is one of states; returns the body."""
        if isinstance(states, str):
            states = (states,)
        seen = {}

        def check():
            r = self.intent(intent_id, tenant_id=tenant_id)
            if r.status == 200:
                seen["last"] = r.json
                if r.json.get("state") in states:
                    return r.json
            else:
                seen["last"] = r
            return None

        try:
            return wait_until(check, timeout, interval=0.1,
                              what="intent %s to reach %s" % (intent_id, "/".join(states)))
        except HarnessError as e:
            raise HarnessError("%s; last seen: %r" % (e, seen.get("last")))


def raw_http(host, port, data, body=None, timeout=30.0, read_limit=1 << 20, early_wait=1.0):
    """Sends raw bytes (data, then body if given) and parses one HTTP response (status, headers,
    body). When body is given, waits up to early_wait seconds after the head for an early answer
    (a server refusing a too-large Content-Length) before sending it. Tolerates the server
    answering and closing before it read everything we sent (413/431)."""
    import select
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if body is not None:
                ready, _, _ = select.select([s], [], [], early_wait)
                if not ready:
                    s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            if len(buf) > read_limit:
                break
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                cl = None
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        cl = int(v.strip())
                if cl is not None and len(rest) >= cl:
                    break
    finally:
        s.close()
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/"):
        raise HarnessError("no HTTP response (got %r)" % buf[:200])
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.strip().decode("latin-1"), v.strip().decode("latin-1")))
    resp = Response(status, headers, rest)
    request_line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(request_line) == 3 and request_line[2].startswith("HTTP/"):
        observe_response(port, request_line[0], request_line[1], resp)
    else:
        observe_response(port, None, None, resp)
    return resp


# --------------------------------------------------------------------------------------------
# intentd


def intentd_binary():
    return os.environ.get("INTENTD_BIN", os.path.join(REPO, "build", "engine", "intentd"))


REGISTRY = []  # every Intentd created in this pytest process (for failure reports)


_MASTER_KEYS = {}


@atexit.register
def _remove_master_keys():
    for path in _MASTER_KEYS.values():
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def master_key_file(database_name):
    """One 0600 master key file per test database, shared by all its intentd processes (and
    removed when this process exits)."""
    path = _MASTER_KEYS.get(database_name)
    if path is None:
        d = tempfile.mkdtemp(prefix="intentd-key-", dir="/tmp")
        path = os.path.join(d, "master.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (os.urandom(32).hex() + "\n").encode())
        os.close(fd)
        _MASTER_KEYS[database_name] = path
    return path


class Intentd:
    """One intentd process. env: extra environment (value None removes a variable).
    database: a Database (its URL becomes INTENTD_DATABASE_URL) or None for the embedded default."""

    def __init__(self, database=None, env=None, home=None, port=None, node_id=None,
                 admin_token=None, binary=None, embedded=False):
        self.binary = binary or intentd_binary()
        self.database = database
        self.embedded = embedded
        self.home = home or tempfile.mkdtemp(prefix="intentd-home-", dir="/tmp")
        self.port = port or free_port()
        self.node_id = node_id or unique("node-")
        self.admin_token = admin_token or ("adm_" + uuid.uuid4().hex + uuid.uuid4().hex)
        self.env_extra = dict(env or {})
        self.log_path = os.path.join(self.home, "intentd.stderr.log")
        self.proc = None
        self.starts = 0
        self.exit_codes = []
        REGISTRY.append(self)

    # environment
    def environment(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("INTENTD_") and not k.startswith("INTENTD_TEST_"):
                del env[k]
        env.update({
            "INTENTD_LISTEN": "127.0.0.1:%d" % self.port,
            "INTENTD_HOME": self.home,
            "INTENTD_ADMIN_TOKEN": self.admin_token,
            "INTENTD_NODE_ID": self.node_id,
            "INTENTD_LOG_LEVEL": os.environ.get("INTENTD_TEST_LOG_LEVEL", "info"),
        })
        if self.database is not None and not self.embedded:
            env["INTENTD_DATABASE_URL"] = self.database.url
            bouncer = self.database.cluster.pgbouncer
            if bouncer is not None:
                # Through pgbouncer in transaction mode: the pool and migrations go through it,
                # with unnamed statements only; LISTEN goes to PostgreSQL directly.
                env["INTENTD_DATABASE_URL"] = bouncer.url(self.database)
                env["INTENTD_LISTEN_DATABASE_URL"] = self.database.url
                env["INTENTD_DB_PREPARED"] = "0"
            # Every node of one database must share the master key that seals tenant secrets.
            env["INTENTD_MASTER_KEY_FILE"] = master_key_file(self.database.name)
        for k, v in self.env_extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True, timeout=None):
        if self.alive():
            raise HarnessError("intentd %s already running" % self.node_id)
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise HarnessError("intentd binary not found at %s (build it with "
                               "`meson setup build && ninja -C build`, or set INTENTD_BIN)"
                               % self.binary)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(("\n===== harness: start #%d of %s at %s =====\n" % (
            self.starts, self.node_id, time.strftime("%H:%M:%S"))).encode())
        log.flush()
        self.proc = subprocess.Popen([self.binary], env=self.environment(), cwd=self.home,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        if wait:
            self.wait_ready(timeout=timeout)
        return self

    def client(self, token=None, timeout=60.0):
        return Client("127.0.0.1", self.port, token=token, timeout=timeout)

    def admin(self):
        return self.client(token=self.admin_token)

    def wait_ready(self, timeout=None):
        timeout = READY_TIMEOUT if timeout is None else timeout
        c = self.client(timeout=5)
        deadline = time.monotonic() + timeout
        last = None
        try:
            while True:
                if self.proc.poll() is not None:
                    raise HarnessError("intentd %s exited with %s before it was ready; stderr "
                                       "tail:\n%s" % (self.node_id, self.proc.returncode,
                                                      self.log_tail()))
                try:
                    r = c.get("/readyz")
                    last = r
                    if r.status == 200:
                        return self
                except (OSError, http.client.HTTPException) as e:
                    last = e
                    c.close()
                if time.monotonic() >= deadline:
                    raise HarnessError("intentd %s not ready after %.0f s (last /readyz: %r); "
                                       "stderr tail:\n%s" % (self.node_id, timeout, last,
                                                             self.log_tail()))
                time.sleep(0.1)
        finally:
            c.close()

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code (negative: killed by that signal). If it does
        not exit within timeout it is SIGKILLed and HarnessError is raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_codes.append(self.proc.returncode)
                raise HarnessError("intentd %s did not exit within %d s of SIGTERM; stderr tail:"
                                   "\n%s" % (self.node_id, timeout, self.log_tail()))
        rc = self.proc.returncode
        self.exit_codes.append(rc)
        return rc

    def wait_exit(self, timeout=60, expect=None):
        """Waits for the process to end by itself; returns its exit code. An exit code equal to
        expect (a refusal the test asserts) is not held against the run under a memory checker,
        which would have exited with its own code instead."""
        self.proc.wait(timeout=timeout)
        if self.proc.returncode != expect:
            self.exit_codes.append(self.proc.returncode)
        return self.proc.returncode

    def kill9(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.exit_codes.append(self.proc.returncode)
        return self.proc.returncode

    def restart(self, env=None, kill=False, timeout=None):
        """Stops (SIGTERM, or SIGKILL with kill=True) and starts again; env updates the extra
        environment first (value None removes a variable). Returns the stop's exit code."""
        rc = self.kill9() if kill else self.stop()
        if env:
            self.env_extra.update(env)
        self.start(timeout=timeout)
        return rc

    def log_tail(self, lines=80):
        return tail(self.log_path, lines)

    def cleanup(self):
        try:
            if self.alive():
                try:
                    self.stop(timeout=120)
                except HarnessError:
                    pass
        finally:
            if self.alive():
                self.kill9()
        # Under a memory checker (tests/valgrind-intentd, or ASan with an exit code) a graceful
        # stop that exits non-zero means the checker found something: fail loudly.
        if os.environ.get("INTENTD_TEST_STRICT_EXIT") == "1":
            bad = [rc for rc in self.exit_codes if rc not in (0, -signal.SIGKILL)]
            if bad:
                raise HarnessError("intentd %s exited with %r (memory checker report in %s)"
                                   % (self.node_id, bad, self.home))

    def remove_home(self):
        """Deletes INTENTD_HOME (logs included) unless INTENTD_TEST_KEEP=1."""
        if os.environ.get("INTENTD_TEST_KEEP") == "1" or self.alive():
            return
        shutil.rmtree(self.home, ignore_errors=True)

    # tenants
    def create_tenant(self, tenant_id=None):
        return create_tenant(self.admin(), tenant_id)


class Tenant:
    def __init__(self, tenant_id, approval_key, tokens):
        self.tenant_id = tenant_id
        self.approval_key = approval_key
        self.key = approval_key
        self.tokens = tokens
        self.operator = tokens.get("operator")
        self.oncall = tokens.get("oncall")

    def intent(self, **overrides):
        overrides.setdefault("tenant_id", self.tenant_id)
        return make_intent(**overrides)

    def __repr__(self):
        return "<Tenant %s>" % self.tenant_id


def create_tenant(admin_client, tenant_id=None):
    tenant_id = tenant_id or unique("t")
    r = admin_client.post("/v1/tenants", body={"tenant_id": tenant_id})
    if r.status != 201:
        raise HarnessError("POST /v1/tenants %s -> %r" % (tenant_id, r))
    b = r.json
    return Tenant(b["tenant_id"], b["approval_key"], b["tokens"])


# --------------------------------------------------------------------------------------------
# a retrying submitter, as the approval service behaves (crash / restart tests)


class RetryingSubmitter(threading.Thread):
    """Submits the given intents in batches to one or more intentd endpoints, retrying each batch
    with the identical body (re-signed with a fresh t) on connection errors and 503 until it is
    answered 200. Records each intent's per-item status; any status other than 200/202 for an
    item is a failure recorded in self.bad."""

    def __init__(self, endpoints, tenant, intents, batch_size=500, give_up_after=900.0,
                 name="submitter"):
        super().__init__(name=name, daemon=True)
        self.endpoints = list(endpoints)  # callables returning (host, port), or (host, port)
        self.tenant = tenant
        self.intents = intents
        self.batch_size = batch_size
        self.give_up_after = give_up_after
        self.accepted = {}  # id -> first 2xx item status seen
        self.bad = []  # (id, status, error) for unexpected item results
        self.http_errors = {}  # status -> count of non-200 whole-batch answers
        self.conn_errors = 0
        self.retries = 0
        self.error = None
        self.stop_flag = threading.Event()
        self.done = threading.Event()

    def _endpoint(self, i):
        ep = self.endpoints[i % len(self.endpoints)]
        return ep() if callable(ep) else ep

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001
            self.error = e
        finally:
            self.done.set()

    def _run(self):
        rr = 0
        clients = {}
        for start in range(0, len(self.intents), self.batch_size):
            chunk = self.intents[start:start + self.batch_size]
            body = canonical({"intents": chunk})
            deadline = time.monotonic() + self.give_up_after
            while True:
                if self.stop_flag.is_set():
                    return
                host, port = self._endpoint(rr)
                rr += 1
                c = clients.get((host, port))
                if c is None:
                    c = clients[(host, port)] = Client(host, port, timeout=120)
                try:
                    r = c.batch(body, key=self.tenant.approval_key)
                except (OSError, http.client.HTTPException):
                    self.conn_errors += 1
                    r = None
                if r is not None and r.status == 200:
                    results = r.json["results"]
                    if len(results) != len(chunk):
                        self.bad.append((None, r.status, "results length %d != %d" % (
                            len(results), len(chunk))))
                    for item, res in zip(chunk, results):
                        iid = item["action_intent_id"]
                        if res.get("action_intent_id") != iid:
                            self.bad.append((iid, res.get("status"), "result out of order: %r"
                                             % res))
                        elif res.get("status") in (200, 202):
                            self.accepted.setdefault(iid, res["status"])
                        else:
                            self.bad.append((iid, res.get("status"), res))
                    break
                if r is not None:
                    self.http_errors[r.status] = self.http_errors.get(r.status, 0) + 1
                    if r.status != 503:
                        self.bad.append((None, r.status, r.body[:300]))
                        break
                self.retries += 1
                if time.monotonic() > deadline:
                    raise HarnessError("batch at %d never accepted" % start)
                time.sleep(0.2)
        for c in clients.values():
            c.close()


# --------------------------------------------------------------------------------------------
# assertions shared by the tests


def submit_batches(inst, tenant, n, prefix):
    """n new intents of tenant through POST /v1/intents:batch (1,000 a request), each
    accepted (202)."""
    c = inst.client()
    try:
        for start in range(0, n, 1000):
            batch = [tenant.intent(action_intent_id=unique(prefix))
                     for _ in range(min(1000, n - start))]
            r = c.batch(batch, key=tenant.key)
            assert r.status == 200, r
            assert {x["status"] for x in r.json["results"]} == {202}, r.json["results"][:3]
    finally:
        c.close()


def sql_claim(cur, node, limit):
    """intentd.claim as the engine calls it (lease 300 s, quarantine after 3): each claimed
    row's key, account, submission time, fence and version, the fields an op names it by."""
    cur.execute("SELECT tenant_id, action_intent_id, account_id, fence, version, submitted_us "
                "FROM intentd.claim(%s, %s, 300, 3)", (node, limit))
    return [{"tenant_id": t, "action_intent_id": i, "account_id": a, "fence": f, "version": v,
             "submitted_us": s} for t, i, a, f, v, s in cur.fetchall()]


def sql_apply(cur, node, ops):
    """intentd.apply of ops as the engine sends them; asserts that every op applied ('ok')
    and sets each op's version to its row's new one, ready for the next step."""
    cur.execute("SELECT idx, result, version FROM intentd.apply(%s, %s::jsonb) ORDER BY idx",
                (node, json.dumps(ops)))
    rows = cur.fetchall()
    assert [(i, r) for i, r, _ in rows] == [(i, "ok") for i in range(len(ops))], rows
    for op, (_, _, version) in zip(ops, rows):
        op["version"] = version


def explain_to_notices(cur):
    """Has every statement of this session, nested ones included, send its executed plan
    (with row counts, without timings) back as a NOTICE (the connection's notices)."""
    for s in ("LOAD 'auto_explain'",
              "SET auto_explain.log_min_duration = 0",
              "SET auto_explain.log_analyze = on",
              "SET auto_explain.log_timing = off",
              "SET auto_explain.log_nested_statements = on",
              "SET auto_explain.log_level = notice",
              "SET client_min_messages = notice"):
        cur.execute(s)


def assert_problem(r, status):
    """r is an RFC 9457 problem with this status; returns its body."""
    assert r.status == status, "expected %d, got %r" % (status, r)
    ct = (r.header("Content-Type") or "").split(";")[0].strip()
    assert ct == "application/problem+json", "Content-Type %r for %r" % (ct, r)
    b = r.json
    assert isinstance(b, dict), r
    assert b.get("status") == status, b
    assert str(b.get("type", "")).startswith("https://intentd.dev/problems/"), b
    assert b.get("title"), b
    assert b.get("detail"), b
    rid = r.header("X-Request-ID")
    assert rid, "problem without X-Request-ID header"
    assert b.get("request_id") == rid, (b, rid)
    return b


def error_pointers(body):
    return [e.get("pointer") for e in (body.get("errors") or [])]


def has_error_at(body, pointer, name=None):
    """True when body.errors has an entry at pointer, or (for a missing/unknown member called
    name) at its parent object with a message naming it, as JSON Schema validators report
    `required` and `additionalProperties`."""
    errors = body.get("errors") or []
    for e in errors:
        assert isinstance(e.get("pointer"), str) and isinstance(e.get("message"), str), e
        assert e["message"], e
    if any(e["pointer"] == pointer for e in errors):
        return True
    if name is not None:
        parent = pointer.rsplit("/", 1)[0]
        for e in errors:
            if e["pointer"] in (parent, parent + "/") and name in e["message"]:
                return True
    return False


def postgres_processes_under(path):
    """PIDs of live postgres processes whose command line mentions path or whose working
    directory is under it (the postmaster chdirs into its data directory)."""
    path = os.path.realpath(path)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            try:
                cwd = os.readlink("/proc/%s/cwd" % entry)
            except OSError:
                cwd = ""
            uid = os.stat("/proc/%s" % entry).st_uid
        except OSError:
            continue
        after = stat.rsplit(")", 1)[-1].split()
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        if after and after[0] == "Z":
            continue
        if "postgres" not in cmd and "postmaster" not in cmd and "postgres" not in comm:
            continue
        if path in cmd or cwd == path or cwd.startswith(path + "/"):
            found.append((int(entry), uid, cmd.strip()))
    return found
