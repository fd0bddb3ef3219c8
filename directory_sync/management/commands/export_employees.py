"""`python manage.py export_employees --org <slug> [--link <id>] [--all] --format csv|json`: employees to stdout."""
import csv
import json

from django.core.management.base import BaseCommand, CommandError

from directory_sync.models import Employee
from tenants.models import EntraLink, Organization

BASE_COLUMNS = ("graph_id", "link_id", "email", "email_source", "status", "excluded_reason", "duplicate_email")


class Command(BaseCommand):
    help = "Export an organisation's synced employees (active only unless --all) as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--link", type=int, help="only this linked tenant")
        parser.add_argument("--all", action="store_true", help="include excluded and removed people")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, org, link, all, format, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with slug {org!r}.")
        employees = Employee.objects.for_org(organization).order_by("link_id", "display_name", "pk")
        if link is not None:
            if not EntraLink.objects.for_org(organization).filter(pk=link).exists():
                raise CommandError(f"Organisation {org!r} has no linked tenant {link}.")
            employees = employees.filter(link_id=link)
        if not all:
            employees = employees.filter(status=Employee.Status.ACTIVE)
        keys = _field_keys(organization, link)
        rows = (_row(employee, keys) for employee in employees.iterator(chunk_size=2000))
        if format == "json":
            self._write_json(rows)
        else:
            writer = csv.DictWriter(self.stdout, fieldnames=[*BASE_COLUMNS, *keys], extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)

    def _write_json(self, rows):
        # Streamed so 100,000 people do not sit in memory as one list.
        self.stdout.write("[", ending="")
        for index, row in enumerate(rows):
            self.stdout.write(("," if index else "") + "\n" + json.dumps(row, ensure_ascii=False), ending="")
        self.stdout.write("\n]")


def _field_keys(organization, link_id):
    from directory_sync.models import SyncSettings

    keys = []
    settings = SyncSettings.objects.for_org(organization)
    if link_id is not None:
        settings = settings.filter(link_id=link_id)
    for item in settings.order_by("link_id"):
        for spec in item.config.get("fields", []):
            if spec["key"] not in keys and spec.get("source") != "photo":
                keys.append(spec["key"])
    return keys


def _row(employee, keys):
    row = {
        "graph_id": employee.graph_id, "link_id": employee.link_id, "email": employee.email,
        "email_source": employee.email_source, "status": employee.status,
        "excluded_reason": "; ".join(employee.excluded_reasons or []) or employee.removal_reason,
        "duplicate_email": employee.has_duplicate_email,
    }
    for key in keys:
        row.setdefault(key, employee.fields.get(key, ""))
    for key, value in employee.fields.items():
        row.setdefault(key, value)
    return row
