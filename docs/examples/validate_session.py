#!/usr/bin/env python3
"""Checks a recorded plugin-protocol session against the JSON Schema.

    python3 docs/examples/validate_session.py docs/plugin-protocol.schema.json session.jsonl

The recording holds one JSON object per line, `{"from": "engine"|"plugin",
"line": "<the protocol line>"}`, as `docs/examples/host.py --record FILE`
writes it. Each engine line is validated against `#/$defs/engineMessage`,
each plugin line against `#/$defs/pluginMessage` (draft 2020-12, with the
`jsonschema` package). Prints one JSON summary on stdout:
`{"lines": N, "invalid": [{"index", "from", "line", "why"}], "types": {"engine:hello": 1, ...}}`
and exits 0 when every line is valid, 1 otherwise.
"""

import json
import sys

import jsonschema


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validators = {}
    for side, name in (("engine", "engineMessage"), ("plugin", "pluginMessage")):
        sub = {"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]}
        validators[side] = jsonschema.Draft202012Validator(sub)
    summary = {"lines": 0, "invalid": [], "types": {}}
    with open(sys.argv[2], encoding="utf-8") as f:
        for index, raw in enumerate(f):
            entry = json.loads(raw)
            side, line = entry["from"], entry["line"]
            summary["lines"] += 1
            try:
                message = json.loads(line)
            except ValueError as e:
                summary["invalid"].append({"index": index, "from": side, "line": line, "why": str(e)})
                continue
            errors = sorted(validators[side].iter_errors(message), key=lambda e: list(e.path))
            if errors:
                why = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)[:500]
                summary["invalid"].append({"index": index, "from": side, "line": line[:200], "why": why})
            else:
                key = f"{side}:{message['type']}"
                summary["types"][key] = summary["types"].get(key, 0) + 1
    print(json.dumps(summary, sort_keys=True))
    return 1 if summary["invalid"] else 0


if __name__ == "__main__":
    sys.exit(main())
