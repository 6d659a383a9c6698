from django.apps import AppConfig


class ToastsiteConfig(AppConfig):
    name = "toastsite"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_login_failed

        from toastsite import logins

        # Failed logins are counted, and the admin's form says when they are too many.
        user_login_failed.connect(logins.count_failure, dispatch_uid="toastsite.logins")
        admin.site.login_form = logins.AdminLoginForm
