from django.apps import AppConfig


class DirectorySyncConfig(AppConfig):
    name = "directory_sync"
    verbose_name = "Directory sync"
