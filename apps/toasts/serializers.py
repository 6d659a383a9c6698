from django.db.models import Avg, Count
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.toasts.models import Ingredient, Rating, Toast, Weekday


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
        # Lists come annotated (see selectors); a freshly written toast does not.
        if not hasattr(toast, "rating_count"):
            summary = toast.ratings.aggregate(count=Count("id"), average=Avg("stars"))
            toast.rating_count, toast.rating_average = summary["count"], summary["average"]
        average = toast.rating_average
        return {"count": toast.rating_count, "average": round(average, 2) if average else None}


class RatingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rating
        fields = ["id", "toast", "stars", "comment", "created_at"]
        read_only_fields = ["toast", "created_at"]


class RecentRatingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rating
        fields = ["stars", "comment", "created_at"]
        read_only_fields = fields


class ToastDetailSerializer(ToastSerializer):
    """One toast, with its newest ratings and their comments: for the detail
    only, so that the list stays a fixed number of queries."""

    RECENT = 5

    recent_ratings = serializers.SerializerMethodField(
        help_text=f"The {RECENT} newest ratings, newest first."
    )

    class Meta(ToastSerializer.Meta):
        fields = [*ToastSerializer.Meta.fields, "recent_ratings"]

    @extend_schema_field(RecentRatingSerializer(many=True))
    def get_recent_ratings(self, toast: Toast) -> list[dict]:
        newest = toast.ratings.order_by("-created_at", "-id")[: self.RECENT]
        return RecentRatingSerializer(newest, many=True).data


class ToastFilterSerializer(serializers.Serializer):
    weekday = serializers.ChoiceField(
        choices=Weekday.choices, required=False, help_text="0 (Monday) to 6 (Sunday)"
    )


class TodayQuerySerializer(serializers.Serializer):
    date = serializers.DateField(
        required=False, help_text="YYYY-MM-DD; today (server time) if omitted"
    )
