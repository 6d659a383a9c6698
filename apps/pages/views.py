from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from apps.pages import client
from apps.pages.forms import RatingForm

# What the API said of the toast's summary (apps/toasts/tasks.py), in words.
SUMMARY_LATER = {
    "queued": " The rating summary counts it in a moment.",
    "delayed": " The rating summary will count it a little later: our job queue is"
    " unavailable right now.",
}


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    # Two calls at once: the page waits for the slower one, not for both in turn.
    today, week = client.at_once(
        lambda: client.toast_of_the_day(request), lambda: client.week(request)
    )
    return render(request, "pages/home.html", {"today": today, "week": week})


@require_safe
def week(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/week.html", {"week": client.week(request)})


@require_http_methods(["GET", "HEAD", "POST"])
def toast(request: HttpRequest, pk: int) -> HttpResponse:
    form = RatingForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            saved = client.rate(request, pk, **form.cleaned_data)
        except client.RequestRejected as rejected:
            for field, errors in rejected.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        except client.RateLimited as limited:  # the API counts ratings per visitor
            form.add_error(None, "You sent many ratings in a minute. Please wait a moment.")
            response = toast_page(request, pk, form, status=429)
            response["Retry-After"] = str(limited.retry_after)
            return response
        else:
            stars = form.cleaned_data["stars"]
            later = SUMMARY_LATER.get(saved.get("summary_update"), "")
            messages.success(request, f"Thanks! Your {stars}-star rating is saved.{later}")
            return redirect("pages:toast", pk=pk)
    return toast_page(request, pk, form, status=400 if form.errors else 200)


def toast_page(request: HttpRequest, pk: int, form: RatingForm, status: int) -> HttpResponse:
    context = {"toast": client.toast(request, pk), "form": form}
    return render(request, "pages/toast.html", context, status=status)
