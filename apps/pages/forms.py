import uuid

from django import forms


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        choices=[(n, "★" * n) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(max_length=280, required=False, widget=forms.TextInput)
    # A new key with every form shown: the API saves a rating sent twice with it
    # (a double click, a retry after an error) only once.
    key = forms.UUIDField(initial=uuid.uuid4, required=False, widget=forms.HiddenInput)
