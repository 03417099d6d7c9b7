#!/usr/bin/env python3
"""The plain Python pager issue 14 compares the connector with.

What a straightforward integration script does: get an OAuth token, page
through the REST workers and supervisoryOrganizations collections with
requests (one keep-alive session, one page at a time), map each record with
json and a few dict lookups, and write every object into SQLite in one
transaction. No concurrency, no retries, no typed errors: a baseline, not a
connector.

    harness simulate --workers 100000 --orgs 5000 --port 8089 &
    /usr/bin/time -f '%U user %S sys %e wall %M KiB' \
        python3 harness/benches/naive_pager.py http://127.0.0.1:8089

It prints the number of objects written; compare its user+sys CPU with
harness/benches/standalone.sh's (docs/benchmarks.md).
"""

import json
import os
import sqlite3
import sys
import tempfile

import requests

TENANT = "acme"
CLIENT_ID = "idmesh-demo-client"
CLIENT_SECRET = "demo-secret-not-real"  # the simulator's demo value
PAGE = 100

WORKER_FIELDS = [
    ("workerType", "workerType"), ("employmentStatus", "employmentStatus"),
    ("firstName", "firstName"), ("lastName", "lastName"),
    ("preferredName", "preferredName"), ("displayName", "descriptor"),
    ("email", "email"), ("workEmail", "workEmail"), ("workPhone", "workPhone"),
    ("mobilePhone", "mobilePhone"), ("employeeNumber", "employeeNumber"),
    ("companyEmployeeId", "companyEmployeeId"), ("jobTitle", "jobTitle"),
    ("jobProfile", "jobProfile"), ("businessTitle", "businessTitle"),
    ("isManager", "isManager"), ("costCenter", "costCenter"),
    ("costCenterCode", "costCenterCode"), ("companyCode", "companyCode"),
    ("legalEntity", "legalEntity"), ("manager", "supervisor"),
    ("primaryWorkerSupervisoryOrganization", "primaryWorkerSupervisoryOrganization"),
    ("location", "location"), ("locationCode", "locationCode"),
    ("country", "country"), ("region", "region"), ("hireDate", "hireDate"),
    ("terminationDate", "terminationDate"),
    ("lastUpdatedDateTime", "lastUpdatedDateTime"), ("lastUpdatedBy", "lastUpdatedBy"),
]
ORG_FIELDS = [
    ("name", "name"), ("code", "code"), ("parentOrganizationId", "parentOrganization"),
    ("manager", "manager"), ("lastUpdatedDateTime", "lastUpdatedDateTime"),
]
REFS = {"manager", "primaryWorkerSupervisoryOrganization", "parentOrganizationId"}


def value(attr, v):
    if isinstance(v, dict):
        return v.get("id") if attr in REFS else v.get("descriptor")
    return v


def mapped(record, fields):
    out = {}
    for attr, field in fields:
        v = record.get(field)
        if v is not None and v != "":
            out[attr] = value(attr, v)
    return out


def main():
    base = sys.argv[1].rstrip("/")
    db_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "naive.db")
    http = requests.Session()
    token = http.post(
        f"{base}/ccx/oauth2/{TENANT}/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS objects (object_type TEXT, external_id TEXT, "
        "attributes TEXT, deleted INTEGER, PRIMARY KEY (object_type, external_id))"
    )
    written = 0
    with db:  # one transaction
        for collection, object_type, fields in (
            ("workers", "User", WORKER_FIELDS),
            ("supervisoryOrganizations", "OrgUnit", ORG_FIELDS),
        ):
            offset, total = 0, None
            while total is None or offset < total:
                page = http.get(
                    f"{base}/ccx/api/common/v1/{TENANT}/{collection}",
                    params={"offset": offset, "limit": PAGE},
                ).json()
                total = page["total"]
                if not page["data"]:
                    break
                for record in page["data"]:
                    attrs = mapped(record, fields)
                    status = str(attrs.get("employmentStatus", "")).lower()
                    deleted = 1 if status == "terminated" else 0
                    if status:
                        attrs["accountEnabled"] = status == "active"
                        attrs["IsDeleted"] = bool(deleted)
                    db.execute(
                        "INSERT INTO objects VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                        "attributes = excluded.attributes, deleted = excluded.deleted",
                        (object_type, record["id"], json.dumps(attrs), deleted),
                    )
                    written += 1
                offset += len(page["data"])
    print(f"{written} objects written to {db_path}")


if __name__ == "__main__":
    main()
