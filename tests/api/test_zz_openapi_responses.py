"""Runs last in tests/api (the name sorts last): every response the HTTP suite received and
recorded (RAGD_RECORD_RESPONSES=DIR, set by scripts/test.sh) is checked against the OpenAPI
document: its status, media type and JSON body must be what the document says."""
import os

import pytest

from openapi_check import FULL_ENV, check, load_records, report
from ragd_client import RECORD_DIR, Server


def test_every_recorded_response_matches_the_document():
    if not RECORD_DIR:
        pytest.skip("RAGD_RECORD_RESPONSES is not set: no responses were recorded "
                    "(scripts/test.sh sets it for the whole suite)")
    records = list(load_records(RECORD_DIR))
    if not records:
        pytest.skip("no responses were recorded (run with the rest of tests/api)")
    s = Server(env=FULL_ENV, seed=False)
    try:
        r = s.get("/openapi.json")
        assert r.status == 200, r
        doc = r.json
    finally:
        s.stop()
    stats, mismatches = check(doc, records)
    summary = (f"{len(records)} responses recorded, {stats['checked']} matched a route, "
               f"{stats['valid']} JSON bodies valid, {stats['unrouted']} for paths no route has")
    print(summary)
    with open(os.path.join(RECORD_DIR, "mismatches.txt"), "w") as f:
        f.write(summary + "\n" + report(mismatches, limit=10 ** 6) + "\n")
    assert stats["checked"] > 0
    assert not mismatches, (f"{sum(v[0] for v in mismatches.values())} responses in "
                            f"{len(mismatches)} kinds differ from /openapi.json ({summary}):\n"
                            + report(mismatches))
