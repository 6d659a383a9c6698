"""Rating summaries (tasks.py keeps them), computed once here for the ratings saved before."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Avg, Count, Max


def summarize_existing(apps, schema_editor) -> None:
    Toast = apps.get_model("toasts", "Toast")
    Rating = apps.get_model("toasts", "Rating")
    RatingSummary = apps.get_model("toasts", "RatingSummary")
    rated = Toast.objects.annotate(
        n=Count("ratings"), mean=Avg("ratings__stars"), newest=Max("ratings__id")
    ).filter(n__gt=0)
    for toast in rated:
        newest = Rating.objects.filter(toast=toast).order_by("-created_at", "-id")[:5]
        RatingSummary.objects.create(
            toast=toast,
            count=toast.n,
            average=toast.mean,
            newest_rating_id=toast.newest,
            recent=[
                {"stars": r.stars, "comment": r.comment, "created_at": r.created_at.isoformat()}
                for r in newest
            ],
        )


class Migration(migrations.Migration):
    dependencies = [("toasts", "0004_cache_table")]

    operations = [
        migrations.CreateModel(
            name="RatingSummary",
            fields=[
                (
                    "toast",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="summary",
                        serialize=False,
                        to="toasts.toast",
                    ),
                ),
                ("count", models.PositiveIntegerField(default=0)),
                ("average", models.FloatField(blank=True, null=True)),
                ("recent", models.JSONField(blank=True, default=list)),
                ("newest_rating_id", models.BigIntegerField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name_plural": "rating summaries"},
        ),
        migrations.RunPython(summarize_existing, migrations.RunPython.noop),
    ]
