"""Everything the emulator knows: tenants, app registrations, consents, tokens in flight, faults, request log."""
import collections
import datetime
import hashlib
import json
import secrets
import threading
import time
import uuid

import jwt

from entra_emulator import certs, directory

# What the seeded apps hold / ask for (application permissions on Microsoft Graph).
PRODUCT_PERMISSIONS = ("User.Read.All", "GroupMember.Read.All", "OrgContact.Read.All",
                       "Organization.Read.All", "MailboxSettings.Read")
DEFAULT_PORTAL_REDIRECTS = ("http://localhost:8000/entra/consent/callback",
                            "http://localhost:8000/signin/callback")
DEFAULT_TOKEN_LIFETIME = 3599
DELTA_TOKEN_DAYS = 7


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def derived_secret(seed, name) -> str:
    """A client secret shaped like Entra's (40 chars with the `~` marker), stable for a seed."""
    digest = hashlib.blake2b(f"{seed}:{name}:secret".encode(), digest_size=30).hexdigest()
    return f"{digest[:3]}8Q~{digest[3:40]}"


class App:
    """An app registration: credentials, redirect URIs, the application permissions it asks for."""

    def __init__(self, client_id, display_name, home_tenant_id, *, multi_tenant, secret, certificate=None,
                 redirect_uris=(), permissions=PRODUCT_PERMISSIONS):
        self.client_id = client_id
        self.display_name = display_name
        self.home_tenant_id = home_tenant_id
        self.multi_tenant = multi_tenant
        self.secret = secret
        self.secret_expired = False
        self.certificate = certificate
        self.redirect_uris = list(redirect_uris)
        self.permissions = list(permissions)

    # Facts other code reads (own_app in the Python API).
    @property
    def client_secret(self):
        return self.secret

    @property
    def private_key_pem(self):
        return self.certificate.private_key_pem

    @property
    def certificate_pem(self):
        return self.certificate.certificate_pem

    @property
    def thumbprint_sha1(self):
        return self.certificate.thumbprint_sha1

    def write_pfx(self, path, passphrase=None):
        """Write the app's certificate credential as a PFX file (msal's private_key_pfx_path form)."""
        return self.certificate.write_pfx(path, passphrase)

    def pfx_bytes(self, passphrase=None):
        """The certificate credential as PKCS#12 bytes."""
        return self.certificate.pfx_bytes(passphrase)

    def redirect_allowed(self, uri) -> bool:
        """Exact match, except that the port of an http://localhost or 127.0.0.1 redirect URI is ignored,
        as Entra does (learn.microsoft.com/entra/identity-platform/reply-url, "Localhost exceptions")."""
        if uri in self.redirect_uris:
            return True
        return any(_strip_local_port(uri) == _strip_local_port(allowed) for allowed in self.redirect_uris
                   if _is_local(allowed))

    def describe(self) -> dict:
        return {
            "client_id": self.client_id, "display_name": self.display_name,
            "home_tenant_id": self.home_tenant_id, "multi_tenant": self.multi_tenant,
            "client_secret": self.secret, "secret_expired": self.secret_expired,
            "redirect_uris": self.redirect_uris, "permissions": self.permissions,
            "certificate_thumbprint_sha1": self.certificate.thumbprint_sha1 if self.certificate else None,
        }


def _is_local(uri):
    return uri.startswith(("http://localhost", "http://127.0.0.1"))


def _strip_local_port(uri):
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1"):
        return uri
    return urlunsplit((parts.scheme, parts.hostname, parts.path, parts.query, ""))


class State:
    """The emulator's whole world. Guarded by `lock`; `reset()` restores the seeded state."""

    def __init__(self, data_dir, *, seed, users, groups, contacts, portal_client_id, portal_client_secret,
                 portal_redirect_uris, persist_consents=False):
        self.data_dir = data_dir
        self.seed = seed
        self.sizes = (users, groups, contacts)
        self.lock = threading.RLock()
        self.signing_key = certs.load_or_create_key(data_dir / "signing-key.pem")
        self.kid = certs.key_id(self.signing_key)
        self.public_key = self.signing_key.public_key()
        self.own_certificate = certs.AppCertificate.load_or_create(data_dir, "own-app-cert", "Signet Directory "
                                                                   "Reader")
        self.portal_client_id = portal_client_id or directory.stable_uuid(seed, "portal-app")
        self.portal_client_secret = portal_client_secret or derived_secret(seed, "portal-app")
        self.portal_redirect_uris = list(portal_redirect_uris or DEFAULT_PORTAL_REDIRECTS)
        self.login_url = self.graph_url = self.browser_url = ""
        self.faults = []
        self.request_log = collections.deque(maxlen=20000)
        # The demo keeps consents given on the page across emulator restarts; tests start from the seed.
        self.consent_file = data_dir / "consents.json" if persist_consents else None
        self.reset(save=False)
        self.load_consents()

    def reset(self, save=True):
        """Rebuild the seeded tenants, apps and consents; clear faults, the request log and flows in flight."""
        with self.lock:
            users, groups, contacts = self.sizes
            self.generation = secrets.token_hex(4)
            main = directory.Tenant(self.seed, "contoso", "Contoso Ltd", "contoso", "contoso.com",
                                    users, groups, contacts)
            second = directory.Tenant(self.seed, "fabrikam", "Fabrikam, Inc.", "fabrikam", None,
                                      min(users, 60), min(groups, 16), min(contacts, 5))
            home = directory.Tenant(self.seed, "publisher", "Signet (publisher)", "signetpublisher", None,
                                    25, 2, 0)
            self.tenant, self.second_tenant, self.home_tenant = main, second, home
            self.tenants = {t.id: t for t in (main, second, home)}
            self.own_app = App(
                directory.stable_uuid(self.seed, "own-app"), "Signet Directory Reader (Contoso)", main.id,
                multi_tenant=False, secret=derived_secret(self.seed, "own-app"),
                certificate=self.own_certificate, redirect_uris=self.portal_redirect_uris,
            )
            self.portal_app = App(
                self.portal_client_id, "Signet Email Signatures", home.id, multi_tenant=True,
                secret=self.portal_client_secret, redirect_uris=self.portal_redirect_uris,
            )
            self.apps = {a.client_id: a for a in (self.own_app, self.portal_app)}
            self.consents = {(self.own_app.client_id, main.id): set(PRODUCT_PERMISSIONS)}
            self.token_lifetime = DEFAULT_TOKEN_LIFETIME
            self.codes = {}
            self.refresh_tokens = {}
            self.delta_rounds = collections.OrderedDict()
            self.faults.clear()
            self.request_log.clear()
            self.throttle = None          # {"limit": N, "window": seconds, "retry_after": seconds}
            self.throttle_windows = {}
            if save:
                self.save_consents()

    def save_consents(self):
        """Write the consents to consents.json when persistence is on (call after every consent change)."""
        if self.consent_file is None:
            return
        rows = [{"client_id": c, "tenant_id": t, "permissions": sorted(p)} for (c, t), p in self.consents.items()]
        self.consent_file.write_text(json.dumps(rows, indent=2))

    def load_consents(self):
        """Read consents.json (if persistence is on and the file exists) over the seeded consents."""
        if self.consent_file is None or not self.consent_file.exists():
            return
        rows = json.loads(self.consent_file.read_text())
        self.consents = {(r["client_id"], r["tenant_id"]): set(r["permissions"]) for r in rows
                         if r["client_id"] in self.apps and r["tenant_id"] in self.tenants}

    # ----- lookups -----
    def find_tenant(self, key: str):
        """The tenant for a path segment: GUID or any verified domain (case-insensitive); None otherwise."""
        key = (key or "").lower()
        if key in self.tenants:
            return self.tenants[key]
        for tenant in self.tenants.values():
            if key in (d.lower() for d in tenant.domains):
                return tenant
        return None

    def has_service_principal(self, app, tenant) -> bool:
        """Is the app provisioned in the tenant (its home tenant, or consented there)?"""
        return tenant.id == app.home_tenant_id or (app.client_id, tenant.id) in self.consents

    def granted(self, client_id, tenant_id) -> set | None:
        """The application permissions granted to the app in the tenant, or None without a consent."""
        return self.consents.get((client_id, tenant_id))

    # ----- tokens -----
    def sign(self, claims: dict) -> str:
        """An RS256 JWT signed with the emulator's key (published in the JWKS)."""
        return jwt.encode(claims, self.signing_key, algorithm="RS256",
                          headers={"kid": self.kid, "x5t": self.kid, "typ": "JWT"})

    def app_token(self, app, tenant, *, via="secret") -> dict:
        """Issue an app-only Graph token: the token endpoint's success body."""
        now = int(time.time())
        roles = sorted(self.granted(app.client_id, tenant.id) or ())
        claims = {
            "aud": self.graph_url, "iss": f"https://sts.windows.net/{tenant.id}/", "iat": now, "nbf": now,
            "exp": now + self.token_lifetime, "aio": secrets.token_urlsafe(12), "app_displayname":
            app.display_name, "appid": app.client_id, "appidacr": "2" if via == "certificate" else "1",
            "idp": f"https://sts.windows.net/{tenant.id}/", "idtyp": "app",
            "oid": directory.stable_uuid(app.client_id, tenant.id, "sp"), "rh": "0.emulator.",
            "sub": directory.stable_uuid(app.client_id, tenant.id, "sp"), "tid": tenant.id,
            "uti": secrets.token_urlsafe(16), "ver": "1.0",
        }
        if roles:
            claims["roles"] = roles
        return {"token_type": "Bearer", "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime, "access_token": self.sign(claims)}

    def user_tokens(self, app, tenant, user, scopes, nonce=None) -> dict:
        """Issue delegated tokens for a signed-in user: access, id and refresh token, plus client_info."""
        now = int(time.time())
        resource_scopes = [s for s in scopes if s not in ("openid", "profile", "offline_access", "email")]
        delegated = sorted({s.rsplit("/", 1)[-1] for s in resource_scopes} - {".default"}) or ["User.Read"]
        common = {"iat": now, "nbf": now, "exp": now + self.token_lifetime, "tid": tenant.id, "oid": user["id"]}
        access = self.sign({
            **common, "aud": self.graph_url, "iss": f"https://sts.windows.net/{tenant.id}/", "appid":
            app.client_id, "app_displayname": app.display_name, "idtyp": "user", "scp": " ".join(delegated),
            "name": user["displayName"], "upn": user["userPrincipalName"], "sub": secrets.token_urlsafe(16),
            "ver": "1.0", "uti": secrets.token_urlsafe(16),
        })
        id_claims = {
            **common, "aud": app.client_id, "iss": f"{self.login_url}/{tenant.id}/v2.0", "ver": "2.0",
            "sub": certs.b64url(hashlib.sha256(f"{app.client_id}:{user['id']}".encode()).digest()),
            "name": user["displayName"], "preferred_username": user["userPrincipalName"],
            "sid": str(uuid.uuid4()), "uti": secrets.token_urlsafe(16), "rh": "0.emulator.",
            "aio": secrets.token_urlsafe(12),
        }
        if user.get("mail"):
            id_claims["email"] = user["mail"]
        if nonce is not None:
            id_claims["nonce"] = nonce
        refresh = secrets.token_urlsafe(48)
        self.refresh_tokens[refresh] = {"client_id": app.client_id, "tenant_id": tenant.id,
                                        "user_id": user["id"], "scopes": scopes}
        info = certs.b64url(f'{{"uid":"{user["id"]}","utid":"{tenant.id}"}}'.encode())
        granted = " ".join(f"{self.graph_url}/{s}" for s in delegated) + " openid profile email"
        return {"token_type": "Bearer", "scope": granted, "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime, "access_token": access, "refresh_token": refresh,
                "id_token": self.sign(id_claims), "client_info": info}

    # ----- delta -----
    def new_round(self, data: dict) -> str:
        """Store a delta round's precomputed entries; returns its id (the 50 newest rounds are kept)."""
        round_id = secrets.token_urlsafe(9)
        self.delta_rounds[round_id] = data
        while len(self.delta_rounds) > 50:
            self.delta_rounds.popitem(last=False)
        return round_id

    # ----- faults and log -----
    def add_fault(self, fault: dict) -> dict:
        fault = {"id": secrets.token_hex(4), "path": "*", "method": None, "count": 1, **fault}
        self.faults.append(fault)
        return fault

    def take_faults(self, method, path, page):
        """Consume and return the faults that apply to this request (each fault fires `count` times)."""
        import fnmatch

        taken = []
        for fault in self.faults:
            if fault["count"] <= 0:
                continue
            if fault.get("method") and fault["method"].upper() != method:
                continue
            if not fnmatch.fnmatchcase(path, fault["path"]):
                continue
            if fault["kind"] == "fail_from_page" and page < int(fault.get("page", 2)):
                continue
            fault["count"] -= 1
            taken.append(dict(fault))
        self.faults[:] = [f for f in self.faults if f["count"] > 0]
        return taken

    def describe(self) -> dict:
        """The facts emulator.json and the control API's GET /_emulator/state publish."""
        def tenant_facts(t):
            admin = t.admin()
            return {"id": t.id, "display_name": t.display_name, "initial_domain": t.initial_domain,
                    "default_domain": t.default_domain, "domains": t.domains,
                    "admin_upn": admin["userPrincipalName"] if admin else None,
                    "users": t.users.live_count(), "groups": t.groups.live_count(),
                    "contacts": t.contacts.live_count()}

        own = self.own_app.describe()
        own.update({"tenant_id": self.tenant.id, "private_key_pem": self.own_app.private_key_pem,
                    "certificate_pem": self.own_app.certificate_pem,
                    "certificate_path": str(self.data_dir / "own-app-cert.pem"),
                    "private_key_path": str(self.data_dir / "own-app-cert-key.pem")})
        return {
            "login_url": self.login_url, "graph_url": self.graph_url, "browser_url": self.browser_url,
            "ca_bundle": str(self.data_dir / "ca.pem"), "seed": self.seed,
            "tenant": tenant_facts(self.tenant), "second_tenant": tenant_facts(self.second_tenant),
            "home_tenant": tenant_facts(self.home_tenant),
            "tenants": [tenant_facts(t) for t in self.tenants.values()],
            "own_app": own, "portal_app": self.portal_app.describe(),
            "consents": [{"client_id": c, "tenant_id": t, "permissions": sorted(p)}
                         for (c, t), p in self.consents.items()],
            "token_lifetime": self.token_lifetime,
        }
