"""Response helpers shared by the identity, Graph and control handlers (Microsoft's exact error shapes)."""
import datetime
import html
import json
import uuid

from werkzeug.wrappers import Response


def request_ids(request):
    """(request-id, client-request-id) for this request, created once and kept on the request."""
    if not hasattr(request, "emu_request_id"):
        request.emu_request_id = str(uuid.uuid4())
        request.emu_client_request_id = request.headers.get("client-request-id") or request.emu_request_id
    return request.emu_request_id, request.emu_client_request_id


def json_response(request, body, status=200, headers=None):
    """A JSON response (Graph's odata content type) with request-id headers."""
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json;odata.metadata=minimal;odata.streaming=true;"
                                     "IEEE754Compatible=false;charset=utf-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def graph_error(request, status, code, message, headers=None):
    """Graph's error body: {"error": {"code", "message", "innerError": {"date", "request-id",
    "client-request-id"}}} (learn.microsoft.com/graph/errors)."""
    rid, crid = request_ids(request)
    body = {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": rid, "client-request-id": crid}}}
    return json_response(request, body, status, headers)


def aad_error_body(request, error, code, message, login_url):
    """The identity platform's error body: AADSTS-prefixed description ending in Trace ID / Correlation ID /
    Timestamp, plus error_codes, timestamp, trace_id, correlation_id, error_uri."""
    rid, crid = request_ids(request)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    description = (f"AADSTS{code}: {message} Trace ID: {rid} Correlation ID: {crid} Timestamp: {stamp}")
    return {"error": error, "error_description": description, "error_codes": [code], "timestamp": stamp,
            "trace_id": rid, "correlation_id": crid, "error_uri": f"{login_url}/error?code={code}"}


def aad_error(request, status, error, code, message, login_url):
    """A token/discovery endpoint error response (always JSON, as msal requires)."""
    body = aad_error_body(request, error, code, message, login_url)
    response = Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    response.headers["Cache-Control"] = "no-store, no-cache"
    return response


PAGE_STYLE = """
body{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0;color:#1b1b1b}
main{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:24px;font-weight:600;margin:0 0 16px} .brand{font-weight:600;color:#737373;margin-bottom:24px}
label{display:block;margin:16px 0 4px} input[type=text],input[type=email],select{width:100%;padding:6px 0;
border:0;border-bottom:1px solid #666;font-size:15px} ul{padding-left:20px} .error{color:#e81123;margin:12px 0}
.buttons{margin-top:28px;display:flex;gap:8px;flex-direction:row-reverse} button{min-width:108px;padding:6px 12px;
font-size:15px;border:1px solid #8c8c8c;background:#ccc;cursor:pointer} button.primary{background:#0067b8;
color:#fff;border-color:#0067b8} .accounts button{display:block;width:100%;text-align:left;margin:4px 0;
background:#fff;border:1px solid #ddd} small{color:#666} code{word-break:break-all}
"""


def page(title, body_html, status=200):
    """A small HTML page in the sign-in look (values in body_html must already be escaped)."""
    document = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
                f"</title><meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<style>{PAGE_STYLE}</style></head><body><main><div class='brand'>Microsoft (emulated)</div>"
                f"{body_html}</main></body></html>")
    response = Response(document, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def hidden_inputs(params: dict) -> str:
    """Hidden form fields carrying the original query parameters through a POST."""
    return "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                   for k, v in params.items())
