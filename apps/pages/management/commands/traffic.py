"""manage.py traffic: page views and ratings against a running site (apps/pages/traffic.py)."""

from django.core.management.base import BaseCommand, CommandError

from apps.pages import traffic


class Command(BaseCommand):
    help = "Send page views (and some ratings, saved for real) to a running toastsite."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("-n", type=int, default=100, help="requests to send (%(default)s)")
        parser.add_argument(
            "--path",
            action="append",
            dest="paths",
            help="a page to visit (repeatable); default: the home page, the week and each toast",
        )
        parser.add_argument(
            "--ratings",
            type=float,
            default=0.1,
            help="share of toast page visits that send a rating, saved for real "
            "(default %(default)s; 0: none)",
        )
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--timeout", type=float, default=10, help="seconds per request")
        parser.add_argument("--seed", type=int, help="for a repeatable sequence")

    def handle(self, *, url, n, **options) -> None:
        # A bar on a terminal; in a log or a pipe it would be one line per request.
        bar = self.stderr.isatty()

        def show(done: int, total: int) -> None:
            self.stderr.write(traffic.progress(done, total), ending="")
            self.stderr.flush()

        keys = ("paths", "ratings", "concurrency", "timeout", "seed")
        try:
            report = traffic.run(
                url, n, **{key: options[key] for key in keys}, on_progress=show if bar else None
            )
        except traffic.SiteUnreachable as exc:
            raise CommandError(str(exc)) from exc
        if bar:
            self.stderr.write("")
        self.stdout.write(report)
