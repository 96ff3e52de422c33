import json
from fastapi.testclient import TestClient
from service.api.app import create_app
from tests.accounts import role_headers

def shape(v, depth=0):
    if isinstance(v, dict):
        return {k: shape(x, depth+1) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0], depth+1)] if v else []
    return type(v).__name__

def test_dump(demo_engine):
    with TestClient(create_app(demo_engine), headers=role_headers(demo_engine, "admin")) as c:
        out = {}
        for url in ["/health", "/auth/me", "/conformance", "/coverage?layer=collection_points", "/coverage/gaps?layer=transfer_stations&distance_m=5000&limit=2", "/tiles/villages.json", "/maps/editor", "/chain/facilities", "/chain/integrity", "/indicators", "/", "/collections", "/collections/villages", "/planning/scenarios"]:
            r = c.get(url, headers={"accept": "application/json"})
            out[url] = (r.status_code, shape(r.json()) if "json" in r.headers.get("content-type","") else r.headers.get("content-type"))
        open("/tmp/planner_shapes.json","w").write(json.dumps(out, indent=1, ensure_ascii=False))
