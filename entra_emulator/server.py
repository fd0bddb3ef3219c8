"""The emulator process: one WSGI app served on an HTTPS port (API) and a plain-HTTP port (browser pages)."""
import datetime
import html
import json
import logging
import ssl
import tempfile
import threading
import time
from pathlib import Path

import jwt

from werkzeug.routing import Map, Rule
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from entra_emulator import batch, certs, client, control, delta, graph, groups, identity, pages, photos, web
from entra_emulator import state as state_module


def _graph_rules():
    g = graph
    rules = [
        ("/v1.0/organization", g.organization_list), ("/v1.0/organization/<org_id>", g.organization_get),
        ("/v1.0/me", g.me),
        ("/v1.0/users", g.users_list), ("/v1.0/users/$count", g.users_count),
        ("/v1.0/users/delta", ("delta", "users")), ("/v1.0/users/microsoft.graph.delta", ("delta", "users")),
        ("/v1.0/users/delta()", ("delta", "users")),
        ("/v1.0/users/<key>", g.user_get), ("/v1.0/users/<key>/manager", g.user_manager),
        ("/v1.0/users/<key>/directReports", g.user_direct_reports),
        ("/v1.0/users/<key>/mailboxSettings", g.user_mailbox_settings),
        ("/v1.0/users/<key>/photo", photos.user_photo), ("/v1.0/users/<key>/photo/$value", photos.user_photo_value),
        ("/v1.0/users/<key>/photos", photos.user_photos), ("/v1.0/users/<key>/photos/<size>", photos.user_photo),
        ("/v1.0/users/<key>/photos/<size>/$value", photos.user_photo_value),
        ("/v1.0/groups", groups.groups_list), ("/v1.0/groups/$count", groups.groups_count),
        ("/v1.0/groups/delta", ("delta", "groups")), ("/v1.0/groups/microsoft.graph.delta", ("delta", "groups")),
        ("/v1.0/groups/<group_id>", groups.group_get), ("/v1.0/groups/<group_id>/members", groups.group_members),
        ("/v1.0/groups/<group_id>/members/<cast>", groups.group_members),
        ("/v1.0/groups/<group_id>/transitiveMembers", groups.group_transitive_members),
        ("/v1.0/groups/<group_id>/transitiveMembers/<cast>", groups.group_transitive_members),
        ("/v1.0/contacts", groups.contacts_list), ("/v1.0/contacts/delta", ("delta", "contacts")),
        ("/v1.0/contacts/microsoft.graph.delta", ("delta", "contacts")),
        ("/v1.0/contacts/<contact_id>", groups.contact_get),
    ]
    return [Rule(path, endpoint=("graph", handler), methods=["GET"]) for path, handler in rules]


URL_MAP = Map(
    [
        Rule("/", endpoint=("home", None)),
        Rule("/common/discovery/instance", endpoint=("identity", identity.instance_discovery)),
        Rule("/<tenant>/v2.0/.well-known/openid-configuration",
             endpoint=("identity", identity.openid_configuration)),
        Rule("/<tenant>/discovery/v2.0/keys", endpoint=("identity", identity.jwks)),
        Rule("/<tenant>/discovery/keys", endpoint=("identity", identity.jwks)),
        Rule("/<tenant>/oauth2/v2.0/token", endpoint=("identity", identity.token), methods=["POST"]),
        Rule("/<tenant>/oauth2/v2.0/authorize", endpoint=("identity", pages.authorize),
             methods=["GET", "POST"]),
        Rule("/<tenant>/oauth2/v2.0/logout", endpoint=("identity", pages.logout), methods=["GET", "POST"]),
        Rule("/<tenant>/v2.0/adminconsent", endpoint=("identity", pages.admin_consent),
             methods=["GET", "POST"]),
        Rule("/<tenant>/adminconsent", endpoint=("identity", pages.admin_consent_v1), methods=["GET", "POST"]),
        Rule("/v1.0/$batch", endpoint=("batch", None), methods=["POST"]),
        Rule("/oidc/userinfo", endpoint=("userinfo", None), methods=["GET", "POST"]),
        *_graph_rules(),
        Rule("/v1.0/<path:rest>", endpoint=("graph-missing", None)),
        *[Rule(path, endpoint=("control", handler), methods=methods) for path, methods, handler in control.ROUTES],
    ],
    strict_slashes=False,
)
logger = logging.getLogger(__name__)
LOGGED_HEADERS = ("ConsistencyLevel", "Prefer", "client-request-id", "User-Agent")


class QuietHandler(WSGIRequestHandler):
    """Keeps test output clean: no access log lines (the request log is in GET /_emulator/requests)."""

    def log_request(self, *args, **kwargs):
        pass


class App:
    """The WSGI application: routing, fault injection, the request log, request-id headers."""

    def __init__(self, state):
        self.state = state

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def route(self, request):
        adapter = URL_MAP.bind_to_environ(request.environ)
        try:
            (kind, handler), values = adapter.match()
        except NotFound:
            if request.path.startswith("/v1.0/"):
                return graph.not_found(self, request, request.path[6:])
            return web.json_response(request, {"error": "not_found", "path": request.path}, 404)
        except MethodNotAllowed:
            if request.path.startswith("/v1.0/"):
                return web.graph_error(request, 405, "Request_BadRequest", "Specified HTTP method is not allowed "
                                                                           "for the request target.")
            return web.json_response(request, {"error": "method_not_allowed"}, 405)
        except HTTPException as exc:
            return exc.get_response()
        if kind == "control":
            return control.handle(self, request, handler, **values)
        if kind == "graph":
            if isinstance(handler, tuple):
                return graph.handle(self, request, delta.delta, kind=handler[1])
            return graph.handle(self, request, handler, **values)
        if kind == "batch":
            return batch.batch(self, request)
        if kind == "userinfo":
            return graph.userinfo(self, request)
        if kind == "graph-missing":
            return graph.not_found(self, request, values.get("rest", ""))
        if kind == "home":
            return self.home(request)
        with self.state.lock:
            return handler(self, request, **values)

    def dispatch(self, request, inner=False):
        """Route one request, applying faults first and logging it (control calls are neither)."""
        started = time.monotonic()
        if request.path.startswith("/_emulator/"):
            return self._finish(request, self.route(request))
        with self.state.lock:
            faults = self.state.take_faults(request.method, request.path, graph.page_number(request.args))
        response, applied = None, []
        for fault in faults:
            applied.append(fault["kind"] if fault["kind"] != "status" else str(fault["status"]))
            if fault["kind"] == "latency":
                time.sleep(float(fault["delay"]))
            elif fault["kind"] in ("status", "fail_from_page") and response is None:
                response = self._fault_response(request, fault)
        if response is None and request.path.startswith("/v1.0/"):
            response = self._throttle(request)
        if response is None:
            try:
                response = self.route(request)
            except Exception:
                # A bug in the emulator must still answer like a service would, and say what broke.
                logger.exception("emulator error on %s %s", request.method, request.full_path)
                response = web.graph_error(request, 500, "generalException", "Emulator internal error.")
        for fault in faults:
            if fault["kind"] == "truncate":
                data = response.get_data()
                response.set_data(data[: max(1, len(data) // 2)])
            elif fault["kind"] == "cut" and not inner:
                response = _CutResponse(response)
        response = self._finish(request, response)
        self._log(request, response, applied, started, inner)
        return response

    def dispatch_inner(self, method, path, headers, body):
        """Run a $batch step through the same routing, faults and log as a top-level request."""
        builder = EnvironBuilder(path=path.split("?")[0], query_string=path.partition("?")[2], method=method,
                                 headers=headers, data=body,
                                 base_url=self.state.graph_url or "https://127.0.0.1")
        return self.dispatch(Request(builder.get_environ()), inner=True)

    def _throttle(self, request):
        """Sliding-window limit per (app, tenant) when set through the control API; throttled requests count
        too, as Graph's do, so a client that ignores Retry-After stays throttled."""
        limit = self.state.throttle
        if not limit:
            return None
        raw = request.headers.get("Authorization", "").partition(" ")[2]
        try:
            claims = jwt.decode(raw, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        now = time.monotonic()
        with self.state.lock:
            window = self.state.throttle_windows.setdefault((claims.get("appid"), claims.get("tid")), [])
            window[:] = [t for t in window if now - t < limit["window"]]
            window.append(now)
            over = len(window) > limit["limit"]
        if not over:
            return None
        return self._fault_response(request, {"status": 429, "retry_after": limit.get("retry_after", 1)})

    def _fault_response(self, request, fault):
        status = int(fault.get("status", 500))
        headers = {}
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        if status == 429:
            headers["x-ms-throttle-scope"] = "Tenant_Application/ReadWrite/emulator/emulator"
            headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
        if "/oauth2/" in request.path:
            body = web.aad_error_body(request, "temporarily_unavailable", 90013 if status == 429 else 50001,
                                      "The server is temporarily unable to handle the request.",
                                      self.state.login_url)
            response = Response(json.dumps(body), status=status, content_type="application/json")
            for name, value in headers.items():
                response.headers[name] = value
            return response
        code, message = {
            429: ("TooManyRequests", "Too many requests."),
            503: ("serviceNotAvailable", "The service is temporarily unavailable. Try again later."),
            502: ("BadGateway", "Bad gateway."),
            504: ("GatewayTimeout", "The gateway timed out."),
        }.get(status, ("generalException", "An unexpected error occurred."))
        return web.graph_error(request, status, code, message, headers)

    def _finish(self, request, response):
        rid, crid = web.request_ids(request)
        response.headers.setdefault("request-id", rid)
        response.headers.setdefault("client-request-id", crid)
        return response

    def _log(self, request, response, applied, started, inner):
        entry = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "method": request.method,
            "path": request.full_path.rstrip("?"),
            "status": response.status_code,
            "authorization": bool(request.headers.get("Authorization")),
            "retry_after": response.headers.get("Retry-After"),
            "faults": applied,
            "batch_step": inner,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        for name in LOGGED_HEADERS:
            entry[name.lower().replace("-", "_")] = request.headers.get(name)
        with self.state.lock:
            self.state.request_log.append(entry)

    def home(self, request):
        """A start page for people: tenants, admin accounts and links."""
        s = self.state
        rows = "".join(
            f"<li><strong>{html.escape(t.display_name)}</strong> <code>{t.id}</code><br>"
            f"<small>{html.escape(t.initial_domain)} · admin {html.escape(t.admin()['userPrincipalName'])}</small></li>"
            for t in s.tenants.values())
        return web.page("Entra emulator", f"<h1>Entra emulator</h1><ul>{rows}</ul>"
                                          f"<p><small>API {html.escape(s.login_url)} · browser "
                                          f"{html.escape(s.browser_url)}</small></p>")


class _CutResponse(Response):
    """Announces the full Content-Length, sends half the body, then closes the connection."""

    def __init__(self, original):
        data = original.get_data()
        super().__init__(status=original.status_code, headers=dict(original.headers))
        self._cut_data = data
        self.headers["Content-Length"] = str(len(data))
        self.headers["Connection"] = "close"

    def __call__(self, environ, start_response):
        start_response(self.status, list(self.headers.items()))
        return [self._cut_data[: max(1, len(self._cut_data) // 2)]]


class Emulator:
    """A running emulator. Ports 0 pick free ports. Usable as a context manager.

    After start(): login_url / graph_url (HTTPS), browser_url (HTTP), ca_bundle, tenant, second_tenant,
    own_app, portal_app, control (a ControlClient).
    """

    def __init__(self, data_dir=None, seed=42, users=200, groups=20, contacts=20, host="127.0.0.1",
                 https_port=0, http_port=0, portal_client_id=None, portal_client_secret=None,
                 portal_redirect_uris=None, quiet=True, persist_consents=False):
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="entra-emulator-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.advertised_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self.ports = (https_port, http_port)
        self.quiet = quiet
        self.state = state_module.State(
            self.data_dir, seed=seed, users=users, groups=groups, contacts=contacts,
            portal_client_id=portal_client_id, portal_client_secret=portal_client_secret,
            portal_redirect_uris=portal_redirect_uris, persist_consents=persist_consents)
        self.app = App(self.state)
        self._servers, self._threads = [], []
        self.control = None

    def start(self):
        """Create the CA (first start only) and the server certificate, start both listeners, write
        emulator.json."""
        ca_cert, ca_key = certs.load_or_create_ca(self.data_dir)
        cert_path, key_path = certs.issue_server_cert(self.data_dir, ca_cert, ca_key, [self.advertised_host])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        handler = QuietHandler if self.quiet else WSGIRequestHandler
        https = make_server(self.host, self.ports[0], self.app, threaded=True, ssl_context=context,
                            request_handler=handler)
        plain = make_server(self.host, self.ports[1], self.app, threaded=True, request_handler=handler)
        self._servers = [https, plain]
        host = self.advertised_host
        with self.state.lock:
            self.state.login_url = self.state.graph_url = f"https://{host}:{https.socket.getsockname()[1]}"
            self.state.browser_url = f"http://{host}:{plain.socket.getsockname()[1]}"
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.control = client.ControlClient(self.login_url, self.ca_bundle)
        self.write_facts()
        return self

    def stop(self):
        """Stop both listeners."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []
        if self.control:
            self.control.session.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def write_facts(self) -> Path:
        """Write <data_dir>/emulator.json with urls, CA path, tenants and app credentials."""
        path = self.data_dir / "emulator.json"
        with self.state.lock:
            facts = self.state.describe()
        path.write_text(json.dumps(facts, indent=2))
        return path

    # ----- facts -----
    @property
    def login_url(self):
        return self.state.login_url

    @property
    def graph_url(self):
        return self.state.graph_url

    @property
    def browser_url(self):
        return self.state.browser_url

    @property
    def ca_bundle(self):
        return str(self.data_dir / "ca.pem")

    @property
    def tenant(self):
        return self.state.tenant

    @property
    def second_tenant(self):
        return self.state.second_tenant

    @property
    def home_tenant(self):
        return self.state.home_tenant

    @property
    def own_app(self):
        return self.state.own_app

    @property
    def portal_app(self):
        return self.state.portal_app

    def authority(self, tenant=None):
        """The msal authority for a tenant (default: the main seeded tenant)."""
        return f"{self.login_url}/{(tenant or self.tenant).id}"

    def session(self):
        """A requests.Session that trusts the emulator's CA (and ignores REQUESTS_CA_BUNDLE)."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_bundle
        return session

    def access_token(self, app=None, tenant=None) -> str:
        """An app-only Graph token issued directly (no HTTP), with the app's current grants in the tenant."""
        with self.state.lock:
            return self.state.app_token(app or self.own_app, tenant or self.tenant)["access_token"]
