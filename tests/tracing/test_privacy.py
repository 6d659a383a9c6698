import base64

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from apps.toasts.models import Toast

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]

PASSWORD = "correct-horse-battery-staple"
COMMENT = "my-secret-comment-4711"


def everything_recorded(spans) -> str:
    parts = []
    for span in spans:
        parts += [span.name, *map(str, span.attributes.items())]
        for event in span.events:
            parts += [event.name, *map(str, event.attributes.items())]
    return "\n".join(parts)


def test_no_cookies_credentials_tokens_or_sql_values_in_any_span(client, spans):
    User.objects.create_superuser("chef", password=PASSWORD)
    login = client.post(reverse("admin:login"), {"username": "chef", "password": PASSWORD})
    assert login.status_code == 302
    client.get(reverse("admin:toasts_rating_changelist"))
    toast = Toast.objects.get(name="Ham")
    page = reverse("pages:toast", args=[toast.pk])
    client.get(page)
    assert client.post(page, {"stars": 5, "comment": COMMENT}).status_code == 302
    basic = base64.b64encode(f"chef:{PASSWORD}".encode()).decode()
    client.get(reverse("api:toast-list"), HTTP_AUTHORIZATION=f"Basic {basic}")

    recorded = everything_recorded(spans())
    secrets = {
        "password": PASSWORD,
        "session id": client.cookies["sessionid"].value,
        "CSRF token": client.cookies["csrftoken"].value,
        "Authorization header": basic,
        "SQL parameter": COMMENT,
    }
    assert toast.ratings.get().comment == COMMENT
    assert "INSERT INTO" in recorded  # the statements are there, their values are not
    for what, value in secrets.items():
        assert value not in recorded, f"{what} leaked into a span"
    for header in ("cookie", "authorization", "x-csrftoken"):
        assert f"http.request.header.{header}" not in recorded.lower()
