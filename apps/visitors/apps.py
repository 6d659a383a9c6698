from django.apps import AppConfig


class VisitorsConfig(AppConfig):
    """Who is asking: the visitor behind the proxies, and their failed logins."""

    name = "apps.visitors"
    label = "visitors"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_login_failed

        from apps.visitors import logins

        # Failed logins are counted, and the admin's form says when they are too many.
        user_login_failed.connect(logins.count_failure, dispatch_uid="apps.visitors.logins")
        admin.site.login_form = logins.AdminLoginForm
