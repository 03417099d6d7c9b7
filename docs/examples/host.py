#!/usr/bin/env python3
"""A minimal plugin-protocol HOST (an engine) in standard-library Python.

It starts the `connector-workday` plugin binary, does the `hello` handshake,
validates the connector against a Workday tenant (e.g. `harness simulate`),
runs its health checks and one full import, acknowledging every page (the
plugin never has more than `--window` pages unacknowledged), and prints:

- on stdout, each change as one JSON line, then one last line
  `{"outcome": {...}, "metrics": {...}}`;
- on stderr, the checks, the plugin's own log lines, and any error.

It types every change with the schema of the `validated` answer, as a host
must (docs/plugin-protocol.md, "What a host must enforce"), and stops on the
first change that does not match.

    harness simulate --port 18089 --workers 50 --orgs 5 &
    python3 docs/examples/host.py --plugin target/debug/connector-workday \
        --base-url http://127.0.0.1:18089 --tenant acme --realm acme \
        --client-id idmesh-demo-client --client-secret demo-secret-not-real

Options for protocol developers (used by harness/tests/host_example.rs):
`--record FILE` writes every line both ways as `{"from": "engine"|"plugin",
"line": "..."}` (the recording holds the validate message, hence the
secret: keep it private); `--tour` runs more requests after the import (a
delta with an unreadable watermark, which fails; a check, which shows the
connector is still validated; a delta from the import's watermark; a
cancelled import; an import whose first page the host refuses in its ack);
`--close-stdin-after-pages N` closes the plugin's stdin after the import's
N-th page (without acknowledging it) and reports how the plugin ended.

Exit status: 0 when the import succeeded, 1 when the plugin reported an
error or broke the protocol, 2 on a usage error.
"""

import argparse
import datetime
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

PROTOCOL_VERSION = 1
# The variables a plugin may inherit (connector_api::plugin::PLUGIN_ENV_ALLOWLIST):
# a plugin never sees the engine's secrets through its environment.
ENV_ALLOWLIST = [
    "PATH", "HOME", "LANG", "TZ", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy",
    "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
]


class ProtocolError(Exception):
    """The plugin broke the protocol, went silent, or exited."""


class PluginError(Exception):
    """The plugin answered a request with an `error` message."""

    def __init__(self, error):
        super().__init__(f"{error.get('kind')}: {error.get('message')}")
        self.error = error


class Plugin:
    """One plugin process: JSON lines on its stdin and stdout."""

    def __init__(self, path, args, timeout, record):
        env = {k: v for k, v in os.environ.items()
               if k in ENV_ALLOWLIST or k.startswith("LC_")}
        self.timeout = timeout
        self.record = record
        self.proc = subprocess.Popen(
            [path, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._forward_stderr, daemon=True).start()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8").rstrip("\r\n"))
        self.lines.put(None)  # end of output

    def _forward_stderr(self):
        for raw in self.proc.stderr:
            sys.stderr.write("plugin: " + raw.decode("utf-8", "replace"))

    def _log(self, side, line):
        if self.record is not None:
            self.record.write(json.dumps({"from": side, "line": line}) + "\n")
            self.record.flush()

    def send(self, message):
        line = json.dumps(message, separators=(",", ":"))
        self._log("engine", line)
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def receive(self):
        """The next message; bounded by the timeout (the idle timeout)."""
        try:
            line = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            raise ProtocolError(f"the plugin was silent for {self.timeout} s") from None
        if line is None:
            raise ProtocolError(f"the plugin closed its stdout (exit status {self.proc.wait(self.timeout)})")
        self._log("plugin", line)
        try:
            message = json.loads(line)
        except ValueError:
            raise ProtocolError(f"not a protocol message: {line[:200]!r}") from None
        if not isinstance(message, dict) or "type" not in message:
            raise ProtocolError(f"not a protocol message: {line[:200]!r}")
        return message

    def request(self, message, expected):
        self.send(message)
        answer = self.receive()
        if answer["type"] == "error":
            raise PluginError(answer["error"])
        if answer["type"] != expected:
            raise ProtocolError(f"{message['type']} was answered with {answer['type']}")
        return answer

    def close(self):
        """Closes stdin: the plugin exits (status 0)."""
        self.proc.stdin.close()
        return self.proc.wait(self.timeout)


DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_value(kind, value):
    """Why `value` does not fit `kind`, or None. null fits every kind."""
    if value is None:
        return None
    if kind["kind"] in ("string", "reference"):
        return None if isinstance(value, str) else "expected a string"
    if kind["kind"] == "bool":
        return None if isinstance(value, bool) else "expected true or false"
    if kind["kind"] == "date":
        try:
            if isinstance(value, str) and DATE.match(value):
                datetime.date.fromisoformat(value)
                return None
        except ValueError:
            pass
        return "expected a date YYYY-MM-DD"
    if kind["kind"] == "dateTime":
        try:
            if isinstance(value, str) and "T" in value:
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                if parsed.tzinfo is not None:
                    return None
        except ValueError:
            pass
        return "expected an RFC 3339 date-time with an offset"
    return f"unknown attribute kind {kind['kind']!r}"


def type_change(schema, change):
    """Why a change does not match the schema, or None."""
    types = {t["name"]: t for t in schema["objectTypes"]}
    object_type = types.get(change.get("objectType"))
    if object_type is None:
        return f"unknown object type {change.get('objectType')!r}"
    if change.get("changeType") not in ("Upsert", "Delete"):
        return f"unknown changeType {change.get('changeType')!r}"
    if not isinstance(change.get("externalId"), str):
        return "externalId is not a string"
    attributes = {a["name"]: a for a in object_type["attributes"]}
    for name, value in (change.get("attributes") or {}).items():
        if name not in attributes:
            return f"attribute {name!r} is not in the schema of {object_type['name']}"
        why = check_value(attributes[name], value)
        if why:
            return f"attribute {name!r}: {why}, got {value!r}"
    return None


def run_import(plugin, schema, mode, watermark, window, on_change,
               cancel_after=None, refuse_first=False, close_after=None):
    """One import: acknowledges every page after applying it. Returns the
    final message (`result` or `error`)."""
    plugin.send({"type": "import", "mode": mode, "watermark": watermark, "window": window})
    pages = 0
    while True:
        message = plugin.receive()
        kind = message["type"]
        if kind == "page":
            pages += 1
            if close_after is not None and pages >= close_after:
                return {"closedAfterPage": pages}
            error = None
            for change in message["changes"]:
                why = type_change(schema, change)
                if why:
                    error = {"kind": "Sink", "retryable": False,
                             "message": f"the host refused a change: {why}"}
                    break
            if refuse_first and pages == 1:
                error = {"kind": "Sink", "retryable": False, "message": "the store is full"}
            if error is None:
                for change in message["changes"]:
                    on_change(change)
                plugin.send({"type": "ack"})
            else:
                # The plugin's sink returns this error to the connector, which
                # ends the run with it. (An engine may also send a cancel, for
                # plugins that do not read errors from acks; the run then may
                # end as Cancelled instead.)
                plugin.send({"type": "ack", "error": error})
            if cancel_after is not None and pages == cancel_after:
                plugin.send({"type": "cancel"})
        elif kind == "metrics":
            continue
        elif kind in ("result", "error"):
            return message
        else:
            raise ProtocolError(f"import was answered with {kind}")


def tour(plugin, schema, watermark, window):
    """More requests, for a recording that holds every message type."""
    # 1. A delta with an unreadable watermark fails ...
    bad = run_import(plugin, schema, "Delta", "not a watermark", window, lambda c: None)
    sys.stderr.write(f"tour: bad delta -> {json.dumps(bad)}\n")
    # 2. ... and the connector stays validated: check and import still work.
    plugin.request({"type": "check"}, "checks")
    delta = run_import(plugin, schema, "Delta", watermark, window, lambda c: None)
    sys.stderr.write(f"tour: delta -> {delta['type']}\n")
    # 3. A cancelled import, and one whose first page the host refuses.
    cancelled = run_import(plugin, schema, "Full", None, window, lambda c: None, cancel_after=1)
    refused = run_import(plugin, schema, "Full", None, window, lambda c: None, refuse_first=True)
    print(json.dumps({"tour": {
        "badDelta": bad, "delta": delta, "cancelled": cancelled, "refused": refused}}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plugin", required=True, help="the connector-workday binary")
    p.add_argument("--plugin-arg", action="append", default=[], help="an argument for the plugin")
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:18089 (harness simulate)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--realm")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True,
                   help="sent to the plugin in the validate message only")
    p.add_argument("--refresh-token", help="use the refresh-token grant")
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--timeout", type=float, default=60.0,
                   help="the longest the plugin may stay silent (seconds)")
    p.add_argument("--record", help="write every protocol line, both ways, to this file")
    p.add_argument("--tour", action="store_true")
    p.add_argument("--close-stdin-after-pages", type=int)
    args = p.parse_args()

    record = open(args.record, "w", encoding="utf-8") if args.record else None
    plugin = Plugin(args.plugin, args.plugin_arg, args.timeout, record)
    try:
        hello = plugin.request({"type": "hello", "protocolVersion": PROTOCOL_VERSION}, "hello")
        if hello["protocolVersion"] != PROTOCOL_VERSION:
            raise ProtocolError(f"the plugin speaks protocol version {hello['protocolVersion']}")
        info = hello["connector"]
        sys.stderr.write(f"host: loaded {info['name']} {info['version']} ({', '.join(info['modes'])})\n")
        default_schema = plugin.request({"type": "schema"}, "schema")["schema"]

        secret_ref = f"secret://workday/{args.tenant}/clientsecret"
        config = {"BaseUrl": args.base_url, "TenantName": args.tenant,
                  "Realm": args.realm or args.tenant, "ClientId": args.client_id,
                  "PageSize": args.page_size}
        secrets = {secret_ref: args.client_secret}
        if args.refresh_token:
            refresh_ref = f"secret://workday/{args.tenant}/refreshtoken"
            config["RefreshTokenRef"] = refresh_ref
            secrets[refresh_ref] = args.refresh_token
        validated = plugin.request({"type": "validate", "config": json.dumps(config),
                                    "authMaterial": secret_ref, "secrets": secrets}, "validated")
        # The configured schema; a plugin that sends none means its schema answer.
        schema = validated.get("schema") or default_schema

        for check in plugin.request({"type": "check"}, "checks")["checks"]:
            sys.stderr.write(f"check {check['name']}: {'ok' if check['passed'] else 'FAILED'}: {check['message']}\n")

        def emit(change):
            print(json.dumps(change, separators=(",", ":")))

        if args.close_stdin_after_pages is not None:
            run_import(plugin, schema, "Full", None, args.window, emit,
                       close_after=args.close_stdin_after_pages)
            plugin.proc.stdin.close()
            last = None
            while True:  # bounded: each read waits at most the timeout
                line = plugin.lines.get(timeout=args.timeout)
                if line is None:
                    break
                plugin._log("plugin", line)
                last = json.loads(line)
            status = plugin.proc.wait(args.timeout)
            print(json.dumps({"closedStdin": {"exitStatus": status, "lastMessage": last}}))
            return 0

        end = run_import(plugin, schema, "Full", None, args.window, emit)
        if end["type"] == "error":
            raise PluginError(end["error"])
        print(json.dumps({"outcome": end["outcome"], "metrics": end.get("metrics")}))
        if args.tour:
            tour(plugin, schema, end["outcome"]["watermark"], args.window)
        status = plugin.close()
        if status != 0:
            raise ProtocolError(f"the plugin exited with status {status}")
        return 0
    except PluginError as e:
        sys.stderr.write(f"host: error: {e}\n")
        return 1
    except (ProtocolError, queue.Empty, subprocess.TimeoutExpired, BrokenPipeError) as e:
        sys.stderr.write(f"host: the plugin broke the protocol: {e}\n")
        return 1
    finally:
        if plugin.proc.poll() is None:
            plugin.proc.kill()
            plugin.proc.wait()
        if record is not None:
            record.close()


if __name__ == "__main__":
    sys.exit(main())
