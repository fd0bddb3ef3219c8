"""The emulated directories: tenants holding users, groups and org contacts, with change tracking for delta.

Users are generated lazily from (seed, tenant, index): a 200,000-user tenant costs only an id map until it is
read, and an object is materialised (copied into `items`) the first time the control API changes it.
"""
import datetime
import hashlib
import io
import random
import uuid
from functools import lru_cache

from entra_emulator import people

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
E3_SKU = "6fd2c87f-b296-42f0-b197-1e91e994b900"
E5_SKU = "c7df2760-2c81-4ef7-b578-5b5392b571df"
EPOCH = datetime.datetime(2019, 3, 1, 8, 0, tzinfo=datetime.timezone.utc)

USER_DEFAULT_PROPERTIES = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)
# Documented as returned only when reading a single user; $select of them on /users answers 501.
USER_SINGLE_ONLY = {
    "aboutMe", "birthday", "hireDate", "interests", "mySite", "pastProjects", "preferredName",
    "responsibilities", "schools", "skills", "mailboxSettings",
}
USER_PROPERTIES = (
    "id", "deletedDateTime", "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans",
    "authorizationInfo", "birthday", "businessPhones", "city", "companyName", "consentProvidedForMinor",
    "country", "createdDateTime", "creationType", "customSecurityAttributes", "department",
    "deviceEnrollmentLimit", "displayName", "employeeHireDate", "employeeId", "employeeLeaveDateTime",
    "employeeOrgData", "employeeType", "externalUserState", "externalUserStateChangeDateTime", "faxNumber",
    "givenName", "hireDate", "identities", "identityParentId", "imAddresses", "interests",
    "isManagementRestricted", "isResourceAccount", "jobTitle", "lastPasswordChangeDateTime",
    "legalAgeGroupClassification", "licenseAssignmentStates", "mail", "mailboxSettings", "mailNickname",
    "mobilePhone", "mySite", "officeLocation", "onPremisesDistinguishedName", "onPremisesDomainName",
    "onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
    "passwordProfile", "pastProjects", "postalCode", "preferredDataLocation", "preferredLanguage",
    "preferredName", "print", "provisionedPlans", "proxyAddresses", "responsibilities", "schools",
    "securityIdentifier", "serviceProvisioningErrors", "showInAddressList", "signInActivity",
    "signInSessionsValidFromDateTime", "skills", "state", "streetAddress", "surname", "usageLocation",
    "userPrincipalName", "userType",
)
GROUP_PROPERTIES = (
    "id", "deletedDateTime", "accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses",
    "autoSubscribeNewMembers", "classification", "createdDateTime", "description", "displayName",
    "expirationDateTime", "groupTypes", "hasMembersWithLicenseErrors", "hideFromAddressLists",
    "hideFromOutlookClients", "infoCatalogs", "isArchived", "isAssignableToRole", "isFavorite",
    "isManagementRestricted", "isSubscribedByMail", "licenseProcessingState", "mail", "mailEnabled",
    "mailNickname", "membershipRule", "membershipRuleProcessingState", "onPremisesDomainName",
    "onPremisesExtensionAttributes", "onPremisesLastSyncDateTime", "onPremisesNetBiosName",
    "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "organizationId", "preferredDataLocation", "preferredLanguage",
    "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions", "resourceProvisioningOptions",
    "securityEnabled", "securityIdentifier", "serviceProvisioningErrors", "theme", "uniqueName",
    "unseenConversationsCount", "unseenCount", "unseenMessagesCount", "visibility", "welcomeMessageEnabled",
)
GROUP_SELECT_ONLY = {
    "accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses", "autoSubscribeNewMembers",
    "hasMembersWithLicenseErrors", "hideFromAddressLists", "hideFromOutlookClients", "infoCatalogs",
    "isArchived", "isFavorite", "isManagementRestricted", "isSubscribedByMail", "licenseProcessingState",
    "onPremisesExtensionAttributes", "organizationId", "uniqueName", "unseenConversationsCount",
    "unseenCount", "unseenMessagesCount", "welcomeMessageEnabled",
}
GROUP_SINGLE_ONLY = {
    "allowExternalSenders", "autoSubscribeNewMembers", "hideFromAddressLists", "hideFromOutlookClients",
    "isSubscribedByMail", "unseenCount",
}
GROUP_UNSELECTABLE = {"hasMembersWithLicenseErrors", "isArchived"}
GROUP_DEFAULT_PROPERTIES = tuple(p for p in GROUP_PROPERTIES if p not in GROUP_SELECT_ONLY)
CONTACT_PROPERTIES = (
    "id", "deletedDateTime", "addresses", "companyName", "department", "displayName", "givenName",
    "jobTitle", "mail", "mailNickname", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors",
    "onPremisesSyncEnabled", "phones", "proxyAddresses", "serviceProvisioningErrors", "surname",
)
ODATA_TYPES = {"user": "#microsoft.graph.user", "group": "#microsoft.graph.group",
               "contact": "#microsoft.graph.orgContact"}


def stable_uuid(*parts) -> str:
    """A GUID that depends only on parts (seeded data keeps its ids across restarts and resets)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def iso(moment: datetime.datetime) -> str:
    """Graph's DateTimeOffset format (UTC, second precision, Z suffix)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Collection:
    """Objects of one kind in one tenant, addressed by a creation index, with the bookkeeping delta needs.

    `factory(index)` builds the seeded object for index < seeded; anything changed or added lives in `items`.
    Every change takes the tenant's next sequence number, so a delta token is just "changes after seq N".
    """

    def __init__(self, kind, tenant, seeded=0, factory=None, id_of=None):
        self.kind = kind
        self.tenant = tenant
        self.factory = factory
        self.count = seeded
        self.items = {}
        self.removed = {}          # index -> "changed" (soft delete) | "deleted" (permanent)
        self.created_seq = {}      # index -> seq of creation or restore
        self.prop_seq = {}         # index -> {property: seq of last change}
        self.removed_seq = {}      # index -> seq of removal
        self.previous_manager = {}  # index -> manager id before the last manager change
        self.seeded_ids = [id_of(i) for i in range(seeded)] if id_of else []
        self.ids = {object_id: i for i, object_id in enumerate(self.seeded_ids)}

    def get(self, index):
        """The live object at index, or None if it was removed."""
        if index in self.removed or index >= self.count:
            return None
        obj = self.items.get(index)
        if obj is None:
            obj = self.factory(index)
        return obj

    def index_of(self, object_id):
        """The index of a live object with this id, or None."""
        index = self.ids.get(object_id)
        if index is None or index in self.removed:
            return None
        return index

    def find(self, object_id):
        """The live object with this id, or None."""
        index = self.index_of(object_id)
        return None if index is None else self.get(index)

    def iter_from(self, start=0):
        """Yield (index, object) for live objects from index start on, in creation order."""
        for index in range(start, self.count):
            if index in self.removed:
                continue
            yield index, self.get(index)

    def live_count(self):
        """How many objects are live."""
        return self.count - len(self.removed)

    def materialise(self, index):
        """The object at index as a stored dict that may be changed in place."""
        if index not in self.items:
            self.items[index] = self.factory(index)
        return self.items[index]

    def create(self, obj):
        """Add obj (which carries its id) and record the creation."""
        index = self.count
        self.count += 1
        self.items[index] = obj
        self.ids[obj["id"]] = index
        self.created_seq[index] = self.tenant.next_seq()
        return index

    def update(self, index, changes):
        """Apply property changes and record which properties changed."""
        obj = self.materialise(index)
        seq = self.tenant.next_seq()
        touched = self.prop_seq.setdefault(index, {})
        for name, value in changes.items():
            if obj.get(name) != value:
                if name == "_manager":
                    # Delta reports a removed manager by its old id.
                    self.previous_manager[index] = obj.get(name)
                obj[name] = value
                touched[name] = seq
        return obj

    def remove(self, index, reason="deleted"):
        """Remove the object; delta reports it with @removed {reason}."""
        self.materialise(index)
        self.removed[index] = reason
        self.removed_seq[index] = self.tenant.next_seq()

    def restore(self, index):
        """Bring back a soft-deleted object; delta reports it like a new one."""
        if self.removed.get(index) != "changed":
            raise KeyError(index)
        del self.removed[index]
        self.removed_seq.pop(index, None)
        self.created_seq[index] = self.tenant.next_seq()

    def changes_since(self, seq):
        """Indices changed after seq, as (index, "new"|"updated"|"removed", changed property names)."""
        out = {}
        for index, at in self.created_seq.items():
            if at > seq and index not in self.removed:
                out[index] = ("new", None)
        for index, props in self.prop_seq.items():
            if index in out or index in self.removed:
                continue
            changed = {name for name, at in props.items() if at > seq}
            if changed:
                out[index] = ("updated", changed)
        for index, at in self.removed_seq.items():
            # An object created and removed inside the window was never seen by the client: omit it.
            if at > seq and index in self.removed and self.created_seq.get(index, 0) <= seq:
                out[index] = ("removed", None)
        return [(index, *out[index]) for index in sorted(out)]


class Tenant:
    """One Entra tenant: organisation facts, directory objects, membership events, sign-in accounts."""

    def __init__(self, seed, key, display_name, domain_prefix, custom_domain, users, groups, contacts):
        self.seed = seed
        self.key = key
        self.id = stable_uuid(seed, "tenant", key)
        self.display_name = display_name
        self.initial_domain = f"{domain_prefix}.onmicrosoft.com"
        self.default_domain = custom_domain or self.initial_domain
        self.domains = [self.initial_domain] + ([custom_domain] if custom_domain else [])
        self.created = EPOCH - datetime.timedelta(days=400 + len(key) * 3)
        self.seq = 0
        self.delta_epoch = 0
        self.delta_expiry_mode = "syncStateNotFound"   # or "410" (control API: expire delta tokens)
        self.users = Collection("user", self, users, self._make_user, self._user_id)
        self.groups = Collection("group", self)
        self.contacts = Collection("contact", self)
        self.member_events = []    # (seq, group_id, member_kind, member_id, removed)
        self.upns = {}
        for index in range(users):
            self.upns[people.upn_of(self, index).lower()] = index
        people.seed_contacts(self, contacts)
        people.seed_groups(self, groups)

    def next_seq(self):
        """Advance and return the change sequence number."""
        self.seq += 1
        return self.seq

    def _user_id(self, index):
        return stable_uuid(self.seed, self.key, "user", index)

    def _make_user(self, index):
        return people.make_user(self, index)

    # ----- lookups -----
    def organization(self) -> dict:
        """The tenant as Graph's organization resource."""
        return {
            "id": self.id,
            "deletedDateTime": None,
            "businessPhones": ["+1 425 555 0100"],
            "city": "Redmond",
            "country": None,
            "countryLetterCode": "US",
            "createdDateTime": iso(self.created),
            "displayName": self.display_name,
            "marketingNotificationEmails": [],
            "onPremisesLastSyncDateTime": None,
            "onPremisesSyncEnabled": None,
            "postalCode": "98052",
            "preferredLanguage": "en",
            "privacyProfile": None,
            "securityComplianceNotificationMails": [],
            "securityComplianceNotificationPhones": [],
            "state": "WA",
            "street": "1 Microsoft Way",
            "technicalNotificationMails": [f"admin@{self.initial_domain}"],
            "tenantType": "AAD",
            "directorySizeQuota": {"used": self.users.live_count() + self.groups.live_count(), "total": 300000},
            "assignedPlans": [],
            "provisionedPlans": [],
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": name == self.default_domain,
                    "isInitial": name == self.initial_domain,
                    "name": name,
                    "type": "Managed",
                }
                for name in self.domains
            ],
        }

    def find_user(self, key: str):
        """(index, user) by object id or userPrincipalName (case-insensitive), or (None, None)."""
        index = self.users.index_of(key)
        if index is None:
            index = self.upns.get(key.lower())
            if index is not None and index in self.users.removed:
                index = None
        if index is None:
            return None, None
        return index, self.users.get(index)

    def find_object(self, object_id: str):
        """(kind, object) for a live user, group or contact id, or (None, None)."""
        for kind, collection in (("user", self.users), ("group", self.groups), ("contact", self.contacts)):
            obj = collection.find(object_id)
            if obj is not None:
                return kind, obj
        return None, None

    def admin(self) -> dict:
        """The seeded Global Administrator account (index 0)."""
        return self.users.get(0)

    # ----- changes (control API) -----
    def add_user(self, fields: dict) -> dict:
        """Create a user from Graph-shaped fields; missing required fields are derived from displayName."""
        index = self.users.count
        user = people.new_user(self, index, fields)
        self.users.create(user)
        self.upns[user["userPrincipalName"].lower()] = index
        return user

    def update_user(self, index, changes: dict) -> dict:
        """Change properties of a user (internal `_`-prefixed keys included)."""
        old_upn = self.users.get(index)["userPrincipalName"]
        user = self.users.update(index, changes)
        if user["userPrincipalName"] != old_upn:
            self.upns.pop(old_upn.lower(), None)
            self.upns[user["userPrincipalName"].lower()] = index
        return user

    def remove_user(self, index, soft=False):
        """Delete a user (soft: restorable, delta says reason "changed"); drop its group memberships."""
        user = self.users.get(index)
        self.users.remove(index, "changed" if soft else "deleted")
        self._drop_member(user["id"])

    def restore_user(self, index):
        """Restore a soft-deleted user (memberships are not restored, as in Entra)."""
        self.users.restore(index)

    def add_group(self, fields: dict) -> dict:
        """Create a group from Graph-shaped fields."""
        group = people.new_group(self, self.groups.count, fields)
        self.groups.create(group)
        return group

    def remove_group(self, index, soft=False):
        """Delete a group; it also stops being a member of other groups."""
        group = self.groups.get(index)
        self.groups.remove(index, "changed" if soft else "deleted")
        self._drop_member(group["id"])

    def add_contact(self, fields: dict) -> dict:
        """Create an org contact."""
        contact = people.new_contact(self, self.contacts.count, fields)
        self.contacts.create(contact)
        return contact

    def remove_contact(self, index):
        """Delete an org contact."""
        contact = self.contacts.get(index)
        self.contacts.remove(index, "deleted")
        self._drop_member(contact["id"])

    def add_member(self, group_index, member_id, *, record=True, kind=None):
        """Add a direct member (user, group or contact id) to a group; seeding passes the kind it knows."""
        if kind is None:
            kind, obj = self.find_object(member_id)
            if obj is None:
                raise KeyError(member_id)
        group = self.groups.materialise(group_index)
        if member_id in group["_members"]:
            return False
        group["_members"][member_id] = kind
        if record:
            self.member_events.append((self.next_seq(), group["id"], kind, member_id, False))
        return True

    def remove_member(self, group_index, member_id):
        """Remove a direct member from a group."""
        group = self.groups.materialise(group_index)
        kind = group["_members"].pop(member_id, None)
        if kind is None:
            return False
        self.member_events.append((self.next_seq(), group["id"], kind, member_id, True))
        return True

    def _drop_member(self, member_id):
        for index, group in list(self.groups.iter_from()):
            if member_id in group["_members"]:
                self.remove_member(index, member_id)

    def member_changes_since(self, seq):
        """{group_id: [(kind, member_id, removed)]} for membership changes after seq, in order."""
        out = {}
        for at, group_id, kind, member_id, removed in self.member_events:
            if at > seq:
                out.setdefault(group_id, []).append((kind, member_id, removed))
        return out

    # ----- photos -----
    def photo(self, user) -> bytes | None:
        """JPEG bytes of the user's photo, or None when the user has none."""
        if "_photo" in user:
            return user["_photo"]
        if not user.get("_seed_photo"):
            return None
        return generated_photo(user["id"], user.get("displayName") or "")


@lru_cache(maxsize=512)
def generated_photo(object_id: str, name: str) -> bytes:
    """A small deterministic JPEG: a coloured square with the person's initials."""
    from PIL import Image, ImageDraw

    rng = random.Random(object_id)
    colour = tuple(rng.randrange(40, 200) for _ in range(3))
    image = Image.new("RGB", (96, 96), colour)
    initials = "".join(part[0] for part in name.split()[:2] if part and part[0].isascii()).upper() or "?"
    ImageDraw.Draw(image).text((30, 40), initials, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def solid_photo(colour=(200, 30, 30), size=64) -> bytes:
    """A plain JPEG of one colour (control API default for "set photo")."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), tuple(colour)).save(out, "JPEG", quality=85)
    return out.getvalue()
