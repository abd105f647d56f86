#!/usr/bin/env python3
"""Checks the gateway's combined OpenAPI document before Schemathesis runs on it: it must be
a valid OpenAPI 3 document, and every service the gateway lists must have its routes in it.
usage: api-fuzz-check-spec.py OPENAPI_JSON SERVICES_JSON (as served by the gateway)"""

import json
import sys

from openapi_spec_validator import validate


def service_names(services):
    """The names in GET /services, whatever envelope it comes in."""
    data = services.get("data", services) if isinstance(services, dict) else services
    if isinstance(data, dict):
        data = data.get("services", data)
    if isinstance(data, dict):
        return sorted(data.keys())
    return sorted(entry["name"] for entry in data)


def main():
    spec = json.load(open(sys.argv[1]))
    services = json.load(open(sys.argv[2]))
    validate(spec)
    paths = spec.get("paths", {})
    names = service_names(services)
    missing = [n for n in names if not any(p.startswith(f"/services/{n}/") for p in paths)]
    if not names:
        sys.exit("GET /services listed no service")
    if missing:
        sys.exit(f"the combined OpenAPI document has no paths for: {', '.join(missing)}")
    operations = sum(
        1 for item in paths.values() for m in item if m in ("get", "post", "put", "delete", "patch")
    )
    print(f"== combined OpenAPI document is valid: {len(names)} services, {operations} operations")


if __name__ == "__main__":
    main()
