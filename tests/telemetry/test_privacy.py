"""Nothing secret leaves in a span: the whole site is driven (admin login,
ratings, errors, a login lockout) and every span, encoded as it is sent to
Zipkin, is searched."""

import base64

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]

PASSWORD = "correct-horse-battery-staple"
WRONG_PASSWORD = "wrong-horse-4242"
COMMENT = "my-secret-comment-4711"
REJECTED_COMMENT = "rejected-secret-0815"


def as_sent_to_zipkin(spans) -> str:
    return JsonV2Encoder().serialize(spans, NodeEndpoint())


def test_no_cookies_credentials_tokens_or_sql_values_in_any_span(
    client, settings, spans, caplog, toast, counting_cache
):
    User.objects.create_superuser("chef", password=PASSWORD)
    client.post(reverse("admin:login"), {"username": "chef", "password": WRONG_PASSWORD})
    login = client.post(reverse("admin:login"), {"username": "chef", "password": PASSWORD})
    assert login.status_code == 302
    client.get(reverse("admin:toasts_rating_changelist"))
    page = reverse("pages:toast", args=[toast.pk])
    client.get(page)
    assert client.post(page, {"stars": 5, "comment": COMMENT}).status_code == 302
    assert client.post(page, {"stars": 9, "comment": REJECTED_COMMENT}).status_code == 400
    basic = base64.b64encode(f"chef:{PASSWORD}".encode()).decode()
    client.get(reverse("api:toast-list"), HTTP_AUTHORIZATION=f"Basic {basic}")
    client.get("/no-such-page/", HTTP_AUTHORIZATION="Bearer token-abc-123")
    settings.TOAST_API_URL = "http://127.0.0.1:9"  # the API down: the 503 page
    assert client.post(page, {"stars": 4, "comment": COMMENT}).status_code == 503
    # Someone else guesses until their address is locked out; then the right
    # password, on the form and with Basic authentication, is refused too.
    settings.ADMIN_LOGIN_FAILURES = 2
    guesser = Client(REMOTE_ADDR="192.0.2.9")
    for _ in range(2):
        guesser.post(reverse("admin:login"), {"username": "chef", "password": WRONG_PASSWORD})
    refused = guesser.post(reverse("admin:login"), {"username": "chef", "password": PASSWORD})
    assert "Too many failed logins" in refused.content.decode()
    assert "sessionid" not in guesser.cookies
    basic_refused = guesser.get(reverse("api:toast-list"), HTTP_AUTHORIZATION=f"Basic {basic}")
    assert basic_refused.status_code == 403

    sent = as_sent_to_zipkin(spans())
    secrets = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "session id": client.cookies["sessionid"].value,
        "CSRF token": client.cookies["csrftoken"].value,
        "Authorization header": basic,
        "bearer token": "token-abc-123",
        "SQL parameter": COMMENT,
        "rejected form value": REJECTED_COMMENT,
    }
    assert toast.ratings.get().comment == COMMENT
    assert "INSERT INTO" in sent  # the statements are there, their values are not
    assert "Cannot connect" in sent or "ConnectionError" in sent  # and so is the outage
    for what, value in secrets.items():
        at = sent.find(value)
        assert value not in sent, f"{what} leaked into a span: {sent[max(0, at - 300) : at + 60]}"
    for header in ("cookie", "authorization", "x-csrftoken"):
        assert f"http.request.header.{header}" not in sent.lower()
    # The failed logins are logged, by name and address, without their passwords.
    assert "Failed login for 'chef' from 192.0.2.9 (2 of 2)" in caplog.text
    assert "Refused login for 'chef' from 192.0.2.9" in caplog.text
    assert PASSWORD not in caplog.text
    assert WRONG_PASSWORD not in caplog.text
