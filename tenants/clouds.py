"""The Microsoft clouds an EntraLink can live in. No Microsoft URL is written anywhere else in the code.

Sources: learn.microsoft.com/entra/identity-platform/authentication-national-cloud and
learn.microsoft.com/graph/deployments (see shared/reference/graph-facts.md section 3).
"""
from dataclasses import dataclass, replace

from django.conf import settings


@dataclass(frozen=True)
class Cloud:
    key: str
    label: str
    login_url: str  # authority host, no trailing slash; authority = f"{login_url}/{tenant_id}"
    graph_url: str  # Graph root; v1.0 lives under f"{graph_url}/v1.0", the app-only scope is f"{graph_url}/.default"
    browser_login_url: str  # where browsers go for admin consent and sign-in (differs only for the custom cloud)
    ca_bundle: str | None = None  # an extra CA to trust (custom cloud only)
    instance_discovery: bool = True  # msal's instance discovery only knows Microsoft's own hosts
    proxy: str | None = None  # OUTBOUND_PROXY: every request to the cloud goes through it (see proxies)

    @property
    def proxies(self) -> dict:
        """requests' `proxies` for this cloud's sessions ({} without a proxy). Sessions ignore the environment's
        proxy variables (trust_env=False, see graph-facts 2.5), so the proxy is set here explicitly."""
        return {"https": self.proxy, "http": self.proxy} if self.proxy else {}

    @property
    def is_configured(self) -> bool:
        return bool(self.login_url and self.graph_url)


GLOBAL = "global"
US_GOV = "usgov"
US_GOV_DOD = "usgovdod"
CHINA = "china"
CUSTOM = "custom"

_MICROSOFT = {
    GLOBAL: Cloud(GLOBAL, "Global (and Microsoft 365 GCC)", "https://login.microsoftonline.com",
                  "https://graph.microsoft.com", "https://login.microsoftonline.com"),
    US_GOV: Cloud(US_GOV, "US Government L4 (GCC High)", "https://login.microsoftonline.us",
                  "https://graph.microsoft.us", "https://login.microsoftonline.us"),
    US_GOV_DOD: Cloud(US_GOV_DOD, "US Government L5 (DoD)", "https://login.microsoftonline.us",
                      "https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    CHINA: Cloud(CHINA, "China (operated by 21Vianet)", "https://login.partner.microsoftonline.cn",
                 "https://microsoftgraph.chinacloudapi.cn", "https://login.partner.microsoftonline.cn"),
}

CHOICES = [(key, cloud.label) for key, cloud in _MICROSOFT.items()] + [(CUSTOM, "Custom endpoint")]


def custom_cloud() -> Cloud:
    """The cloud configured from ENTRA_CUSTOM_* settings (the emulator, or any Microsoft-compatible endpoint)."""
    login = settings.ENTRA_CUSTOM_LOGIN_URL.rstrip("/")
    return Cloud(
        key=CUSTOM,
        label="Custom endpoint",
        login_url=login,
        graph_url=settings.ENTRA_CUSTOM_GRAPH_URL.rstrip("/"),
        browser_login_url=(settings.ENTRA_CUSTOM_BROWSER_LOGIN_URL or login).rstrip("/"),
        ca_bundle=settings.ENTRA_CUSTOM_CA_BUNDLE or None,
        instance_discovery=False,
        proxy=settings.OUTBOUND_PROXY or None,
    )


def get_cloud(key: str) -> Cloud:
    """Return the cloud for a key; the custom cloud is read from settings each time so tests can point it anywhere."""
    if key == CUSTOM:
        return custom_cloud()
    return replace(_MICROSOFT[key], proxy=settings.OUTBOUND_PROXY or None)


def available_choices() -> list[tuple[str, str]]:
    """Cloud choices for forms: the custom cloud is offered only when it is configured."""
    return [(key, label) for key, label in CHOICES if key != CUSTOM or custom_cloud().is_configured]
