from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Weekday(models.IntegerChoices):
    """Numbered like Python's date.weekday(): Monday is 0."""

    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Ingredient(models.Model):
    name = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Toast(models.Model):
    name = models.CharField(max_length=80, unique=True)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    description = models.TextField(blank=True)
    ingredients = models.ManyToManyField(Ingredient, related_name="toasts", blank=True)

    class Meta:
        ordering = ["weekday", "name"]

    def __str__(self) -> str:
        return self.name


class Rating(models.Model):
    toast = models.ForeignKey(Toast, on_delete=models.CASCADE, related_name="ratings")
    stars = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField(max_length=280, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Sent by the client with a rating, so that sending it again saves it once.
    idempotency_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stars__gte=1) & Q(stars__lte=5), name="rating_stars_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.toast}: {self.stars}★"


class RatingSummary(models.Model):
    """A toast's ratings, summed up by a job (tasks.py) after each rating, so that
    the pages read one row instead of aggregating every rating on every request.

    Always recomputed from the ratings, never incremented: running the job
    twice, or late, gives the same row. `newest_rating_id` and `count` are what
    the repair job compares with the ratings to find a summary that drifted.
    """

    RECENT = 5

    toast = models.OneToOneField(
        Toast, on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    count = models.PositiveIntegerField(default=0)
    average = models.FloatField(null=True, blank=True)
    # The RECENT newest ratings, newest first: stars, comment, created_at.
    recent = models.JSONField(default=list, blank=True)
    newest_rating_id = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "rating summaries"

    def __str__(self) -> str:
        return f"{self.toast}: {self.count} ratings"
