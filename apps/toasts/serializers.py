from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.toasts import queue
from apps.toasts.models import Ingredient, Rating, RatingSummary, Toast, Weekday


def summary_of(toast: Toast) -> RatingSummary | None:
    """The toast's summary row (tasks.py keeps it), None before its first rating."""
    try:
        return toast.summary
    except RatingSummary.DoesNotExist:
        return None


class RatingSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)


class ToastSerializer(serializers.ModelSerializer):
    weekday_name = serializers.CharField(source="get_weekday_display", read_only=True)
    ingredients = serializers.SlugRelatedField(
        slug_field="name", many=True, queryset=Ingredient.objects.all(), required=False
    )
    rating = serializers.SerializerMethodField()

    class Meta:
        model = Toast
        fields = ["id", "name", "weekday", "weekday_name", "description", "ingredients", "rating"]

    @extend_schema_field(RatingSummarySerializer)
    def get_rating(self, toast: Toast) -> dict:
        # Read from the summary row (lists join it: see selectors), not aggregated.
        summary = summary_of(toast)
        if summary is None:
            return {"count": 0, "average": None}
        average = summary.average
        return {"count": summary.count, "average": round(average, 2) if average else None}


class RatingSerializer(serializers.ModelSerializer):
    summary_update = serializers.ChoiceField(
        choices=[queue.DONE, queue.QUEUED, queue.DELAYED, queue.PENDING],
        read_only=True,
        help_text="How the toast's rating summary learns of this rating: "
        f"{queue.DONE!r}, recomputed already; {queue.QUEUED!r}, by a job on the queue, in "
        f"a moment; {queue.DELAYED!r}, the queue is unavailable, so by the repair job once "
        f"it is back; {queue.PENDING!r}, after a transaction still open.",
    )

    class Meta:
        model = Rating
        fields = ["id", "toast", "stars", "comment", "created_at", "summary_update"]
        read_only_fields = ["toast", "created_at"]


class RecentRatingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rating
        fields = ["stars", "comment", "created_at"]
        read_only_fields = fields


class ToastDetailSerializer(ToastSerializer):
    """One toast, with its newest ratings and their comments: for the detail
    only, so that the list stays a fixed number of queries."""

    RECENT = RatingSummary.RECENT

    recent_ratings = serializers.SerializerMethodField(
        help_text=f"The {RECENT} newest ratings, newest first."
    )

    class Meta(ToastSerializer.Meta):
        fields = [*ToastSerializer.Meta.fields, "recent_ratings"]

    @extend_schema_field(RecentRatingSerializer(many=True))
    def get_recent_ratings(self, toast: Toast) -> list[dict]:
        summary = summary_of(toast)
        return summary.recent[: self.RECENT] if summary else []


class ToastFilterSerializer(serializers.Serializer):
    weekday = serializers.ChoiceField(
        choices=Weekday.choices, required=False, help_text="0 (Monday) to 6 (Sunday)"
    )


class TodayQuerySerializer(serializers.Serializer):
    date = serializers.DateField(
        required=False, help_text="YYYY-MM-DD; today (server time) if omitted"
    )
