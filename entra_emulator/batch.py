"""Graph JSON batching: POST /v1.0/$batch (learn.microsoft.com/graph/json-batching)."""
import base64
import json

from entra_emulator import web


def batch(server, request):
    """POST /v1.0/$batch: up to 20 requests run in order (dependsOn honoured), each answered on its own."""
    try:
        payload = json.loads(request.get_data() or b"{}")
        requests_ = payload["requests"]
        assert isinstance(requests_, list)
    except (ValueError, KeyError, AssertionError, TypeError):
        return web.graph_error(request, 400, "BadRequest", "Invalid batch payload format.")
    if len(requests_) > 20:
        return web.graph_error(request, 400, "BadRequest", "The number of requests in a batch exceeds the limit "
                                                           "of 20.")
    ids = [str(r.get("id")) for r in requests_]
    if len(set(ids)) != len(ids) or not all(r.get("id") and r.get("url") for r in requests_):
        return web.graph_error(request, 400, "BadRequest", "Each batch request needs a unique id and a url.")
    for item in requests_:
        for dep in item.get("dependsOn") or ():
            if dep not in ids:
                return web.graph_error(request, 400, "BadRequest", f"Request '{item['id']}' depends on unknown "
                                                                   f"request '{dep}'.")
    statuses, responses = {}, []
    for item in requests_:
        failed = [d for d in item.get("dependsOn") or () if not 200 <= statuses.get(d, 0) < 300]
        if failed:
            statuses[item["id"]] = 424
            responses.append({"id": item["id"], "status": 424, "headers": {"Content-Type": "application/json"},
                              "body": {"error": {"code": "FailedDependency",
                                                 "message": "Request failed due to a dependency failure."}}})
            continue
        headers = dict(item.get("headers") or {})
        if request.headers.get("Authorization"):
            headers["Authorization"] = request.headers["Authorization"]
        url = item["url"] if item["url"].startswith("/") else "/" + item["url"]
        body = item.get("body")
        inner = server.dispatch_inner(item.get("method", "GET").upper(), "/v1.0" + url, headers,
                                      json.dumps(body).encode() if body is not None else None)
        statuses[item["id"]] = inner.status_code
        data = inner.get_data()
        kept = {k: v for k, v in inner.headers.items() if k.lower() in ("content-type", "retry-after", "etag",
                                                                          "location", "cache-control")}
        if inner.mimetype == "application/json":
            parsed = json.loads(data) if data else None
        elif inner.mimetype.startswith("text/"):
            parsed = data.decode()
        else:
            parsed = base64.b64encode(data).decode()
        responses.append({"id": item["id"], "status": inner.status_code, "headers": kept, "body": parsed})
    return web.json_response(request, {"responses": responses})
