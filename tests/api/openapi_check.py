"""Checks recorded responses (ragd_client.record_response) against ragd's OpenAPI document.

A response is matched to its operation the way OpenAPI clients do it: a path template whose
literal segments match wins over one with more parameters; then its status (exact, then
"4XX"-style ranges, then "default"); then the media type; then a JSON body is validated with
the response's schema (JSON Schema 2020-12, as OpenAPI 3.1 uses it)."""
import collections
import glob
import json
import os
import re

import jsonschema

# The test routes and payment routes only exist with these: the document this checks against
# must describe every route any server of the suite registered.
FULL_ENV = {"RAGD_TEST_MODE": "1", "ENABLE_PAYMENTS": "1"}


class Document:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver.from_schema(doc)
        self.templates = []
        for path, item in doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$"
            literal = sum(1 for s in path.split("/") if s and "{" not in s)
            self.templates.append((literal, path, re.compile(rx), item))
        self.templates.sort(key=lambda t: -t[0])
        self._validators = {}

    def operation(self, method, path):
        """(template, operation) for a request, or (None, None) when no route matches."""
        for _, template, rx, item in self.templates:
            if rx.match(path):
                op = item.get(method.lower())
                if op is not None:
                    return template, op
        return None, None

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def response(self, op, status):
        responses = op.get("responses", {})
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in responses:
                return key, self.deref(responses[key])
        return None, None

    def validator(self, key, schema):
        v = self._validators.get(key)
        if v is None:
            v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
            self._validators[key] = v
        return v


def load_records(directory):
    for name in sorted(glob.glob(os.path.join(directory, "responses-*.jsonl"))):
        with open(name) as f:
            for line in f:
                line = line.strip()
                if line:
                    yield json.loads(line)


def check(doc, records):
    """Returns (stats, mismatches): mismatches maps (method, template, status, problem) to
    [count, example path]."""
    d = Document(doc)
    stats = collections.Counter()
    mismatches = {}

    def bad(method, template, status, problem, path):
        k = (method, template, status, problem)
        if k in mismatches:
            mismatches[k][0] += 1
        else:
            mismatches[k] = [1, path]

    for rec in records:
        method, path, status = rec["method"], rec["path"], rec["status"]
        template, op = d.operation(method, path)
        if op is None:
            stats["unrouted"] += 1  # 404/405 for paths no route has: nothing to check
            continue
        stats["checked"] += 1
        code, resp = d.response(op, status)
        if resp is None:
            bad(method, template, status, "status not in the document", path)
            continue
        media = (rec.get("content_type") or "").split(";")[0].strip().lower()
        content = resp.get("content") or {}
        body = rec.get("body")
        if not content:
            if body or rec.get("len"):
                bad(method, template, status, f"a {media or 'untyped'} body where the "
                    "document has none", path)
            continue
        if media not in content:
            if body == "" or (body is None and not rec.get("len")):
                continue  # an empty body (HEAD-like answers, 304 handled above)
            bad(method, template, status, f"media type {media!r} not in the document "
                f"({', '.join(content)})", path)
            continue
        if body is None:
            continue  # not JSON: the media type is what can be checked
        try:
            value = json.loads(body)
        except ValueError:
            bad(method, template, status, "body is not JSON", path)
            continue
        schema = d.deref(content[media].get("schema", {}))
        v = d.validator((method, template, code, media), schema)
        err = jsonschema.exceptions.best_match(v.iter_errors(value))
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            bad(method, template, status, f"at {where}: {err.message[:300]}", path)
        else:
            stats["valid"] += 1
    return stats, mismatches


def report(mismatches, limit=80):
    lines = []
    for (method, template, status, problem), (count, path) in sorted(
            mismatches.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        lines.append(f"{method} {template} {status} x{count} ({path}): {problem}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return "\n".join(lines)
