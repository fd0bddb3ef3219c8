"""Deterministic seed data: users (with the awkward cases real tenants contain), groups and org contacts."""
import datetime
import functools
import hashlib
import random

from entra_emulator import directory

GIVEN = (
    "Adele", "Alex", "Allan", "Amara", "Ben", "Bianca", "Carlos", "Chen", "Christie", "Dara", "Diego", "Elena",
    "Emil", "Fatima", "Finn", "Grady", "Hana", "Henrietta", "Isaiah", "Ivy", "Jakob", "Johanna", "Joni",
    "Kenji", "Lara", "Lee", "Lidia", "Lynne", "Malik", "Maya", "Megan", "Miriam", "Nestor", "Nia", "Omar",
    "Patti", "Pradeep", "Priya", "Quinn", "Rafael", "Rosa", "Sanjay", "Sara", "Selin", "Tomas", "Tariq",
    "Uma", "Vera", "Viktor", "Wei", "Willa", "Xena", "Yusuf", "Yara", "Zane", "Zofia", "Irvin", "Lena",
    "Mateo", "Noor", "Oskar", "Pia", "Ravi", "Sofia",
)
SURNAMES = (
    "Vance", "Wilber", "Deyoung", "Okafor", "Lindqvist", "Rossi", "Mendes", "Wu", "Cline", "Novak", "Ortega",
    "Petrova", "Berg", "Haddad", "Murphy", "Campbell", "Sato", "Baker", "Thompson", "Lopez", "Schmidt",
    "Hansen", "Sherman", "Tanaka", "Kowalski", "Patel", "Garcia", "Johnson", "Adeyemi", "Cohen", "Bowen",
    "Jensen", "Celeste", "Kariuki", "Farouk", "Fernandez", "Gupta", "Iyer", "Brennan", "Almeida", "Ruiz",
    "Kapoor", "Ahmed", "Yilmaz", "Dvorak", "Nasser", "Underwood", "Vogel", "Volkov", "Zhang", "Wright",
    "Xu", "Kaya", "Young", "Ziegler", "Nowak", "Sharma", "Fischer", "Moreau", "Khan", "Eriksen", "Costa",
    "Reddy", "Silva",
)
DEPARTMENTS = ("Sales", "Marketing", "Engineering", "Finance", "Human Resources", "Legal", "Operations",
               "Customer Success")
TITLES = {
    "Sales": ("Account Executive", "Sales Manager", "Inside Sales Representative", "Regional Sales Director"),
    "Marketing": ("Marketing Manager", "Content Strategist", "Brand Designer", "Events Coordinator"),
    "Engineering": ("Software Engineer", "Senior Software Engineer", "Engineering Manager", "SRE"),
    "Finance": ("Accountant", "Financial Analyst", "Controller", "Payroll Specialist"),
    "Human Resources": ("HR Business Partner", "Recruiter", "People Operations Lead", "HR Generalist"),
    "Legal": ("Legal Counsel", "Paralegal", "Compliance Officer", "Contracts Manager"),
    "Operations": ("Operations Manager", "Facilities Coordinator", "Logistics Analyst", "Office Manager"),
    "Customer Success": ("Customer Success Manager", "Support Engineer", "Onboarding Specialist",
                         "Support Team Lead"),
}
# (officeLocation building, streetAddress, city, state, postalCode, country, usageLocation, phone prefix)
OFFICES = (
    ("Building 1", "4567 Main St", "Redmond", "WA", "98052", "United States", "US", "+1 425 555 "),
    ("Building 2", "100 Market St", "Seattle", "WA", "98101", "United States", "US", "+1 206 555 "),
    ("Tower A", "20 Fenchurch St", "London", None, "EC3M 3BY", "United Kingdom", "GB", "+44 20 7946 "),
    ("Haus B", "Friedrichstraße 68", "Berlin", "Berlin", "10117", "Germany", "DE", "+49 30 901820 "),
    ("Level 12", "1 Martin Pl", "Sydney", "NSW", "2000", "Australia", "AU", "+61 2 5550 "),
)
LICENSES = [{"disabledPlans": [], "skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900"}]  # Office 365 E3
EXTENSION_NAMES = tuple(f"extensionAttribute{n}" for n in range(1, 16))

# Index-addressed hand-made users. Index 0 is each tenant's Global Administrator.
HARD_CASES = (
    {"nick": "admin", "givenName": "Megan", "surname": "Bowen", "jobTitle": "IT Administrator",
     "department": "Operations", "_seed_photo": True, "_admin": True},
    {"nick": "noah.nomail", "givenName": "Noah", "surname": "Nomail", "mail": None,
     "proxyAddresses": ["SMTP:noah.primary@{d}", "smtp:noah.alias@{d}", "smtp:noah.nomail@{i}"]},
    {"nick": "olivia.othermail", "givenName": "Olivia", "surname": "Othermail", "mail": None,
     "proxyAddresses": [], "otherMails": ["olivia.private@example.net"]},
    {"nick": "uma.upnonly", "givenName": "Uma", "surname": "Upnonly", "mail": None, "proxyAddresses": [],
     "otherMails": []},
    {"nick": None, "userPrincipalName": "grace.guest_example.org#EXT#@{i}", "givenName": "Grace",
     "surname": "Guest", "mail": "grace.guest@example.org", "otherMails": ["grace.guest@example.org"],
     "proxyAddresses": ["SMTP:grace.guest@example.org"], "userType": "Guest", "externalUserState": "Accepted",
     "creationType": "Invitation", "assignedLicenses": [], "_purpose": None, "_manager": None,
     "companyName": None, "employeeId": None},
    {"nick": "dan.disabled", "givenName": "Dan", "surname": "Disabled", "accountEnabled": False,
     "assignedLicenses": []},
    {"nick": "confroomadams", "displayName": "Conf Room Adams", "givenName": None, "surname": None,
     "jobTitle": None, "department": None, "accountEnabled": False, "assignedLicenses": [],
     "_purpose": "room", "_manager": None, "employeeId": None, "employeeType": None, "mobilePhone": None},
    {"nick": "projector3", "displayName": "Projector 3", "givenName": None, "surname": None, "jobTitle": None,
     "department": None, "accountEnabled": False, "assignedLicenses": [], "_purpose": "equipment",
     "_manager": None, "employeeId": None, "employeeType": None, "mobilePhone": None},
    {"nick": "sales", "displayName": "Sales Team Mailbox", "givenName": None, "surname": None,
     "jobTitle": None, "department": "Sales", "accountEnabled": False, "assignedLicenses": [],
     "_purpose": "shared", "_manager": None, "employeeId": None, "employeeType": None, "mobilePhone": None},
    {"nick": "zoe.angstrom-muller", "givenName": "Zoë", "surname": "Ångström-Müller", "city": "Zürich",
     "country": "Switzerland", "usageLocation": "CH", "jobTitle": "Directrice Générale Adjointe",
     "_seed_photo": True},
    {"nick": "taro.yamada", "givenName": "太郎", "surname": "山田", "displayName": "山田 太郎",
     "jobTitle": "エンジニア", "city": "東京", "country": "Japan", "usageLocation": "JP"},
    {"nick": "layla.haddad", "givenName": "ليلى", "surname": "حداد", "displayName": "ليلى حداد",
     "jobTitle": "مديرة المبيعات", "city": "دبي", "country": "United Arab Emirates", "usageLocation": "AE"},
    {"nick": "xavier.script", "givenName": "Xavier", "surname": "Script",
     "jobTitle": "<script>alert(1)</script>", "department": '" onmouseover="alert(1)',
     "officeLocation": "<b>HQ</b> & <i>Annex</i>"},
    {"nick": "tess.template", "givenName": "{{7*7}}", "surname": "Template", "displayName": "{{7*7}} Template",
     "companyName": "{% debug %}", "jobTitle": "${7*7} #{7*7} <%= 7*7 %>", "department": "{{ config }}"},
    {"nick": "sam.duplicate", "givenName": "Sam", "surname": "Duplicate", "mail": "sam.duplicate@{d}"},
    {"nick": "sam.duplicate2", "givenName": "Samantha", "surname": "Duplicate", "mail": "sam.duplicate@{d}"},
    {"nick": "pat", "displayName": "Pat", "givenName": None, "surname": None},
    {"nick": "lorenzo.longfield", "givenName": "Lorenzo", "surname": "Longfield",
     "jobTitle": "Principal Senior Distinguished Vice President of Strategic Cross-Functional Global "
                 "Transformation and Operational Excellence Initiatives (EMEA)",
     "streetAddress": "Unit 4B, The Old Brewery Business Park, 1234 Extraordinarily Long Named Avenue West"},
    {"nick": "chloe.obrien", "givenName": "Chloé", "surname": "O'Brien-Đặng", "mail": "chloe.o'brien@{d}"},
    {"nick": "carl.contractor", "givenName": "Carl", "surname": "Contractor", "employeeType": "Contractor",
     "employeeId": "C-0019", "_manager": None, "companyName": "Northwind Staffing"},
    {"nick": "phoebe.phones", "givenName": "Phoebe", "surname": "Phones", "businessPhones": [],
     "mobilePhone": "+44 (0)20 7946 0958", "faxNumber": "+1 425 555 0199"},
    {"nick": "noa.cohen", "givenName": "נועה", "surname": "כהן", "displayName": "נועה כהן",
     "jobTitle": "מנהלת מוצר", "city": "תל אביב", "country": "Israel", "usageLocation": "IL"},
)
FIRST_REGULAR = len(HARD_CASES)
BLOCK = len(GIVEN) * len(SURNAMES)


def _num(*parts) -> int:
    return int.from_bytes(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _regular_names(index, offset=0):
    # The offset gives each tenant its own people; hand-made cases stay the same everywhere.
    local = index - FIRST_REGULAR + offset
    block, rest = divmod(local, BLOCK)
    g = rest % len(GIVEN)
    s = (rest // len(GIVEN) + g * 17) % len(SURNAMES)
    given, surname = GIVEN[g], SURNAMES[s]
    nick = f"{given}.{surname}".lower() + (str(block + 1) if block else "")
    return given, surname, nick


def name_offset(tenant) -> int:
    """Where a tenant starts in the name sequence (the main tenant starts at 0)."""
    return _offset(tenant.seed, tenant.key)


@functools.lru_cache(maxsize=64)
def _offset(seed, key):
    return 0 if key == "contoso" else _num(seed, key, "names") % BLOCK


def department_of(index) -> str:
    """The seeded department of a regular user (cheap: group seeding calls it for every user)."""
    return DEPARTMENTS[(index * 2654435761 >> 5) % len(DEPARTMENTS)]


def _fmt(value, tenant):
    if isinstance(value, str):
        return value.replace("{d}", tenant.default_domain).replace("{i}", tenant.initial_domain)
    if isinstance(value, list):
        return [_fmt(v, tenant) for v in value]
    return value


def upn_of(tenant, index) -> str:
    """The seeded userPrincipalName of the user at index."""
    if index < FIRST_REGULAR:
        case = HARD_CASES[index]
        if case.get("userPrincipalName"):
            return _fmt(case["userPrincipalName"], tenant)
        return f"{case['nick']}@{tenant.default_domain}"
    return f"{_regular_names(index, name_offset(tenant))[2]}@{tenant.default_domain}"


def _empty_user():
    return {
        "id": None, "accountEnabled": True, "assignedLicenses": [], "businessPhones": [], "city": None,
        "companyName": None, "country": None, "createdDateTime": None, "creationType": None,
        "department": None, "displayName": None, "employeeHireDate": None, "employeeId": None,
        "employeeOrgData": None, "employeeType": None, "externalUserState": None, "faxNumber": None,
        "givenName": None, "identities": [], "imAddresses": [], "jobTitle": None, "mail": None,
        "mailNickname": None, "mobilePhone": None, "officeLocation": None,
        "onPremisesExtensionAttributes": {name: None for name in EXTENSION_NAMES},
        "onPremisesImmutableId": None, "onPremisesSamAccountName": None, "onPremisesSyncEnabled": None,
        "otherMails": [], "postalCode": None, "preferredLanguage": None, "proxyAddresses": [],
        "showInAddressList": None, "state": None, "streetAddress": None, "surname": None,
        "usageLocation": None, "userPrincipalName": None, "userType": "Member",
        "_manager": None, "_seed_photo": False, "_purpose": "user",
    }


def make_user(tenant, index) -> dict:
    """The seeded user at index, built from the tenant's seed alone."""
    rng = random.Random(_num(tenant.seed, tenant.key, index))
    if index < FIRST_REGULAR:
        case = HARD_CASES[index]
        given, surname, nick = case.get("givenName"), case.get("surname"), case.get("nick")
        department = case.get("department", "Operations")
    else:
        case = {}
        given, surname, nick = _regular_names(index, name_offset(tenant))
        department = department_of(index)
    upn = upn_of(tenant, index)
    nick = nick or upn.split("@")[0].replace("#EXT#", "")
    office = OFFICES[rng.randrange(len(OFFICES))]
    building, street, city, state, postal, country, usage, phone = office
    user = _empty_user()
    created = directory.EPOCH + datetime.timedelta(minutes=37 * index)
    hire = (directory.EPOCH - datetime.timedelta(days=rng.randrange(3000))).replace(hour=0, minute=0)
    extensions = {name: None for name in EXTENSION_NAMES}
    if rng.random() < 0.3:
        extensions["extensionAttribute1"] = rng.choice(("she/her", "he/him", "they/them"))
    if rng.random() < 0.5:
        extensions["extensionAttribute2"] = f"https://www.linkedin.com/in/{nick.replace('.', '-')}"
    user.update({
        "id": stable_id(tenant, index),
        "accountEnabled": True,
        "assignedLicenses": [dict(x) for x in LICENSES],
        "businessPhones": [f"{phone}{rng.randrange(1000, 9999)}"] if rng.random() < 0.9 else [],
        "city": city,
        "companyName": tenant.display_name,
        "country": country,
        "createdDateTime": directory.iso(created),
        "department": department,
        "displayName": f"{given} {surname}" if given and surname else None,
        "employeeHireDate": directory.iso(hire),
        "employeeId": f"{100000 + index}",
        "employeeOrgData": {"costCenter": f"CC-{1000 + rng.randrange(90)}",
                            "division": rng.choice(("Commercial", "Corporate", "Product"))},
        "employeeType": "Employee",
        "faxNumber": None,
        "givenName": given,
        "jobTitle": rng.choice(TITLES.get(department, ("Specialist",))),
        "mail": f"{nick}@{tenant.default_domain}",
        "mailNickname": nick.replace("'", ""),
        "mobilePhone": f"+1 555 01{rng.randrange(10, 99)} {rng.randrange(1000, 9999)}" if rng.random() < 0.6
        else None,
        "officeLocation": f"{building}/{rng.randrange(100, 499)}",
        "onPremisesExtensionAttributes": extensions,
        "otherMails": [],
        "postalCode": postal,
        "preferredLanguage": "en-US",
        "proxyAddresses": [f"SMTP:{nick}@{tenant.default_domain}", f"smtp:{nick}@{tenant.initial_domain}"],
        "state": state,
        "streetAddress": street,
        "surname": surname,
        "usageLocation": usage,
        "userPrincipalName": upn,
        "userType": "Member",
        "_manager": _manager_index(index),
        "_seed_photo": index >= FIRST_REGULAR and index % 3 == 0,
        "_purpose": "user",
    })
    for name, value in case.items():
        if name != "nick":
            user[name] = _fmt(value, tenant)
    if user["displayName"] is None:
        user["displayName"] = " ".join(p for p in (given, surname) if p) or nick
    if user["_manager"] is not None:
        user["_manager"] = stable_id(tenant, user["_manager"])
    return user


def _manager_index(index):
    if index == 0:
        return None
    if index < FIRST_REGULAR:
        return 0
    local = index - FIRST_REGULAR
    return 0 if local < 6 else FIRST_REGULAR + (local - 6) // 6


def stable_id(tenant, index) -> str:
    """The object id of the seeded user at index."""
    seeded = tenant.users.seeded_ids if hasattr(tenant, "users") else ()
    if index < len(seeded):
        return seeded[index]
    return directory.stable_uuid(tenant.seed, tenant.key, "user", index)


def new_user(tenant, index, fields: dict) -> dict:
    """A user added through the control API: Graph-shaped fields on top of sensible empty defaults."""
    user = _empty_user()
    user.update(fields)
    user["id"] = fields.get("id") or directory.stable_uuid(tenant.seed, tenant.key, "user", index)
    if not user.get("userPrincipalName"):
        base = (user.get("mailNickname") or user.get("displayName") or f"user{index}").replace(" ", ".").lower()
        user["userPrincipalName"] = f"{base}@{tenant.default_domain}"
    user["mailNickname"] = user["mailNickname"] or user["userPrincipalName"].split("@")[0]
    user["displayName"] = user["displayName"] or user["userPrincipalName"].split("@")[0]
    user["createdDateTime"] = user["createdDateTime"] or directory.iso(
        datetime.datetime.now(datetime.timezone.utc))
    return user


def new_group(tenant, index, fields: dict) -> dict:
    """A group with Graph's default-returned properties; `_members` maps member id -> kind."""
    name = fields.get("displayName") or f"Group {index}"
    nick = "".join(c for c in name if c.isalnum()) or f"group{index}"
    unified = "Unified" in fields.get("groupTypes", [])
    group = {
        "id": fields.get("id") or directory.stable_uuid(tenant.seed, tenant.key, "group", index),
        "deletedDateTime": None, "classification": None,
        "createdDateTime": directory.iso(directory.EPOCH + datetime.timedelta(days=index)),
        "creationOptions": [], "description": None, "displayName": name, "expirationDateTime": None,
        "groupTypes": [], "isAssignableToRole": None, "mail": f"{nick}@{tenant.default_domain}" if unified
        else None, "mailEnabled": unified, "mailNickname": nick, "membershipRule": None,
        "membershipRuleProcessingState": None, "onPremisesDomainName": None,
        "onPremisesLastSyncDateTime": None, "onPremisesNetBiosName": None, "onPremisesSamAccountName": None,
        "onPremisesSecurityIdentifier": None, "onPremisesSyncEnabled": None, "preferredDataLocation": None,
        "preferredLanguage": None, "proxyAddresses": [f"SMTP:{nick}@{tenant.default_domain}"] if unified else [],
        "renewedDateTime": directory.iso(directory.EPOCH + datetime.timedelta(days=index)),
        "resourceBehaviorOptions": [], "resourceProvisioningOptions": [], "securityEnabled": not unified,
        "securityIdentifier": f"S-1-12-1-{_num(tenant.key, index) % 10**9}", "theme": None,
        "visibility": "Public" if unified else None, "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
    }
    group.update({k: v for k, v in fields.items() if k != "members"})
    group["_members"] = {}
    return group


def new_contact(tenant, index, fields: dict) -> dict:
    """An org contact with all its properties (org contacts return every property by default)."""
    given, surname = fields.get("givenName"), fields.get("surname")
    contact = {
        "id": fields.get("id") or directory.stable_uuid(tenant.seed, tenant.key, "contact", index),
        "deletedDateTime": None, "addresses": [], "companyName": None, "department": None,
        "displayName": " ".join(p for p in (given, surname) if p) or f"Contact {index}",
        "givenName": given, "jobTitle": None, "mail": None, "mailNickname": None,
        "onPremisesLastSyncDateTime": None, "onPremisesProvisioningErrors": [], "onPremisesSyncEnabled": None,
        "phones": [], "proxyAddresses": [], "serviceProvisioningErrors": [], "surname": surname,
    }
    contact.update(fields)
    return contact


PARTNERS = (("Fourth Coffee", "fourthcoffee.example"), ("Litware", "litware.example"),
            ("Adventure Works", "adventure-works.example"), ("Tailspin Toys", "tailspintoys.example"))


def seed_contacts(tenant, count):
    """Org contacts: partner people, plus one without mail, one with markup, one with a unicode name."""
    specials = [
        {"givenName": "Nadia", "surname": "Nomail", "companyName": "Litware", "mail": None},
        {"givenName": "Hector", "surname": "Html", "companyName": "<img src=x onerror=alert(1)>",
         "mail": "hector@litware.example"},
        {"givenName": "Søren", "surname": "Kierkegård", "companyName": "Fourth Coffee",
         "mail": "soren@fourthcoffee.example"},
    ]
    for index in range(count):
        if index < len(specials):
            fields = dict(specials[index])
        else:
            rng = random.Random(_num(tenant.seed, tenant.key, "contact", index))
            company, domain = PARTNERS[index % len(PARTNERS)]
            given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
            fields = {"givenName": given, "surname": surname, "companyName": company,
                      "mail": f"{given}.{surname}{index}@{domain}".lower(),
                      "jobTitle": rng.choice(("Partner Manager", "Consultant", "Reseller"))}
        if fields.get("mail"):
            fields["mailNickname"] = fields["mail"].split("@")[0]
            fields["proxyAddresses"] = [f"SMTP:{fields['mail']}"]
        fields["phones"] = [{"type": "business", "number": f"+1 555 0{100 + index}", "region": None,
                             "language": None}]
        fields["addresses"] = [{"city": "Portland", "countryOrRegion": "United States", "officeLocation": None,
                                "postalCode": "97201", "state": "OR", "street": "1 Partner Way"}]
        tenant.contacts.create(new_contact(tenant, index, fields))
    # Seeded objects are the starting state, not changes.
    tenant.contacts.created_seq.clear()


def seed_groups(tenant, count):
    """Groups: All Company, departments, nesting, a two-group cycle, partners, then small project groups."""
    users = tenant.users.count
    specs = [("All Company", ["Unified"])] + [(f"Dept {d}", []) for d in DEPARTMENTS] + [
        ("Engineering Leads", []), ("Cycle Alpha", []), ("Cycle Beta", []), ("External Partners", ["Unified"]),
    ]
    for index in range(count):
        if index < len(specs):
            name, types = specs[index]
        else:
            name, types = f"Project {SURNAMES[index % len(SURNAMES)]} {index}", []
        tenant.groups.create(new_group(tenant, index, {"displayName": name, "groupTypes": types,
                                                       "description": f"{name} (seeded)"}))
    by_name = {g["displayName"]: i for i, g in tenant.groups.iter_from()}

    def add(group_name, member_id, kind="user"):
        if group_name in by_name:
            tenant.add_member(by_name[group_name], member_id, record=False, kind=kind)

    for index in range(users):
        uid = stable_id(tenant, index)
        add("All Company", uid)
        if index >= FIRST_REGULAR:
            add(f"Dept {department_of(index)}", uid)
    for index in range(FIRST_REGULAR, min(users, FIRST_REGULAR + 400)):
        if department_of(index) == "Engineering" and index % 4 == 0:
            add("Engineering Leads", stable_id(tenant, index))
    if "Engineering Leads" in by_name:
        add("Dept Engineering", tenant.groups.get(by_name["Engineering Leads"])["id"], "group")
    if "Cycle Alpha" in by_name and "Cycle Beta" in by_name:
        add("Cycle Alpha", tenant.groups.get(by_name["Cycle Beta"])["id"], "group")
        add("Cycle Beta", tenant.groups.get(by_name["Cycle Alpha"])["id"], "group")
        add("Cycle Alpha", stable_id(tenant, min(1, users - 1)))
        add("Cycle Beta", stable_id(tenant, min(2, users - 1)))
    for _, contact in tenant.contacts.iter_from():
        add("External Partners", contact["id"], "contact")
    if users > 4:
        add("External Partners", stable_id(tenant, 4))
    for index in range(len(specs), count):
        rng = random.Random(_num(tenant.seed, tenant.key, "project", index))
        for member in rng.sample(range(min(users, 500)), k=min(users, rng.randrange(5, 30))):
            tenant.add_member(index, stable_id(tenant, member), record=False, kind="user")
    tenant.groups.created_seq.clear()
