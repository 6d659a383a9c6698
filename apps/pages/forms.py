from django import forms


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        choices=[(n, "★" * n) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(max_length=280, required=False, widget=forms.TextInput)
