"""Seeds the week of toasts from the talk, so that `migrate` alone gives a working site."""

from django.db import migrations

WEEK = [
    (
        "Hawaii",
        0,
        "Ham and pineapple under melted cheese, a cherry on top.",
        ["Toast bread", "Ham", "Pineapple", "Gouda", "Cocktail cherry"],
    ),
    (
        "Peperoni",
        1,
        "A pizza in disguise: tomato, peperoni and bubbling mozzarella.",
        ["Toast bread", "Tomato sauce", "Peperoni", "Mozzarella", "Oregano"],
    ),
    (
        "Cheese",
        2,
        "Plenty of cheddar, grilled until it crackles.",
        ["Toast bread", "Butter", "Cheddar"],
    ),
    (
        "Ham",
        3,
        "The classic: buttered toast, good ham and a little mustard.",
        ["Toast bread", "Butter", "Ham", "Mustard"],
    ),
    (
        "Caprese",
        4,
        "Tomato, mozzarella and basil, with a thread of olive oil.",
        ["Toast bread", "Tomato", "Mozzarella", "Basil", "Olive oil"],
    ),
    (
        "Avocado",
        5,
        "Crushed avocado with lime and chili flakes.",
        ["Toast bread", "Avocado", "Lime", "Chili flakes", "Sea salt"],
    ),
    (
        "Honey",
        6,
        "Warm butter, runny honey and a pinch of cinnamon.",
        ["Toast bread", "Butter", "Honey", "Cinnamon"],
    ),
]


def seed_week(apps, schema_editor):
    Toast = apps.get_model("toasts", "Toast")
    Ingredient = apps.get_model("toasts", "Ingredient")
    for name, weekday, description, ingredients in WEEK:
        toast = Toast.objects.create(name=name, weekday=weekday, description=description)
        toast.ingredients.set(
            Ingredient.objects.get_or_create(name=ingredient)[0] for ingredient in ingredients
        )


def unseed_week(apps, schema_editor):
    apps.get_model("toasts", "Toast").objects.filter(name__in=[t[0] for t in WEEK]).delete()
    apps.get_model("toasts", "Ingredient").objects.filter(toasts=None).delete()


class Migration(migrations.Migration):
    dependencies = [("toasts", "0001_initial")]

    operations = [migrations.RunPython(seed_week, unseed_week)]
