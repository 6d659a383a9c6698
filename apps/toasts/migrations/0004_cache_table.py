"""The table of Django's database cache, where the limits count (settings.CACHES).

`createcachetable` creates the tables of the database caches in CACHES that
are missing, so every `migrate` leaves the cache ready, wherever it runs.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("toasts", "0003_rating_idempotency_key")]

    # Backwards, the table stays: it holds nothing the older schema would miss.
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
