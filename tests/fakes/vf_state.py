"""Everything the vendor fake remembers: configuration, bearer/OAuth tokens, vendor objects,
the effect record, the bounded request log, per-route statistics and fault rules.

The server is one asyncio thread, so nothing here is locked.
"""

import collections
import random
import re
import secrets
import time

VENDORS = ("hubspot", "calendar", "gmail", "slack", "webhook")
FAULT_ACTIONS = ("status", "delay", "timeout", "reset_before", "reset_after", "expire_token")
DEFAULT_OAUTH = {
    "client_id": "fake-client",
    "client_secret": "fake-secret",
    "refresh_token": "fake-refresh",
    "access_ttl_s": 3600,
}
DEFAULT_REQUEST_LOG_MAX = 10000
MAX_REQUEST_LOG_MAX = 1000000
LOG_BODY_MAX = 64 * 1024
# far beyond any client timeout in the test suites, short enough that a forgotten one ends
DEFAULT_TIMEOUT_HOLD_MS = 600000
MAX_DELAY_MS = 3600 * 1000


class ConfigError(ValueError):
    pass


def _default_config():
    return {
        "delay_ms": 0,
        "tokens": {},
        "oauth": dict(DEFAULT_OAUTH),
        "hubspot_unique_property": "intentd_idempotency_key",
        "seed": None,
        "request_log_max": DEFAULT_REQUEST_LOG_MAX,
        "timeout_hold_ms": DEFAULT_TIMEOUT_HOLD_MS,
    }


def _int_in(v, lo, hi, what):
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        raise ConfigError("%s must be an integer in [%d, %d]" % (what, lo, hi))
    return v


class FaultRule:
    __slots__ = ("id", "method", "path_regex", "regex", "action", "status", "body", "retry_after",
                 "delay_ms", "count", "probability", "apply", "fired")

    def __init__(self, rule_id, spec):
        if not isinstance(spec, dict):
            raise ConfigError("a fault rule is a JSON object")
        known = {"method", "path_regex", "action", "status", "body", "retry_after", "delay_ms",
                 "count", "probability", "apply"}
        extra = set(spec) - known
        if extra:
            raise ConfigError("unknown fault fields: %s" % ", ".join(sorted(extra)))
        self.id = rule_id
        self.method = spec.get("method")
        if self.method is not None:
            if not isinstance(self.method, str) or not self.method:
                raise ConfigError("method must be a non-empty string")
            self.method = self.method.upper()
        self.path_regex = spec.get("path_regex")
        if not isinstance(self.path_regex, str):
            raise ConfigError("path_regex (string) is required")
        try:
            self.regex = re.compile(self.path_regex)
        except re.error as e:
            raise ConfigError("path_regex does not compile: %s" % e)
        self.action = spec.get("action")
        if self.action not in FAULT_ACTIONS:
            raise ConfigError("action must be one of %s" % ", ".join(FAULT_ACTIONS))
        self.status = spec.get("status")
        if self.action == "status":
            _int_in(self.status, 200, 599, "status")
        elif self.status is not None:
            raise ConfigError("status only goes with action \"status\"")
        self.body = spec.get("body")
        self.retry_after = spec.get("retry_after")
        if self.retry_after is not None:
            if isinstance(self.retry_after, bool) or not isinstance(self.retry_after, (int, str)):
                raise ConfigError("retry_after must be an integer or a string")
            if isinstance(self.retry_after, str) and ("\r" in self.retry_after
                                                      or "\n" in self.retry_after):
                raise ConfigError("retry_after must be one header line")
        self.delay_ms = spec.get("delay_ms")
        if self.delay_ms is not None:
            _int_in(self.delay_ms, 0, MAX_DELAY_MS, "delay_ms")
        elif self.action == "delay":
            raise ConfigError("delay_ms is required for action \"delay\"")
        self.count = spec.get("count", 1)
        _int_in(self.count, -1, 1 << 31, "count")
        if self.count == 0:
            raise ConfigError("count must be -1 (forever) or positive")
        self.probability = spec.get("probability")
        if self.probability is not None:
            if (isinstance(self.probability, bool)
                    or not isinstance(self.probability, (int, float))
                    or not 0 <= self.probability <= 1):
                raise ConfigError("probability must be a number in [0, 1]")
        self.apply = spec.get("apply", True)
        if not isinstance(self.apply, bool):
            raise ConfigError("apply must be a boolean")
        self.fired = 0

    def matches(self, method, path):
        if self.count == 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.regex.search(path) is not None

    def describe(self):
        return {k: getattr(self, k) for k in self.__slots__ if k != "regex"}


class State:
    def __init__(self):
        self.reset()

    def reset(self):
        self.config = _default_config()
        self.rng = random.Random()
        self.effects = []
        self.hubspot = {}          # object type -> {id: object}
        self.hubspot_index = {}    # (object type, unique value) -> id, live objects only
        self.hubspot_index_prop = None
        self.calendar = {}         # calendar id -> {event id: event}
        self.gmail = {}            # user id -> {draft id: draft}
        self.gmail_msgids = {}     # (user id, Message-ID without <>) -> [draft id]
        self.hook_keys = {}        # Idempotency-Key -> stored call
        self.hook_calls = {}       # external id -> effect
        self.access_tokens = {}    # token -> expiry (monotonic seconds)
        self.oauth_issued = 0
        self.faults = []
        self.next_fault_id = 1
        self.requests = collections.deque(maxlen=DEFAULT_REQUEST_LOG_MAX)
        self.request_seq = 0
        self.routes = {}
        self.next_id = 1
        self.started = time.time()

    # ---- configuration -------------------------------------------------------------------

    def apply_config(self, patch):
        if not isinstance(patch, dict):
            raise ConfigError("config is a JSON object")
        known = set(_default_config())
        extra = set(patch) - known
        if extra:
            raise ConfigError("unknown config keys: %s" % ", ".join(sorted(extra)))
        new = dict(self.config)
        if "delay_ms" in patch:
            new["delay_ms"] = _int_in(patch["delay_ms"], 0, MAX_DELAY_MS, "delay_ms")
        if "timeout_hold_ms" in patch:
            new["timeout_hold_ms"] = _int_in(patch["timeout_hold_ms"], 0, MAX_DELAY_MS,
                                             "timeout_hold_ms")
        if "tokens" in patch:
            new["tokens"] = self._check_tokens(patch["tokens"])
        if "oauth" in patch:
            new["oauth"] = self._check_oauth(patch["oauth"])
        if "hubspot_unique_property" in patch:
            p = patch["hubspot_unique_property"]
            if p is not None and (not isinstance(p, str) or not p):
                raise ConfigError("hubspot_unique_property must be a non-empty string or null")
            new["hubspot_unique_property"] = p
        if "seed" in patch:
            s = patch["seed"]
            if s is not None and (isinstance(s, bool) or not isinstance(s, (int, str))):
                raise ConfigError("seed must be an integer, a string or null")
            new["seed"] = s
        if "request_log_max" in patch:
            new["request_log_max"] = _int_in(patch["request_log_max"], 1, MAX_REQUEST_LOG_MAX,
                                             "request_log_max")
        self.config = new
        if "seed" in patch:
            self.rng = random.Random(new["seed"])
        if "request_log_max" in patch:
            self.requests = collections.deque(self.requests, maxlen=new["request_log_max"])
        return self.config

    @staticmethod
    def _check_tokens(tokens):
        if not isinstance(tokens, dict):
            raise ConfigError("tokens is {vendor: [token, ...]}")
        out = {}
        for vendor, lst in tokens.items():
            if vendor not in VENDORS:
                raise ConfigError("tokens: unknown vendor %r (one of %s)"
                                  % (vendor, ", ".join(VENDORS)))
            if lst is None:
                continue
            if not isinstance(lst, list) or not all(isinstance(t, str) and t for t in lst):
                raise ConfigError("tokens.%s must be a list of non-empty strings or null"
                                  % vendor)
            out[vendor] = list(lst)
        return out

    @staticmethod
    def _check_oauth(oauth):
        if not isinstance(oauth, dict):
            raise ConfigError("oauth is a JSON object")
        extra = set(oauth) - set(DEFAULT_OAUTH)
        if extra:
            raise ConfigError("unknown oauth keys: %s" % ", ".join(sorted(extra)))
        out = dict(DEFAULT_OAUTH)
        for k in ("client_id", "client_secret", "refresh_token"):
            if k in oauth:
                if not isinstance(oauth[k], str) or not oauth[k]:
                    raise ConfigError("oauth.%s must be a non-empty string" % k)
                out[k] = oauth[k]
        if "access_ttl_s" in oauth:
            out["access_ttl_s"] = _int_in(oauth["access_ttl_s"], 1, 10 * 365 * 86400,
                                          "oauth.access_ttl_s")
        return out

    # ---- auth ----------------------------------------------------------------------------

    def check_auth(self, vendor, token):
        """None when the call may proceed, else "missing", "invalid" or "expired"."""
        accepted = self.config["tokens"].get(vendor)
        if accepted is None:
            return None
        if token is None:
            return "missing"
        if token in accepted:
            return None
        exp = self.access_tokens.get(token)
        if exp is None:
            return "invalid"
        if exp <= time.monotonic():
            return "expired"
        return None

    def issue_access_token(self):
        token = "fake-at-" + secrets.token_hex(16)
        self.access_tokens[token] = time.monotonic() + self.config["oauth"]["access_ttl_s"]
        self.oauth_issued += 1
        return token

    def expire_access_tokens(self):
        now = time.monotonic()
        n = 0
        for t, exp in self.access_tokens.items():
            if exp > now:
                self.access_tokens[t] = now
                n += 1
        return n

    # ---- effects and ids -----------------------------------------------------------------

    def new_id(self):
        n = self.next_id
        self.next_id += 1
        return n

    def record_effect(self, vendor, kind, ext_id, marker, body, **extra):
        eff = {
            "seq": len(self.effects) + 1,
            "vendor": vendor,
            "kind": kind,
            "id": ext_id,
            "marker": marker,
            "state": "live",
            "body": body,
            "created_at": time.time(),
            "deleted_at": None,
        }
        eff.update(extra)
        self.effects.append(eff)
        return eff

    @staticmethod
    def end_effect(eff, state):
        eff["state"] = state
        eff["deleted_at"] = time.time()

    # ---- request log and statistics ------------------------------------------------------

    def log_request(self, req, vendor):
        self.request_seq += 1
        body = req.body
        truncated = len(body) > LOG_BODY_MAX
        entry = {
            "seq": self.request_seq,
            "time": time.time(),
            "vendor": vendor,
            "method": req.method,
            "path": req.path,
            "query": req.query_string,
            "headers": dict(req.header_list),
            "body": body[:LOG_BODY_MAX].decode("utf-8", "replace"),
            "body_truncated": truncated,
            "status": None,
            "fault": None,
        }
        self.requests.append(entry)
        return entry

    def count_route(self, route, status):
        per = self.routes.get(route)
        if per is None:
            per = self.routes[route] = {}
        key = str(status)
        per[key] = per.get(key, 0) + 1

    # ---- faults --------------------------------------------------------------------------

    def add_fault(self, spec):
        rule = FaultRule(self.next_fault_id, spec)
        self.next_fault_id += 1
        self.faults.append(rule)
        return rule

    def pick_faults(self, method, path):
        """The delay rules that fire plus the first other rule that fires (or None), in the
        order the rules were added. Firing uses up one of a rule's count."""
        if not self.faults:
            return (), None
        delays = []
        for rule in self.faults:
            if not rule.matches(method, path):
                continue
            if rule.probability is not None and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            if rule.count > 0:
                rule.count -= 1
            if rule.action == "delay":
                delays.append(rule)
                continue
            return delays, rule
        return delays, None
