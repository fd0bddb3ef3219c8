"""The part of OData that Graph's directory endpoints accept: $filter parsing, checking and evaluation.

Which property/operator pairs work by default and which need an advanced query (ConsistencyLevel: eventual
plus $count=true) follows learn.microsoft.com/graph/aad-advanced-queries (the filter table).
"""
import re


class QueryError(Exception):
    """A query Graph refuses: carries the HTTP status, Graph error code and message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<dt>\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)?)
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_$][\w$]*)
    | (?P<punct>[(),/:])
    )""", re.VERBOSE)
COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}


def tokenize(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(400, "BadRequest", f"Invalid filter clause: syntax error at position {pos} in "
                                                f"'{text}'.")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            out.append(("lit", value[1:-1].replace("''", "'")))
        elif kind in ("dt", "guid"):
            out.append(("lit", value))
        elif kind == "num":
            out.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "name" and value in ("true", "false", "null"):
            out.append(("lit", {"true": True, "false": False, "null": None}[value]))
        elif kind == "name":
            out.append(("name", value))
        else:
            out.append(("punct", value))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.pos = 0
        self.text = text

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        token = self.peek()
        if token[0] is None or (kind and token[0] != kind) or (value is not None and token[1] != value):
            raise QueryError(400, "BadRequest", f"Invalid filter clause: unexpected token near "
                                                f"'{token[1]}' in '{self.text}'.")
        self.pos += 1
        return token

    def parse(self):
        node = self.expr()
        if self.peek()[0] is not None:
            self.take("end")
        return node

    def expr(self):
        node = self.conj()
        while self.peek() == ("name", "or"):
            self.take()
            node = ("or", node, self.conj())
        return node

    def conj(self):
        node = self.unary()
        while self.peek() == ("name", "and"):
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self):
        if self.peek() == ("name", "not"):
            self.take()
            return ("not", self.unary())
        if self.peek() == ("punct", "("):
            self.take()
            node = self.expr()
            self.take("punct", ")")
            return node
        left = self.operand()
        if left[0] in ("func", "any"):
            return left
        op = self.take("name")[1]
        if op == "in":
            self.take("punct", "(")
            values = [self.take("lit")[1]]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.take("lit")[1])
            self.take("punct", ")")
            return ("in", left, values)
        if op not in COMPARE:
            raise QueryError(400, "BadRequest", f"Invalid filter clause: unknown operator '{op}'.")
        return ("cmp", op, left, self.operand())

    def operand(self):
        kind, value = self.peek()
        if kind == "lit":
            self.take()
            return ("lit", value)
        name = self.take("name")[1]
        if self.peek() == ("punct", "(") and name.lower() in ("startswith", "endswith"):
            self.take()
            target = self.operand()
            self.take("punct", ",")
            literal = self.take("lit")[1]
            self.take("punct", ")")
            return ("func", name.lower(), target, literal)
        segments = [name]
        while self.peek() == ("punct", "/"):
            self.take()
            segment = self.take("name")[1]
            if segment in ("any", "all") and self.peek() == ("punct", "("):
                self.take()
                var = self.take("name")[1]
                self.take("punct", ":")
                body = self.expr()
                self.take("punct", ")")
                return ("any", segments, var, body, segment)
            segments.append(segment)
        if segments[-1] == "$count":
            return ("count", segments[:-1])
        return ("path", segments)


def parse(text):
    """Parse a $filter expression into a small tuple tree; raises QueryError on bad syntax."""
    return Parser(text).parse()


# Per resource: property path -> (operators allowed by default, operators allowed with advanced query).
EQ = {"eq", "in"}
EQ_RANGE = {"eq", "in", "ge", "le", "gt", "lt"}
SW = {"eq", "in", "startswith"}
ADV_ALL = {"eq", "in", "ne", "not", "startswith", "endswith", "ge", "le", "gt", "lt", "null"}
USER_RULES = {
    "id": (EQ, ADV_ALL), "accountEnabled": (EQ, ADV_ALL), "userType": (EQ, ADV_ALL),
    "employeeId": (EQ, ADV_ALL), "mail": (SW, ADV_ALL), "mailNickname": (SW, ADV_ALL),
    "userPrincipalName": (SW, ADV_ALL), "displayName": (SW, ADV_ALL), "givenName": (SW, ADV_ALL),
    "surname": (SW, ADV_ALL), "jobTitle": (SW, ADV_ALL), "department": (SW, ADV_ALL), "city": (SW, ADV_ALL),
    "state": (EQ, ADV_ALL), "country": (SW, ADV_ALL), "usageLocation": (SW, ADV_ALL),
    "createdDateTime": (EQ_RANGE, ADV_ALL), "onPremisesSyncEnabled": (EQ, ADV_ALL),
    "onPremisesImmutableId": (EQ, ADV_ALL), "externalUserState": (EQ, ADV_ALL), "creationType": (EQ, ADV_ALL),
    "manager/id": (EQ, ADV_ALL),
    "proxyAddresses": (SW, ADV_ALL), "otherMails": (SW, ADV_ALL), "imAddresses": (EQ, ADV_ALL),
    "assignedLicenses/skuId": (EQ, ADV_ALL),
    "companyName": (set(), ADV_ALL), "officeLocation": (set(), ADV_ALL), "mobilePhone": (set(), ADV_ALL),
    "businessPhones": (set(), ADV_ALL), "faxNumber": (set(), ADV_ALL), "postalCode": (set(), ADV_ALL),
    "streetAddress": (set(), ADV_ALL), "preferredLanguage": (set(), ADV_ALL), "employeeType": (set(), ADV_ALL),
    "employeeHireDate": (set(), EQ_RANGE | {"null", "ne", "not"}),
    "employeeOrgData/costCenter": (set(), {"eq", "in", "null", "ne", "not"}),
    "employeeOrgData/division": (set(), {"eq", "in", "null", "ne", "not"}),
    "onPremisesSamAccountName": (set(), ADV_ALL), "showInAddressList": (set(), {"eq", "ne", "not", "null"}),
    **{f"onPremisesExtensionAttributes/extensionAttribute{n}": (set(), {"eq", "in", "null", "ne", "not"})
       for n in range(1, 16)},
}
# endsWith exists only on these, and only as an advanced query.
ENDSWITH = {"mail", "otherMails", "userPrincipalName", "proxyAddresses"}
GROUP_RULES = {
    "id": (EQ, ADV_ALL), "displayName": (SW, ADV_ALL), "mail": (SW, ADV_ALL), "mailNickname": (SW, ADV_ALL),
    "mailEnabled": (EQ, ADV_ALL), "securityEnabled": (EQ, ADV_ALL), "groupTypes": (EQ, ADV_ALL),
    "proxyAddresses": (SW, ADV_ALL), "createdDateTime": (EQ_RANGE, ADV_ALL), "visibility": (EQ, ADV_ALL),
    "onPremisesSyncEnabled": (EQ, ADV_ALL), "description": (set(), ADV_ALL),
    "classification": (SW, ADV_ALL), "isAssignableToRole": (EQ, ADV_ALL),
}
CONTACT_RULES = {
    "id": (EQ, ADV_ALL), "displayName": (SW, ADV_ALL), "givenName": (SW, ADV_ALL), "surname": (SW, ADV_ALL),
    "jobTitle": (SW, ADV_ALL), "mail": (SW, ADV_ALL), "mailNickname": (SW, ADV_ALL),
    "department": (SW, ADV_ALL), "proxyAddresses": (SW, ADV_ALL), "companyName": (set(), ADV_ALL),
}
RULES = {"User": USER_RULES, "Group": GROUP_RULES, "OrgContact": CONTACT_RULES}


def advanced_message(operator):
    return (f"Operator '{operator}' is not supported because the required parameters might be missing. "
            "Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to "
            "https://aka.ms/graph-docs/advanced-queries for more information")


def check(node, resource, advanced):
    """Raise QueryError when the filter uses a property/operator Graph refuses (without advanced query)."""
    rules = RULES[resource]

    def unsupported(prop):
        return QueryError(400, "Request_UnsupportedQuery",
                          f"Unsupported or invalid query filter clause specified for property '{prop}' of "
                          f"resource '{resource}'.")

    def need(prop, op):
        allowed_default, allowed_advanced = rules.get(prop, (None, None))
        if allowed_default is None:
            raise unsupported(prop)
        if op in allowed_default:
            return
        if op in allowed_advanced:
            if not advanced:
                if op in ("ne", "not", "endswith", "null"):
                    raise QueryError(400, "Request_UnsupportedQuery",
                                     advanced_message({"null": "eq null"}.get(op, op)))
                raise unsupported(prop)
            return
        raise unsupported(prop)

    def target(operand, var=None, base=None):
        if operand[0] == "path":
            segments = operand[1]
            if var and segments[0] == var:
                segments = segments[1:]
                return "/".join(base + segments)
            return "/".join(segments)
        raise QueryError(400, "BadRequest", "Invalid filter clause: a property is expected.")

    def walk(node, var=None, base=None, negated=False):
        kind = node[0]
        if kind in ("and", "or"):
            walk(node[1], var, base, negated)
            walk(node[2], var, base, negated)
        elif kind == "not":
            if not advanced:
                raise QueryError(400, "Request_UnsupportedQuery", advanced_message("not"))
            walk(node[1], var, base, True)
        elif kind == "in":
            need(target(node[1], var, base), "in")
        elif kind == "func":
            prop = target(node[2], var, base)
            if node[1] == "endswith":
                if prop not in ENDSWITH:
                    raise unsupported(prop)
                if not advanced:
                    raise QueryError(400, "Request_UnsupportedQuery", advanced_message("endsWith"))
                return
            need(prop, "startswith")
        elif kind == "any":
            walk(node[3], node[2], node[1])
        elif kind == "cmp":
            op, left, right = node[1], node[2], node[3]
            if left[0] == "count":
                if not advanced:
                    raise QueryError(400, "Request_BadRequest", "$count is not currently supported.")
                return
            if left[0] == "lit":
                left, right = right, left
            prop = target(left, var, base)
            if right[0] == "lit" and right[1] is None and op in ("eq", "ne"):
                need(prop, "null")
            else:
                need(prop, op)
                if negated:
                    need(prop, "not")
        else:
            raise QueryError(400, "BadRequest", "Invalid filter clause.")

    walk(node)


def _resolve(obj, segments):
    value = obj
    for segment in segments:
        if isinstance(value, dict):
            if segment in value:
                value = value[segment]
            else:
                lowered = {k.lower(): v for k, v in value.items()}
                value = lowered.get(segment.lower())
        else:
            return None
    return value


def _norm(value):
    return value.lower() if isinstance(value, str) else value


def _compare(op, left, right):
    left, right = _norm(left), _norm(right)
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


def evaluate(node, obj, scope=None):
    """True when obj matches the parsed filter (string comparisons are case-insensitive, as in Entra)."""
    scope = scope or {}
    kind = node[0]
    if kind == "or":
        return evaluate(node[1], obj, scope) or evaluate(node[2], obj, scope)
    if kind == "and":
        return evaluate(node[1], obj, scope) and evaluate(node[2], obj, scope)
    if kind == "not":
        return not evaluate(node[1], obj, scope)
    if kind == "in":
        value = _value(node[1], obj, scope)
        return _norm(value) in {_norm(v) for v in node[2]}
    if kind == "func":
        value = _value(node[2], obj, scope)
        if not isinstance(value, str):
            return False
        literal = node[3].lower()
        return value.lower().startswith(literal) if node[1] == "startswith" else value.lower().endswith(literal)
    if kind == "any":
        items = _resolve(obj, node[1]) or []
        results = (evaluate(node[3], obj, {**scope, node[2]: item}) for item in items)
        return any(results) if node[4] == "any" else all(results)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], obj, scope), _value(node[3], obj, scope))
    return False


def _value(operand, obj, scope):
    if operand[0] == "lit":
        return operand[1]
    if operand[0] == "count":
        return len(_resolve(obj, operand[1]) or [])
    segments = operand[1]
    if segments[0] in scope:
        return _resolve(scope[segments[0]], segments[1:]) if len(segments) > 1 else scope[segments[0]]
    if segments == ["manager", "id"]:
        return obj.get("_manager")
    return _resolve(obj, segments)


def parse_select(text, known, extra_ok=lambda name: name.startswith("extension_")):
    """The $select list as property names; unknown names raise Graph's 400."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    by_lower = {k.lower(): k for k in known}
    out = []
    for name in names:
        canonical = by_lower.get(name.lower())
        if canonical is None and not extra_ok(name):
            raise QueryError(400, "Request_BadRequest", f"Could not find a property named '{name}' on type "
                                                        f"'microsoft.graph.{known_type(known)}'.")
        out.append(canonical or name)
    return list(dict.fromkeys(out))


def known_type(known):
    if "userPrincipalName" in known:
        return "user"
    if "groupTypes" in known:
        return "group"
    return "orgContact"
