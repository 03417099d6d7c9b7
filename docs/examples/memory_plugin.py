#!/usr/bin/env python3
"""A minimal connector plugin in Python (standard library only).

It serves the identity-mesh plugin protocol (docs/plugin-protocol.md) on
stdin/stdout for a tiny source: a JSON file of "Thing" objects, re-read on
every request, so a test can change, delete or break the source between
runs. Logs go to stderr; stdout carries protocol messages only.

Configuration (configJson):
    {"DataFile": "/path/to/things.json", "PageSize": 2}
Auth material: a secret:// reference; the engine resolves it and sends the
value with `validate` (this plugin only checks that it arrived).

The data file:
    {"broken": false,
     "objects": [{"id": "a", "name": "A", "updated": 1, "deleted": false}]}

Watermarks are "tick:N": the newest `updated` seen; a delta reads objects
with `updated >= N`.
"""

import json
import os
import select
import sys

PROTOCOL_VERSION = 1
NAME, VERSION = "memory-python", "0.1.0"

SCHEMA = {
    "objectTypes": [{
        "name": "Thing",
        "anchor": "id",
        "attributes": [
            {"name": "name", "kind": "string", "description": "display name"},
            {"name": "IsDeleted", "kind": "bool", "description": "gone at the source"},
        ],
    }]
}


def log(*parts):
    print(NAME + ":", *parts, file=sys.stderr, flush=True)


def send(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def error(kind, message, retryable=False, **extra):
    return {"kind": kind, "retryable": retryable, "message": message, **extra}


class Engine:
    """The engine's messages, read from stdin line by line."""

    def __init__(self):
        self.buffer = b""
        self.closed = False

    def _fill(self, timeout):
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(0, 65536)
        if not chunk:
            self.closed = True
        self.buffer += chunk
        return True

    def next(self, block=True):
        """The next message; None at end of input or (block=False) when none is waiting."""
        while b"\n" not in self.buffer:
            if self.closed:
                return None
            if not self._fill(None if block else 0) and not block:
                return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        if not line.strip():
            return self.next(block)
        return json.loads(line)


class Run:
    """One import: pages out, acks and cancel in, at most `window` unacked pages."""

    def __init__(self, engine, window):
        self.engine, self.window = engine, max(1, window)
        self.unacked, self.cancelled, self.refused = 0, False, None
        self.metrics = {"requests": 0, "retries": 0, "pages": 0, "records": 0}

    def hear(self, message):
        kind = message.get("type")
        if kind == "ack":
            self.unacked -= 1
            if message.get("error") and self.refused is None:
                self.refused = message["error"]
        elif kind == "cancel":
            self.cancelled = True
        else:
            log("ignoring", kind, "during an import")

    def listen(self, until):
        """Handles messages already waiting, then blocks until `until()` holds."""
        while True:
            message = self.engine.next(block=False)
            if message is None:
                break
            self.hear(message)
        while not until():
            message = self.engine.next(block=True)
            if message is None:
                self.cancelled = True  # the engine is gone
                return
            self.hear(message)

    def stopped(self):
        self.listen(lambda: True)
        return self.cancelled or self.refused is not None

    def page(self, changes):
        self.listen(lambda: self.unacked < self.window or self.cancelled or self.refused)
        if self.cancelled or self.refused:
            return False
        send({"type": "page", "changes": changes, "metrics": self.metrics})
        self.unacked += 1
        return True

    def finish(self, result):
        # Every page is acknowledged before the run's last word.
        self.listen(lambda: self.unacked <= 0 or self.engine.closed)
        if self.refused is not None:
            result = {"type": "error", "error": self.refused}
        elif self.cancelled:
            result = {"type": "error", "error": error("Cancelled", "the run was cancelled")}
        result["metrics"] = self.metrics
        send(result)


def validate(message):
    try:
        config = json.loads(message["config"])
    except ValueError as e:
        return None, error("Configuration", "invalid configuration: configJson: " + str(e),
                           problems=[{"key": "configJson", "message": str(e)}])
    problems = []
    if not isinstance(config.get("DataFile"), str):
        problems.append({"key": "DataFile", "message": "must name the data file"})
    page_size = config.get("PageSize", 2)
    if not isinstance(page_size, int) or not 1 <= page_size <= 100:
        problems.append({"key": "PageSize", "message": "must be between 1 and 100, got %s" % page_size})
    if problems:
        listed = "; ".join(p["key"] + ": " + p["message"] for p in problems)
        return None, error("Configuration", "invalid configuration: " + listed, problems=problems)
    auth = message.get("authMaterial", "")
    if auth not in message.get("secrets", {}):
        reason = message.get("secretErrors", {}).get(auth, {}).get("detail", "it was not sent")
        return None, error("Secret", "secret %s could not be resolved: %s" % (auth, reason))
    return {"file": config["DataFile"], "page_size": page_size}, None


def load(connector):
    with open(connector["file"]) as f:
        data = json.load(f)
    if data.get("broken"):
        raise IOError("the source is down")
    return data["objects"]


def check(connector):
    try:
        load(connector)
        return [{"name": "list", "passed": True, "message": "Successfully read the data file"}]
    except (IOError, ValueError) as e:
        return [{"name": "list", "passed": False, "message": str(e)}]


def run_import(connector, message, engine):
    run = Run(engine, message.get("window", 8))
    mode, watermark = message["mode"], message.get("watermark")
    since, newest = 0, 0
    if mode == "Delta" and watermark:
        if not watermark.startswith("tick:") or not watermark[5:].isdigit():
            return run.finish({"type": "error", "error": error("Watermark", "unreadable watermark %r" % watermark)})
        since = newest = int(watermark[5:])
    counts, offset = {}, 0
    while True:
        if run.stopped():
            return run.finish({})
        run.metrics["requests"] += 1
        try:
            objects = [o for o in load(connector) if o["updated"] >= since]
        except (IOError, ValueError) as e:
            return run.finish({"type": "error", "error": error("Server", str(e), retryable=True)})
        page = objects[offset:offset + connector["page_size"]]
        if not page:
            break
        offset += len(page)
        changes = []
        for o in page:
            newest = max(newest, o["updated"])
            kind = "Delete" if o["deleted"] else "Upsert"
            counts.setdefault("Thing", {"Upsert": 0, "Delete": 0})[kind] += 1
            changes.append({"objectType": "Thing", "changeType": kind, "externalId": o["id"],
                            "attributes": {"name": o["name"], "IsDeleted": o["deleted"]}})
        if not run.page(changes):
            return run.finish({})
        run.metrics["pages"] += 1
        run.metrics["records"] += len(page)
    run.finish({"type": "result", "outcome": {
        "watermark": "tick:%d" % newest, "complete": mode == "Full",
        "counts": counts, "recordErrors": []}})


def main():
    engine, connector = Engine(), None
    hello = engine.next()
    if hello is None:
        return 0
    if hello.get("type") != "hello" or hello.get("protocolVersion") != PROTOCOL_VERSION:
        why = ("protocol version mismatch: the engine speaks plugin protocol version %s, "
               "the plugin %s %s speaks version %d"
               % (hello.get("protocolVersion"), NAME, VERSION, PROTOCOL_VERSION))
        log(why)
        send({"type": "error", "error": error("Configuration", why)})
        return 2
    send({"type": "hello", "protocolVersion": PROTOCOL_VERSION, "connector": {
        "name": NAME, "version": VERSION, "objectTypes": ["Thing"], "modes": ["Full", "Delta"]}})
    while True:
        message = engine.next()
        if message is None:
            return 0
        kind = message.get("type")
        if kind == "schema":
            send({"type": "schema", "schema": SCHEMA})
        elif kind == "validate":
            connector, problem = validate(message)
            send({"type": "validated"} if problem is None else {"type": "error", "error": problem})
        elif kind in ("check", "import") and connector is None:
            send({"type": "error", "error": error("Configuration", kind + " before a successful validate")})
        elif kind == "check":
            send({"type": "checks", "checks": check(connector)})
        elif kind == "import":
            run_import(connector, message, engine)
        elif kind in ("ack", "cancel"):
            pass  # a late ack or cancel of a finished run
        else:
            log("unknown message type", kind)
            send({"type": "error", "error": error("BadResponse", "unknown message type %r" % kind)})


if __name__ == "__main__":
    sys.exit(main())
