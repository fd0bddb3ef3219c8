"""Which `$filter` operators Graph supports on each user property, and which only as advanced queries.

Capabilities follow graph-facts 4.3, taken from "Advanced query capabilities on directory objects"
(learn.microsoft.com/graph/aad-advanced-queries) and its filter table. Where the table is silent we mark the
construct advanced: an advanced request supports everything a default one does (except $expand, which a
listing does not use), so over-marking costs a header, under-marking costs a failed sync. `odata` consults
this table while it parses a filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ADVANCED", "DEFAULT", "EXTENSION_RE", "PROPS", "Prop"]


@dataclass(frozen=True)
class Prop:
    """What Graph's /users $filter supports on one property."""

    kind: str  # string, bool, datetime, any (directory extensions), strings or licenses (collections)
    eq_advanced: bool
    starts: str | None = None  # None (unsupported), "default" or "advanced"
    ends: bool = False  # endsWith is always advanced (graph-facts 4.3)


# The filter table of graph-facts 4.3 ("Advanced query capabilities on directory objects"): which operators
# each user property supports, and which of them Graph serves only as an advanced query.
DEFAULT, ADVANCED = "default", "advanced"
PROPS: dict[str, Prop] = {}
_DEFAULT_STARTS = "displayName givenName surname jobTitle mail mailNickname userPrincipalName department city"
for _name in (_DEFAULT_STARTS + " country usageLocation").split():
    PROPS[_name] = Prop("string", False, DEFAULT, ends=_name in ("mail", "userPrincipalName"))
for _name in "employeeId state onPremisesImmutableId".split():
    PROPS[_name] = Prop("string", False, ADVANCED)
for _name in "id userType externalUserState creationType manager/id".split():
    PROPS[_name] = Prop("string", False)
for _name in "companyName officeLocation mobilePhone faxNumber postalCode streetAddress preferredLanguage " \
             "employeeType onPremisesSamAccountName".split():
    PROPS[_name] = Prop("string", True, ADVANCED)
for _name in ["employeeOrgData/costCenter", "employeeOrgData/division"] + [
    f"onPremisesExtensionAttributes/extensionAttribute{n}" for n in range(1, 16)
]:
    PROPS[_name] = Prop("string", True)  # eq only, and only as an advanced query
PROPS["accountEnabled"] = PROPS["onPremisesSyncEnabled"] = Prop("bool", False)
PROPS["showInAddressList"] = Prop("bool", True)
PROPS["createdDateTime"] = Prop("datetime", False)  # eq, ge, le by default
PROPS["employeeHireDate"] = Prop("datetime", True)
PROPS["proxyAddresses"] = PROPS["otherMails"] = Prop("strings", False, DEFAULT, ends=True)
PROPS["imAddresses"] = Prop("strings", False, ADVANCED)
PROPS["businessPhones"] = Prop("strings", True, ADVANCED)
PROPS["assignedLicenses"] = Prop("licenses", False)
EXTENSION_RE = re.compile(r"extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]{1,120}")
