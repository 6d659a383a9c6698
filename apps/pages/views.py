from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET, require_http_methods

from apps.pages import client, ratelimit
from apps.pages.context_processors import trace_links
from apps.pages.forms import RatingForm


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {"today": client.toast_of_the_day(request), "week": client.week(request)}
    return render(request, "pages/home.html", context)


@require_GET
def week(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/week.html", {"week": client.week(request)})


@require_http_methods(["GET", "POST"])
def toast(request: HttpRequest, pk: int) -> HttpResponse:
    form = RatingForm(request.POST if request.method == "POST" else None)
    if form.is_bound and not ratelimit.allow_rating(request):
        form.add_error(None, "You sent many ratings in a minute. Please wait a moment.")
        response = toast_page(request, pk, form, status=429)
        response["Retry-After"] = "60"
        return response
    if form.is_valid():
        try:
            client.rate(request, pk, **form.cleaned_data)
        except client.RequestRejected as rejected:
            for field, errors in rejected.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            stars = form.cleaned_data["stars"]
            messages.success(request, f"Thanks! Your {stars}-star rating is saved.")
            return redirect("pages:toast", pk=pk)
    return toast_page(request, pk, form, status=400 if form.errors else 200)


def toast_page(request: HttpRequest, pk: int, form: RatingForm, status: int) -> HttpResponse:
    context = {"toast": client.toast(request, pk), "form": form}
    return render(request, "pages/toast.html", context, status=status)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    links = trace_links()
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", **links}, status=500)
    # Rendered without context processors, since one of them may be what failed.
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render(links))
