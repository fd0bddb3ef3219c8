"""A small Python client for the control API (what tests and the demo seeding call)."""
import requests


class ControlClient:
    """Calls the control API over HTTPS; every method returns the decoded JSON answer or raises on 4xx/5xx."""

    def __init__(self, base_url, ca_bundle):
        self.base = f"{base_url}/_emulator"
        self.session = requests.Session()
        self.session.trust_env = False      # REQUESTS_CA_BUNDLE would override verify (graph-facts 2.5)
        self.session.verify = str(ca_bundle)

    def call(self, method, path, body=None, **kwargs):
        """One raw control call, e.g. call("POST", "/reset")."""
        response = self.session.request(method, self.base + path, json=body, timeout=30, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"control {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def reset(self):
        """Restore the seeded state; clear faults, the request log, consents given since, flows in flight."""
        return self.call("POST", "/reset")

    def state(self):
        """Facts: urls, tenants, apps, consents, token lifetime."""
        return self.call("GET", "/state")

    def add_user(self, tenant, **fields):
        """Create a user from Graph properties (plus manager=<id>, mailboxPurpose=...)."""
        return self.call("POST", f"/tenants/{tenant}/users", fields)

    def get_user(self, tenant, key):
        """The stored user (id or UPN), including manager and mailboxPurpose."""
        return self.call("GET", f"/tenants/{tenant}/users/{key}")

    def update_user(self, tenant, key, **changes):
        """Change user properties; delta reports the user as updated."""
        return self.call("PATCH", f"/tenants/{tenant}/users/{key}", changes)

    def delete_user(self, tenant, key, soft=False):
        """Delete a user: delta says @removed reason "deleted", or "changed" when soft."""
        return self.call("DELETE", f"/tenants/{tenant}/users/{key}", params={"soft": str(soft).lower()})

    def restore_user(self, tenant, key):
        """Restore a soft-deleted user."""
        return self.call("POST", f"/tenants/{tenant}/users/{key}/restore")

    def set_photo(self, tenant, key, jpeg: bytes | None = None, color=(200, 30, 30)):
        """Give the user a photo (the JPEG bytes given, or a plain one of that colour)."""
        if jpeg is not None:
            response = self.session.put(f"{self.base}/tenants/{tenant}/users/{key}/photo", data=jpeg,
                                        headers={"Content-Type": "image/jpeg"}, timeout=30)
            response.raise_for_status()
            return response.json()
        return self.call("PUT", f"/tenants/{tenant}/users/{key}/photo", {"color": list(color)})

    def delete_photo(self, tenant, key):
        """Remove the user's photo (photo endpoints then answer 404 ImageNotFound)."""
        return self.call("DELETE", f"/tenants/{tenant}/users/{key}/photo")

    def add_group(self, tenant, members=(), **fields):
        """Create a group with direct members (ids of users, groups or contacts)."""
        return self.call("POST", f"/tenants/{tenant}/groups", {**fields, "members": list(members)})

    def update_group(self, tenant, group_id, **changes):
        return self.call("PATCH", f"/tenants/{tenant}/groups/{group_id}", changes)

    def delete_group(self, tenant, group_id, soft=False):
        return self.call("DELETE", f"/tenants/{tenant}/groups/{group_id}", params={"soft": str(soft).lower()})

    def add_member(self, tenant, group_id, member_id):
        return self.call("POST", f"/tenants/{tenant}/groups/{group_id}/members", {"id": member_id})

    def remove_member(self, tenant, group_id, member_id):
        return self.call("DELETE", f"/tenants/{tenant}/groups/{group_id}/members/{member_id}")

    def add_contact(self, tenant, **fields):
        return self.call("POST", f"/tenants/{tenant}/contacts", fields)

    def update_contact(self, tenant, contact_id, **changes):
        return self.call("PATCH", f"/tenants/{tenant}/contacts/{contact_id}", changes)

    def delete_contact(self, tenant, contact_id):
        return self.call("DELETE", f"/tenants/{tenant}/contacts/{contact_id}")

    def grant_consent(self, tenant, client_id, permissions=None):
        """Consent an app in a tenant without the browser page (all its permissions unless given)."""
        return self.call("POST", f"/tenants/{tenant}/consents/{client_id}",
                         {"permissions": list(permissions)} if permissions else {})

    def revoke_consent(self, tenant, client_id):
        """Remove the app's service principal from the tenant: new tokens fail with AADSTS7000229 and
        tokens already issued get 401 from Graph."""
        return self.call("DELETE", f"/tenants/{tenant}/consents/{client_id}")

    def grant_permission(self, tenant, client_id, permission):
        return self.call("PUT", f"/tenants/{tenant}/consents/{client_id}/permissions/{permission}")

    def revoke_permission(self, tenant, client_id, permission):
        """Take one application permission away (effective at once, even for tokens already issued)."""
        return self.call("DELETE", f"/tenants/{tenant}/consents/{client_id}/permissions/{permission}")

    def expire_secret(self, client_id, expired=True):
        """Make the app's client secret expired (AADSTS7000222) or valid again."""
        return self.call("POST", f"/apps/{client_id}/expire-secret", {"expired": expired})

    def set_redirect_uris(self, client_id, redirect_uris):
        return self.call("PUT", f"/apps/{client_id}/redirect-uris", {"redirect_uris": list(redirect_uris)})

    def expire_delta_tokens(self, tenant=None, mode="syncStateNotFound"):
        """Invalidate every delta/skip token issued so far (mode "410" answers 410 Gone + Location instead)."""
        body = {"mode": mode}
        if tenant:
            body["tenant"] = tenant
        return self.call("POST", "/delta/expire", body)

    def set_token_lifetime(self, seconds):
        """expires_in (and exp) of tokens issued from now on."""
        return self.call("PUT", "/token-lifetime", {"seconds": seconds})

    def set_throttle(self, limit, window=10, retry_after=1):
        """Answer 429 + Retry-After once an (app, tenant) sends more than `limit` Graph requests in `window` s."""
        return self.call("PUT", "/throttle", {"limit": limit, "window": window, "retry_after": retry_after})

    def clear_throttle(self):
        return self.call("DELETE", "/throttle")

    def add_fault(self, spec=None, **fault):
        """Add a fault: add_fault("429 path=/v1.0/users* count=2 retry_after=3") or keyword form."""
        body = {"spec": spec, **fault} if spec else fault
        return self.call("POST", "/faults", body)["faults"][0]

    def faults(self):
        return self.call("GET", "/faults")["faults"]

    def clear_faults(self):
        return self.call("DELETE", "/faults")

    def requests(self):
        """The request log (oldest first), control calls excluded."""
        return self.call("GET", "/requests")["requests"]

    def clear_requests(self):
        return self.call("DELETE", "/requests")
