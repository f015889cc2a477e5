#!/usr/bin/env python3
"""Loopback vendor fake for intentd's integration, crash and benchmark tests.

One asyncio HTTP/1.1 server (Python standard library only) speaking the vendor shapes of
docs/connectors-wire.md: HubSpot CRM v3, Google Calendar v3, Gmail v1, Slack incoming webhooks,
a generic idempotent webhook receiver and an OAuth2 token endpoint, plus a JSON control API
under /_fake/ (effects, request log, config, fault rules, stats). See README.md beside it.

    python3 tests/fakes/vendor_fake.py --port 0 --port-file PATH [--host 127.0.0.1]
"""

import argparse
import asyncio
import os
import resource
import signal
import socket
import struct
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vf_control  # noqa: E402
import vf_crm  # noqa: E402
import vf_google  # noqa: E402
import vf_hooks  # noqa: E402
from vf_common import fault_response  # noqa: E402
from vf_http import HttpError, MAX_HEAD, json_response, read_request, text_response  # noqa: E402
from vf_state import State  # noqa: E402

# path prefix -> vendor; the first match wins
ROUTES = (
    ("/crm/v3/objects/", vf_crm.VENDOR),
    ("/calendar/v3/calendars/", vf_google.CALENDAR),
    ("/calendars/", vf_google.CALENDAR),
    ("/gmail/v1/users/", vf_google.GMAIL),
    ("/services/", vf_hooks.SLACK),
    ("/hooks/", vf_hooks.WEBHOOK),
    ("/oauth2/", vf_hooks.OAUTH),
)
CONTROL_PREFIX = "/_fake/"
WRITE_HIGH_WATER = 256 * 1024


class _Drop:
    """What to do with the connection instead of answering."""

    def __init__(self, how, hold_s=0.0):
        self.how = how        # "reset" or "hold"
        self.hold_s = hold_s


def _route(path):
    for prefix, vendor in ROUTES:
        if path.startswith(prefix):
            return vendor
    return None


def _reset(writer):
    # SO_LINGER 0 turns close() into a TCP RST, which is what a crashed peer looks like
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class FakeServer:
    def __init__(self):
        self.state = State()
        self.conns_open = 0
        self.conns_total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = time.time()
        self.server = None
        self._tasks = set()

    # ---- one request ---------------------------------------------------------------------

    def _call(self, vendor, req):
        if vendor.auth_error is not None:
            why = self.state.check_auth(vendor.name, req.bearer())
            if why is not None:
                return vendor.name + ".auth", vendor.auth_error(why)
        try:
            return vendor.handle(self.state, req)
        except Exception:  # noqa: BLE001 - a handler bug must answer 500, not kill the fake
            traceback.print_exc(file=sys.stderr)
            return vendor.name + ".error", json_response(500, {"error": "fake handler raised"})

    async def process(self, req):
        """A Response, or a _Drop telling the connection loop to reset or hold."""
        path = req.path
        if path.startswith(CONTROL_PREFIX):
            return vf_control.handle(self, req)[1]
        vendor = _route(path)
        state = self.state
        if vendor is None:
            state.count_route("unknown", 404)
            return json_response(404, {"error": "no vendor route for %s" % path})
        entry = state.log_request(req, vendor.name)
        delays, rule = state.pick_faults(req.method, path)
        delay_ms = state.config["delay_ms"] + sum(d.delay_ms for d in delays)
        if delays:
            entry["fault"] = "delay"
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000.0)
        action = rule.action if rule is not None else None
        if action is not None:
            entry["fault"] = action
        if action == "status":
            resp = fault_response(vendor, rule)
            route, outcome = vendor.name + ".fault", resp.status
        elif action == "reset_before":
            route, outcome, resp = vendor.name + ".fault", "reset", _Drop("reset")
        elif action == "timeout" and not rule.apply:
            route, outcome = vendor.name + ".fault", "timeout"
            resp = _Drop("hold", self._hold_s(rule))
        else:
            if action == "expire_token":
                state.expire_access_tokens()
            route, resp = self._call(vendor, req)
            outcome = resp.status
            if action == "reset_after":
                outcome, resp = "reset", _Drop("reset")
            elif action == "timeout":
                outcome, resp = "timeout", _Drop("hold", self._hold_s(rule))
        entry["status"] = outcome
        self.state.count_route(route, outcome)
        return resp

    def _hold_s(self, rule):
        ms = rule.delay_ms if rule.delay_ms is not None else self.state.config["timeout_hold_ms"]
        return ms / 1000.0

    # ---- one connection ------------------------------------------------------------------

    async def _serve(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        self.conns_open += 1
        self.conns_total += 1
        try:
            await self._serve_loop(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.conns_open -= 1
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.transport.close()

    async def _serve_loop(self, reader, writer):
        transport = writer.transport
        while True:
            try:
                req = await read_request(reader, writer)
            except HttpError as e:
                writer.write(text_response(e.status, e.message + "\n").encode(False))
                return
            if req is None:
                return
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            try:
                resp = await self.process(req)
            finally:
                self.in_flight -= 1
            if isinstance(resp, _Drop):
                if resp.how == "hold":
                    await self._hold(reader, resp.hold_s)
                    transport.close()
                else:
                    _reset(writer)
                return
            writer.write(resp.encode(req.keep_alive))
            if not req.keep_alive:
                return
            if transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                await writer.drain()

    @staticmethod
    async def _hold(reader, seconds):
        """Keeps the connection open without answering until the client gives up (EOF) or
        `seconds` pass, so a held request never occupies the fake beyond its client."""
        async def until_eof():
            while await reader.read(65536):
                pass
        try:
            await asyncio.wait_for(until_eof(), seconds)
        except (asyncio.TimeoutError, ConnectionError):
            pass

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self, host, port):
        self.server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD,
                                                 backlog=4096, reuse_address=True)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self.server.wait_closed()


def _raise_fd_limit():
    # thousands of concurrent connections need more descriptors than the usual soft limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


async def _main(args):
    _raise_fd_limit()
    fake = FakeServer()
    port = await fake.start(args.host, args.port)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)   # readers never see a half-written file
    print("vendor fake listening on %s:%d" % (args.host, port), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="written with the bound port once listening")
    args = p.parse_args(argv)
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
