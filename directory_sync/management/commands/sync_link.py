"""`python manage.py sync_link <link id> [--full] [--dry-run]`: one sync now, the same call the task makes."""
from django.core.management.base import BaseCommand, CommandError

from directory_sync import engine, graph
from tenants.models import EntraLink

COUNTS = ("seen", "added", "updated", "unchanged", "excluded", "removed", "restored", "held", "not_in_directory",
          "duplicate_emails", "groups_seen", "contacts_seen", "photos_updated", "graph_requests")


class Command(BaseCommand):
    help = "Sync one linked Entra tenant now and print the counts (--dry-run computes the diff and writes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("link_id", type=int)
        parser.add_argument("--full", action="store_true", help="list every user instead of a delta round")
        parser.add_argument("--dry-run", action="store_true", help="compute the changes, write nothing")

    def handle(self, *args, link_id, full, dry_run, **options):
        link = EntraLink.objects.filter(pk=link_id).first()
        if link is None:
            raise CommandError(f"No linked tenant with id {link_id}.")
        try:
            run = engine.run_sync(link, trigger="command", full=full, dry_run=dry_run)
        except graph.GraphError as exc:
            raise CommandError(exc.admin_message) from None
        if run is None:
            raise CommandError("Another sync of this link is running; try again when it has finished.")
        mode = "dry run, nothing written" if dry_run else f"run {run.pk}"
        kind = f"full ({run.full_reason})" if run.is_full else "delta"
        self.stdout.write(f"Link {link.pk} {link.name}: {run.status}, {kind}, {mode}")
        for name in COUNTS:
            self.stdout.write(f"  {name}: {getattr(run, name)}")
        for error in run.errors:
            self.stdout.write(f"  ! {error}")
        if run.status == "failed":
            raise CommandError("The sync failed.")
