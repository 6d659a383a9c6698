"""Tracing across the queue: the publish in the site, the job in the worker.

OpenTelemetry's Celery instrumentation makes a PRODUCER span `apply_async/<task>`
where a job is published and a CONSUMER span `run/<task>` where a worker runs
it, carrying the trace context in the message's headers. On top of it:

- **Where to set up.** A worker's pool decides: prefork runs jobs in child
  processes forked after the worker starts, so each child sets up its own
  tracing (`worker_process_init`, which the solo pool sends too); the threads
  pool sends no such signal, so its worker sets up in `worker_init`. Beat sets
  up in `beat_init`. Each is its own service in Zipkin: `worker`, `beat`.
- **The flush on the way out.** Prefork's children leave with `os._exit()`,
  which skips the exit handlers that send the last batch of spans: without
  `force_flush()` in `worker_process_shutdown`, no span of theirs arrives.
- **The broker in Zipkin's graph.** No Celery span names a remote service, so
  Zipkin draws no broker; `peer.service` on the PRODUCER and CONSUMER spans
  becomes their remote endpoint (exporters.py), and Zipkin draws
  api -> redis -> worker.
- **A failed attempt.** A job that fails and is tried again is an error in its
  attempt's span too, not just in the last one's (`_attempt_failed`).
- **A failed publish.** The instrumentation ends its PRODUCER span in
  `after_task_publish`, which a publish that fails never sends: the span would
  stay open and current, and the rest of the request would nest in it.
  `publish_failed` ends it, with the error.
"""

from celery import signals
from opentelemetry import trace

# What Zipkin names the broker: its system, as the database is named "sqlite".
BROKER = "redis"


_setup = None


def connect(setup) -> None:
    """Connects the handlers that set tracing up in workers and beat, with
    `setup(service)` (toastsite/celery.py passes setup.py's)."""
    global _setup
    _setup = setup
    signals.worker_init.connect(_worker_started, weak=False)
    signals.worker_process_init.connect(_pool_process_started, weak=False)
    signals.worker_process_shutdown.connect(_flush, weak=False)
    signals.worker_shutdown.connect(_flush, weak=False)
    signals.beat_init.connect(_beat_started, weak=False)


def instrument(provider: trace.TracerProvider, *, use_span_links: bool) -> None:
    """Instruments Celery in this process: called by setup() in every traced one."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument(tracer_provider=provider, use_span_links=use_span_links)
    # After the instrumentor's handlers, so that its span is the current one.
    signals.before_task_publish.connect(_broker_is_the_peer, weak=False)
    signals.task_prerun.connect(_consumer_tags, weak=False)
    signals.task_retry.connect(_attempt_failed, weak=False)


def _broker_is_the_peer(**kwargs) -> None:
    span = trace.get_current_span()
    if getattr(span, "kind", None) is trace.SpanKind.PRODUCER:
        span.set_attribute("peer.service", BROKER)


def _consumer_tags(task=None, **kwargs) -> None:
    span = trace.get_current_span()
    if task is None or getattr(span, "kind", None) is not trace.SpanKind.CONSUMER:
        return
    request = task.request
    span.set_attribute("peer.service", BROKER)
    # celery.hostname is the publisher's (the message's origin); this is who ran it.
    span.set_attribute("celery.worker", request.hostname or "")
    if (request.delivery_info or {}).get("redelivered"):
        # Redis put it back: its first worker died, or was killed, before the end.
        span.set_attribute("celery.redelivered", True)


def _attempt_failed(sender=None, request=None, reason=None, **kwargs) -> None:
    # The instrumentation marks a job's last failure only; an attempt that is
    # retried gets a `celery.retry.reason` tag, but no error. Each attempt
    # failed, so each says so, with its exception.
    from opentelemetry.instrumentation.celery import utils

    opened = utils.retrieve_context(sender, getattr(request, "id", None))
    error = getattr(reason, "exc", None) or reason
    if opened is None or not isinstance(error, BaseException):
        return
    span = opened[0]
    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))


def publish_failed(task, task_id: str, error: BaseException) -> None:
    """Ends the PRODUCER span of a publish that raised `error` (see above)."""
    from opentelemetry.instrumentation.celery import utils

    opened = utils.retrieve_context(task, task_id, is_publish=True)
    if opened is None:
        return
    span, activation, _ = opened
    span.set_attribute("error.type", type(error).__qualname__)
    # Records the exception, sets the status to ERROR, ends the span, detaches it.
    activation.__exit__(type(error), error, error.__traceback__)
    utils.detach_context(task, task_id, is_publish=True)


def _worker_started(sender=None, **kwargs) -> None:
    pool = getattr(sender, "pool_cls", "")
    pool = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if "prefork" not in pool:  # threads, solo: jobs run in this process
        _setup("worker")


def _pool_process_started(**kwargs) -> None:
    _setup("worker")


def _beat_started(**kwargs) -> None:
    _setup("beat")


def _flush(**kwargs) -> None:
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_millis=5000)
