from django.contrib import admin

from apps.toasts.models import Ingredient, Rating, Toast


@admin.register(Toast)
class ToastAdmin(admin.ModelAdmin):
    list_display = ["name", "weekday"]
    list_filter = ["weekday"]
    ordering = ["weekday", "name"]
    search_fields = ["name", "description", "ingredients__name"]
    filter_horizontal = ["ingredients"]


@admin.register(Ingredient)
class IngredientAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["toast", "stars", "comment", "created_at"]
    list_filter = ["stars", "toast", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["comment", "toast__name"]
