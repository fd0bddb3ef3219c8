"""Microsoft Graph client: app-only tokens (msal), HTTP with retries (requests), batching.

Plain Python that knows nothing of Django models. A *link* is any object with `pk`, `tenant_id`, `client_id`,
`client_credential()` and `cloud` (`key`, `login_url`, `graph_url`, `ca_bundle`, `instance_discovery`,
`proxies`).
Functions return dicts and raise `GraphError` or one of its subclasses; the listings, delta rounds and single
objects read through this client are in graph_reads.py.
Protocol facts: /work/shared/reference/graph-facts.md.
"""

import hashlib
import json
import logging
import random as _random
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import msal
import orjson
import requests
from requests.structures import CaseInsensitiveDict

from directory_sync import graph_errors
from directory_sync.graph_errors import (  # re-exported: callers write graph.GraphThrottled
    DeltaTokenExpired,
    GraphAuthError,
    GraphBadRequest,
    GraphError,
    GraphNotFound,
    GraphPermissionError,
    GraphThrottled,
    GraphUnauthorized,
    failure_kind,
    required_permission,
)

__all__ = ["DeltaTokenExpired", "GraphAuthError", "GraphBadRequest", "GraphError", "GraphNotFound",
           "GraphPermissionError", "GraphThrottled", "GraphUnauthorized", "failure_kind", "required_permission"]

logger = logging.getLogger(__name__)

# Tests replace these two to make waits instant and back-off deterministic.
sleep = time.sleep
random = _random.Random()

TIMEOUT = (10, 60)  # (connect, read) seconds, on every request, msal's included
MAX_ATTEMPTS = 8
MAX_TOTAL_WAIT = 300.0  # seconds one request may spend waiting before we give up and let the task retry
INTERACTIVE_SECONDS = 20.0  # answer_within's default: a web page's Graph calls (gunicorn's timeout is 30 s)
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
BATCH_LIMIT = 20  # graph-facts 8.3
MAX_CACHED_CLIENTS = 500  # bounds memory: unsaved links (credential checks) get an entry each

# Failures of the connection or of the body in transit: worth another try after a pause.
_TRANSIENT_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                         requests.exceptions.ContentDecodingError)


_deadline: ContextVar[float | None] = ContextVar("graph_deadline", default=None)


@contextmanager
def answer_within(seconds: float = INTERACTIVE_SECONDS):
    """Bound the Graph calls made in the block to about `seconds`, retries, Retry-After waits and socket timeouts
    included: for pages a person waits on (a connectivity check, a filter test, linking). Past the bound a call
    fails with its last error, which says what happened, instead of waiting up to MAX_TOTAL_WAIT as a sync
    task may; that wait would outlive the web worker and show the admin a gateway error."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _timeout():
    deadline = _deadline.get()
    if deadline is None:
        return TIMEOUT
    left = max(1.0, deadline - time.monotonic())
    return (min(TIMEOUT[0], left), min(TIMEOUT[1], left))


@dataclass
class RequestStats:
    """Counts of what one sync run asked of Graph; pass the same instance to every call of the run."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0


# --- Tokens -------------------------------------------------------------------------------------------------


class _Session(requests.Session):
    """A Session that puts our timeouts on every request, including the ones msal makes."""

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", _timeout())
        return super().request(method, url, **kwargs)


@dataclass
class _Client:
    app: msal.ConfidentialClientApplication
    session: requests.Session


_clients: "OrderedDict[tuple, _Client]" = OrderedDict()
_clients_lock = threading.Lock()


def _identity(link):
    return ("pk", link.pk) if link.pk is not None else ("object", id(link))


def _cache_key(link, credential):
    digest = hashlib.sha256(json.dumps(credential, sort_keys=True, default=str).encode()).hexdigest()
    cloud = link.cloud
    return (
        _identity(link), cloud.key, cloud.login_url, cloud.graph_url, cloud.ca_bundle,
        cloud.instance_discovery, tuple(sorted(cloud.proxies.items())), link.tenant_id, link.client_id, digest,
    )


def _new_session(cloud):
    session = _Session()
    # Without trust_env=False, REQUESTS_CA_BUNDLE silently overrides `verify` (graph-facts 2.5).
    session.trust_env = False
    session.verify = cloud.ca_bundle or True
    session.proxies.update(cloud.proxies)
    session.headers["User-Agent"] = "Signet-directory-sync"
    return session


def _client(link):
    """The cached msal app (and HTTP session) of a link, built on first use; construction does discovery."""
    credential = link.client_credential()
    key = _cache_key(link, credential)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    client = _build_client(link, credential)
    with _clients_lock:
        client = _clients.setdefault(key, client)
        while len(_clients) > MAX_CACHED_CLIENTS:
            _clients.popitem(last=False)
    return client


def _build_client(link, credential):
    cloud = link.cloud
    session = _new_session(cloud)
    authority = f"{cloud.login_url}/{link.tenant_id}"
    try:
        app = msal.ConfidentialClientApplication(
            link.client_id,
            client_credential=credential,
            authority=authority,
            instance_discovery=cloud.instance_discovery,
            azure_region=False,  # False (not None) also stops msal reading MSAL_FORCE_REGION
            http_client=session,
        )
    except (requests.RequestException, msal.exceptions.MsalServiceError):
        raise graph_errors.login_error("login_unreachable", link, authority) from None
    except ValueError as exc:
        if "Unable to get authority configuration" in str(exc):
            raise graph_errors.login_error("tenant_not_found", link, authority) from None
        if "https url" in str(exc):
            raise graph_errors.login_error("invalid_authority", link, authority) from None
        raise graph_errors.login_error("invalid_credential", link, authority) from None
    except KeyError:
        raise graph_errors.login_error("invalid_discovery", link, authority) from None
    return _Client(app=app, session=session)


def acquire_token(link) -> str:
    """An app-only access token for the link's Graph, from msal's cache while it is valid (>5 min left).
    Docs: learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow"""
    client = _client(link)
    try:
        result = client.app.acquire_token_for_client(scopes=[f"{link.cloud.graph_url}/.default"])
    except (json.JSONDecodeError, requests.HTTPError, msal.exceptions.MsalServiceError,
            *_TRANSIENT_EXCEPTIONS):
        # Network trouble, a 5xx or a garbled answer from the token endpoint: nothing for the admin to fix.
        raise graph_errors.login_error("temporarily_unavailable", link) from None
    except (ValueError, TypeError, jwt.PyJWTError):
        # msal reads a PEM private key only when it signs the first assertion.
        raise graph_errors.login_error("invalid_credential", link) from None
    if result.get("access_token"):
        return result["access_token"]
    raise graph_errors.auth_error_from_result(result, link.client_credential())


def forget_link(link) -> None:
    """Drop every cached msal app of this link (call after unlinking or changing its credentials or cloud).
    The next call builds a fresh app, which also clears msal's replay of recent 400/429/5xx token answers."""
    identity = _identity(link)
    with _clients_lock:
        for key in [key for key in _clients if key[0] == identity]:
            del _clients[key]


def _drop_token(link):
    # Graph said the token is no longer good (expired early, revoked): make msal fetch a new one.
    client = _client(link)
    cache = client.app.token_cache
    for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        cache.remove_at(item)


# --- HTTP ---------------------------------------------------------------------------------------------------


def get_json(link, url, *, headers=None, stats=None) -> dict:
    """GET a Graph URL and return its JSON object, with retries and typed errors (see `_request`)."""
    return _request(link, "GET", url, headers=headers, stats=stats)[1]


def get_bytes(link, url, *, headers=None, stats=None):
    """GET binary content (a photo): `(bytes, headers)`, or None when Graph answers 404."""
    try:
        response, _ = _request(link, "GET", url, headers=headers, stats=stats, want_json=False)
    except GraphNotFound:
        return None
    return response.content, response.headers


def _request(link, method, url, *, headers=None, json_body=None, stats=None, want_json=True):
    """Send a Graph request until it succeeds or fails for good; returns (response, parsed JSON or None).
    Retry-After on 429/503, jittered back-off on 5xx/network/cut-off bodies, one token renewal on 401."""
    _check_graph_url(link, url)
    stats = stats if stats is not None else RequestStats()
    waited = 0.0
    renewed = False
    for attempt in range(1, MAX_ATTEMPTS + 1):
        retry_after = None
        try:
            response = _send(link, method, url, headers, json_body, stats)
        except GraphAuthError as exc:
            if not exc.is_transient:
                raise
            error = exc
        except _TRANSIENT_EXCEPTIONS as exc:
            error = graph_errors.client_error("network", type(exc).__name__)
        else:
            status = response.status_code
            body = _json_or_none(response) if want_json or status >= 300 else None
            if status < 300 and (not want_json or isinstance(body, dict)):
                return response, body
            if status < 300:  # a cut-off or garbled body
                error = graph_errors.client_error("incomplete_answer", "invalid JSON", status=status)
            else:
                error = graph_errors.error_from_response(url, status, body, response.headers)
                if status == 401 and not renewed:
                    renewed = True
                    _drop_token(link)
                    continue
                if status in (429, 503):
                    stats.throttled += 1
                    retry_after = graph_errors.parse_retry_after(response.headers.get("Retry-After"))
                elif status < 500 or status == 501:
                    raise error
        delay = retry_after if retry_after is not None else _backoff(attempt)
        if isinstance(error, GraphThrottled):
            error.retry_after = delay
        logger.info("Graph %s %s failed (%s), attempt %d", method, _path(url), error.status or error, attempt)
        waited = _pause(stats, waited, attempt, delay)
        if waited is None:
            break
    raise error


def _pause(stats, waited, attempt, delay):
    """Sleep `delay` and return the new total waited, or None when the attempt or time budget is spent (also
    answer_within's, when one is set)."""
    deadline = _deadline.get()
    if attempt >= MAX_ATTEMPTS or waited + delay > MAX_TOTAL_WAIT or (
            deadline is not None and time.monotonic() + delay > deadline):
        return None
    stats.retries += 1
    stats.waited_seconds += delay
    sleep(delay)
    return waited + delay


def _send(link, method, url, headers, json_body, stats):
    token = acquire_token(link)
    all_headers = {
        **(headers or {}),
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "client-request-id": str(uuid.uuid4()),
    }
    stats.requests += 1
    return _client(link).session.request(method, url, headers=all_headers, json=json_body)


def _check_graph_url(link, url):
    # The bearer token must only ever go to the link's own Graph endpoint, whatever a nextLink says.
    if not url.startswith(f"{link.cloud.graph_url}/"):
        raise graph_errors.client_error("foreign_url", graph_url=link.cloud.graph_url, path=_path(url))


def _json_or_none(response):
    # orjson first: parsing a listing's pages is most of what a full sync's fetching costs. Bodies it refuses
    # (not UTF-8, a BOM) get requests' own decoding.
    try:
        return orjson.loads(response.content)
    except ValueError:
        pass
    try:
        return response.json()
    except ValueError:
        return None


def _backoff(attempt):
    # "Full jitter": spreads retries of many workers instead of having them hit Graph together.
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def _path(url):
    return urlsplit(url).path


# --- Batching -----------------------------------------------------------------------------------------------


def batch(link, requests_, *, stats=None) -> dict:
    """Run requests via /$batch, 20 a call, retrying inner 429/503: {id: {"status", "headers", "body"}}.
    Other statuses are the caller's (see `batch_error`). Docs: learn.microsoft.com/graph/json-batching"""
    # dependsOn is refused: a retried subset could lose the request it depends on.
    stats = stats if stats is not None else RequestStats()
    if any("dependsOn" in item for item in requests_):
        raise ValueError("batch() does not support dependsOn")
    ids = [str(item["id"]) for item in requests_]
    if len(set(ids)) != len(ids):
        raise ValueError("batch request ids must be unique")
    results = {}
    for start in range(0, len(requests_), BATCH_LIMIT):
        chunk = {str(item["id"]): item for item in requests_[start:start + BATCH_LIMIT]}
        results.update(_run_batch_chunk(link, chunk, stats))
    return results


def _run_batch_chunk(link, pending, stats):
    results, waited, attempt = {}, 0.0, 0
    while pending:
        attempt += 1
        body = {"requests": list(pending.values())}
        answer = _request(link, "POST", f"{link.cloud.graph_url}/v1.0/$batch", json_body=body, stats=stats)[1]
        answers = {str(item.get("id")): item for item in answer.get("responses") or []}
        answers = {key: item for key, item in answers.items() if key in pending}
        if set(answers) != set(pending):
            raise graph_errors.client_error("batch_incomplete")
        throttled = {key: answer for key, answer in answers.items() if answer.get("status") in (429, 503)}
        results.update({key: answer for key, answer in answers.items() if key not in throttled})
        if not throttled:
            break
        stats.throttled += len(throttled)
        advice = [
            graph_errors.parse_retry_after(CaseInsensitiveDict(item.get("headers") or {}).get("Retry-After"))
            for item in throttled.values()
        ]
        known = [seconds for seconds in advice if seconds is not None]
        delay = max(known) if known else _backoff(attempt)
        waited = _pause(stats, waited, attempt, delay)
        if waited is None:
            raise GraphThrottled("batch throttled", status=429, retry_after=delay)
        pending = {key: pending[key] for key in throttled}
    return results


def batch_error(url, response) -> GraphError:
    """The typed GraphError for one failed inner response of `batch` (url: that request's relative url)."""
    return graph_errors.error_from_response(
        url, response.get("status"), response.get("body"), CaseInsensitiveDict(response.get("headers") or {})
    )
