"""compose.yaml and the Dockerfile, checked for what the README promises of them
that a run does not show: tests/split/test_compose_up.py runs the real thing
(its pages, trace, logs and users), CI on stand-in images.
"""

import re
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.servers import ROOT
from toastsite.telemetry import celery as celery_tracing

# The processes of the queue: the image's own command is gunicorn.
WORKER = "celery -A toastsite worker --loglevel INFO --concurrency 2 -n worker@%h"
BEAT = "celery -A toastsite beat --loglevel INFO --schedule /tmp/celerybeat-schedule"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def haproxy() -> str:
    """balancer/haproxy.cfg without its comments."""
    text = (ROOT / "balancer" / "haproxy.cfg").read_text()
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())


def test_the_services_are_there_and_the_collectors_on_request(services):
    always = {name for name, service in services.items() if "profiles" not in service}
    assert always == {
        "zipkin",
        "db",
        "broker",
        "migrate",
        "api",
        "balancer",
        "frontend",
        "worker",
        "beat",
    }
    assert services["collector"]["profiles"] == ["collector"]
    assert services["router"]["profiles"] == services["sampler"]["profiles"] == ["scale"]


def test_images_are_pinned_to_a_version(services):
    for name, service in services.items():
        if "image" in service:
            assert re.fullmatch(r"[\w/.-]+:\d+(\.\d+)+[\w.-]*", service["image"]), name


def test_api_and_frontend_are_built_from_this_dockerfile_for_their_port(services):
    for name in ("api", "frontend"):
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["args"]["PORT"] == services[name]["environment"]["PORT"]  # EXPOSE
    # The worker and beat run the api's code, with a command of their own.
    for name in ("migrate", "worker", "beat"):
        assert services[name]["build"] == services["api"]["build"], name


def test_services_wait_for_healthy_dependencies(services):
    for name in ("zipkin", "db", "broker", "api", "balancer", "frontend", "worker"):
        assert services[name]["healthcheck"]["test"]
    # The database is migrated once, before any replica of the api starts.
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    # Spans sent before Zipkin listens would be lost: wait until it is healthy.
    # A rating's job is published to the broker: it must be there first.
    assert services["api"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
        "broker": {"condition": "service_healthy"},
        "zipkin": {"condition": "service_healthy"},
    }
    assert services["worker"]["depends_on"] == services["api"]["depends_on"]
    assert services["beat"]["depends_on"] == {
        "broker": {"condition": "service_healthy"},
        "zipkin": {"condition": "service_healthy"},
    }
    assert services["balancer"]["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert services["frontend"]["depends_on"] == {
        "balancer": {"condition": "service_healthy"},
        "zipkin": {"condition": "service_healthy"},
    }
    for name in ("api", "worker", "beat"):
        assert services[name]["restart"] == "on-failure", name


def test_healthchecks_probe_what_each_service_serves(services):
    # The official Zipkin image's own check (on PATH there, and in CI's stand-in).
    assert services["zipkin"]["healthcheck"]["test"] == ["CMD", "docker-healthcheck"]
    # Over TCP, not the Unix socket the image's initialising server listens on.
    assert "-h 127.0.0.1" in services["db"]["healthcheck"]["test"][-1]
    # The site's /health/ on each role's own port: untraced, and the api's
    # checks the database.
    for name in ("api", "frontend"):
        port = services[name]["environment"]["PORT"]
        assert f"http://127.0.0.1:{port}/health/" in services[name]["healthcheck"]["test"][-1]
    # Redis's PONG: while it loads its jobs from disk it answers LOADING, an
    # error that redis-cli exits 0 on.
    assert services["broker"]["healthcheck"]["test"] == [
        "CMD-SHELL",
        "redis-cli ping | grep -q PONG",
    ]
    # The worker answers a ping by its own name (`-n worker@%h`, %h its host
    # name), through the broker; $$ is a $ to the shell, not to compose.
    assert services["worker"]["healthcheck"]["test"] == [
        "CMD-SHELL",
        "celery -A toastsite inspect ping -d worker@$$HOSTNAME --timeout 5",
    ]
    assert " ".join(services["worker"]["command"]).endswith("-n worker@%h")


def test_the_balancer_checks_its_replicas_and_reports_its_own_health(services, haproxy):
    # Its healthcheck asks HAProxy's monitor, which fails while no replica is up.
    monitor = re.search(
        r"frontend health\n\s+bind 127\.0\.0\.1:(\d+)\n\s+monitor-uri (\S+)", haproxy
    )
    assert monitor, "no monitor frontend in haproxy.cfg"
    port, uri = monitor.groups()
    assert f"/dev/tcp/127.0.0.1/{port}" in services["balancer"]["healthcheck"]["test"][-1]
    assert f"GET {uri} HTTP/1.0" in services["balancer"]["healthcheck"]["test"][-1]
    assert "monitor fail if { nbsrv(api) lt 1 }" in haproxy
    # Each replica is checked on the api's /health/, with a Host the api allows.
    check = re.search(r"http-check send meth GET uri (\S+) ver HTTP/1.1 hdr Host (\S+)", haproxy)
    assert check
    assert check.group(1) == "/health/"
    assert check.group(2) in services["api"]["environment"]["DJANGO_ALLOWED_HOSTS"].split(",")


def test_published_ports_are_on_loopback_and_the_database_is_never_published(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "ports" not in services["db"]
    assert "ports" not in services["broker"]  # only the api, workers and beat reach it


def test_the_api_scales_behind_the_balancer_which_publishes_it(services, haproxy):
    # `--scale api=3`: no replica publishes a port (they would all want the
    # same one), nor names its container; the balancer publishes the API.
    for name in ("api", "sampler"):
        assert "ports" not in services[name]
        assert "container_name" not in services[name]
    api_port = services["api"]["environment"]["PORT"]
    assert services["balancer"]["ports"] == [f"127.0.0.1:{api_port}:{api_port}"]
    assert re.search(rf"^frontend api\n\s+bind :{api_port}$", haproxy, re.M)
    # The replicas are found by the service's name, each answer of Docker's DNS.
    template = re.search(r"^\s+server-template api (\d+) (\S+) (.*)$", haproxy, re.M)
    assert template
    assert int(template.group(1)) >= 3
    assert template.group(2) == f"api:{api_port}"
    assert "resolvers docker" in template.group(3)
    # Checked every second, out at the first failed check or connection.
    params = template.group(3).split()
    assert params[params.index("check") + 1 : params.index("check") + 5] == [
        "inter",
        "1s",
        "fall",
        "1",
    ]
    assert "on-error mark-down" in template.group(3)
    # Call by call, in turn; a call that a dying replica dropped goes to another.
    assert "balance roundrobin" in haproxy
    assert re.search(r"^\s+retry-on conn-failure empty-response$", haproxy, re.M)
    assert re.search(r"^\s+option redispatch 1$", haproxy, re.M)
    assert services["balancer"]["volumes"] == [
        "./balancer/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"
    ]
    assert re.fullmatch(r"haproxy:[\d.]+-bookworm", services["balancer"]["image"])


def test_the_broker_is_the_official_redis_keeping_its_jobs_on_a_volume(compose, services):
    broker = services["broker"]
    # The release Debian bookworm ships (scripts/broker.sh's, and CI's stand-in).
    assert broker["image"] == "redis:7.0.15-bookworm"
    # Every job it accepts is on disk before it answers: none is lost when it
    # restarts, even after a SIGKILL (tests/e2e/test_queue.py).
    assert broker["command"] == ["redis-server", "--appendonly", "yes"]
    assert broker["volumes"] == ["redisdata:/data"]  # the image's working directory
    assert "redisdata" in compose["volumes"]


def test_the_worker_scales_and_beat_runs_once(services):
    worker, beat = services["worker"], services["beat"]
    # `--scale worker=3`: no port, no container name, nothing shared but the
    # broker and the database; each is named after its host, so each is its own.
    assert "ports" not in worker
    assert "container_name" not in worker
    assert "volumes" not in worker
    assert " ".join(worker["command"]) == WORKER
    # Two replicas of beat would start every scheduled job twice.
    assert "deploy" not in beat
    assert " ".join(beat["command"]) == BEAT
    # Its schedule where the image's user (not root) can write it.
    assert beat["command"][beat["command"].index("--schedule") + 1].startswith("/tmp/")


def test_the_queue_environment_matches_the_settings(services):
    settings = (ROOT / "toastsite" / "settings.py").read_text()
    api, worker, beat = (services[n]["environment"] for n in ("api", "worker", "beat"))
    broker = urlsplit(api["CELERY_BROKER_URL"])
    # The broker by its service name, on Redis's own port, database 0.
    assert (broker.scheme, broker.hostname, broker.port, broker.path) == (
        "redis",
        "broker",
        6379,
        "/0",
    )
    assert worker["CELERY_BROKER_URL"] == beat["CELERY_BROKER_URL"] == api["CELERY_BROKER_URL"]
    # The worker does the api's jobs on the api's database; beat only publishes.
    assert worker["TOASTSITE_ROLE"] == "api"
    assert worker["DATABASE_URL"] == api["DATABASE_URL"]
    assert "DATABASE_URL" not in beat
    # A dead worker's job is done elsewhere this many seconds after it was
    # taken: shorter than the settings' default, as compose's jobs take
    # milliseconds; test_compose_up.py waits for it.
    visibility = int(worker["QUEUE_VISIBILITY_TIMEOUT"])
    assert 'env_number("QUEUE_VISIBILITY_TIMEOUT", 30, minimum=1)' in settings
    assert visibility == 10
    assert '"visibility_timeout": QUEUE_VISIBILITY_TIMEOUT' in settings
    assert '"unacked_restore_interval": 1' in settings  # looked for every second
    assert 'os.environ.get("CELERY_BROKER_URL", "")' in settings
    # Zipkin names the broker after its system: the api -> redis link.
    assert broker.scheme == celery_tracing.BROKER


def test_environment_matches_the_settings(services):
    api, frontend, db = (services[n]["environment"] for n in ("api", "frontend", "db"))
    assert (api["TOASTSITE_ROLE"], frontend["TOASTSITE_ROLE"]) == ("api", "frontend")
    assert "DATABASE_URL" not in frontend

    # The frontend calls the api through the balancer, with its name as Host.
    api_url = urlsplit(frontend["TOAST_API_URL"])
    assert (api_url.hostname, str(api_url.port)) == ("balancer", api["PORT"])
    assert {"api", "balancer"} <= set(api["DJANGO_ALLOWED_HOSTS"].split(","))

    database = urlsplit(api["DATABASE_URL"])
    assert (database.hostname, database.username, database.password) == (
        "db",
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
    )
    assert database.path == f"/{db['POSTGRES_DB']}"
    assert services["migrate"]["command"] == "python manage.py migrate --noinput"
    assert services["migrate"]["environment"]["DATABASE_URL"] == api["DATABASE_URL"]
    assert "command" not in services["api"]  # gunicorn, the image's own

    for env in (api, frontend, services["worker"]["environment"], services["beat"]["environment"]):
        assert env["DJANGO_DEBUG"] == "0"
        # Never a default: without one, compose stops and points to the README.
        key = env["DJANGO_SECRET_KEY"]
        assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]*README[^}]*\}", key), key
        assert urlsplit(env["OTEL_EXPORTER_ZIPKIN_ENDPOINT"]).hostname == "zipkin"
        assert env["ZIPKIN_UI_URL"] == "http://localhost:9411/zipkin"


def test_the_image_runs_as_a_user_with_a_home():
    dockerfile = (ROOT / "Dockerfile").read_text()
    # gunicorn keeps its control socket under $HOME.
    assert re.search(r"useradd [^\n]*--create-home", dockerfile)
    assert re.search(r"^USER toast$", dockerfile, re.M)
    assert re.search(r"^EXPOSE \$\{?PORT\}?$", dockerfile, re.M)


def test_the_api_believes_the_frontend_and_the_balancer_about_who_the_visitor_is(services, haproxy):
    # The frontend passes the visitor's address on, the balancer appends the
    # frontend's (option forwardfor); the api counts ratings by the visitor's.
    trusted = services["api"]["environment"]["TRUSTED_PROXIES"].split(",")
    assert set(trusted) == {"frontend", "balancer"}
    assert {"frontend", "balancer"} <= set(services)  # host names in compose's network
    assert re.search(r"^\s+option forwardfor$", haproxy, re.M)


def test_the_collector_profile_runs_the_official_image_with_the_same_config(services):
    collector = services["collector"]
    assert collector["image"] == "otel/opentelemetry-collector-contrib:0.161.0"
    assert collector["volumes"] == ["./collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro"]
    assert (
        collector["environment"]["COLLECTOR_ZIPKIN_ENDPOINT"]
        == (services["api"]["environment"]["OTEL_EXPORTER_ZIPKIN_ENDPOINT"])
    )
    assert collector["depends_on"]["zipkin"]["condition"] == "service_healthy"
    for name in ("api", "frontend", "worker", "beat"):
        env = services[name]["environment"]
        # One variable switches both services over (tutorial step 9).
        assert env["OTEL_TRACES_EXPORTER"] == "${OTEL_TRACES_EXPORTER:-zipkin}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
        assert "collector" not in services[name].get("depends_on", {})  # off without the profile


def test_the_scale_profile_is_a_router_in_front_of_samplers_found_by_name(services):
    router, sampler = services["router"], services["sampler"]
    image = services["collector"]["image"]
    assert router["image"] == sampler["image"] == image
    assert router["volumes"] == ["./collector/router.yaml:/etc/otelcol-contrib/config.yaml:ro"]
    assert sampler["volumes"] == ["./collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro"]
    # The dns resolver asks for the sampler service's own name, which Docker's
    # DNS answers with every replica's address: `--scale sampler=3` is three.
    env = router["environment"]
    assert env["COLLECTOR_RESOLVER"] == "dns"
    assert env["COLLECTOR_SAMPLERS_NAME"] == "sampler"
    router_config = yaml.safe_load((ROOT / "collector" / "router.yaml").read_text())
    dns = router_config["exporters"]["load_balancing/dns"]["resolver"]["dns"]
    assert dns["hostname"].startswith("${env:COLLECTOR_SAMPLERS_NAME:")
    assert dns["port"].startswith("${env:COLLECTOR_SAMPLERS_PORT:")
    grpc = yaml.safe_load((ROOT / "collector" / "config.yaml").read_text())["receivers"]["otlp"]
    # The samplers' gRPC port, by default (their compose service sets none).
    port = env["COLLECTOR_SAMPLERS_PORT"]
    assert grpc["protocols"]["grpc"]["endpoint"].endswith(f":-{port}}}")
    assert "COLLECTOR_GRPC_PORT" not in sampler["environment"]
    # The services send to `collector`: with this profile, that is the router.
    otlp_host = urlsplit(services["api"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname
    assert router["networks"]["default"]["aliases"] == [otlp_host]
    for each in (router, sampler):
        assert each["environment"]["COLLECTOR_HOST"] == "0.0.0.0"
    assert (
        sampler["environment"]["COLLECTOR_ZIPKIN_ENDPOINT"]
        == (services["api"]["environment"]["OTEL_EXPORTER_ZIPKIN_ENDPOINT"])
    )
    assert sampler["depends_on"]["zipkin"]["condition"] == "service_healthy"
    assert router["depends_on"] == {"sampler": {"condition": "service_started"}}


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_and_step_10_say_what_compose_runs_for_the_queue(services):
    readme = (ROOT / "README.md").read_text()
    bullet = words(re.search(r"^- \*\*The queue\.\*\* (.*?)\n(?=- |\n)", readme, re.M | re.S)[1])
    worker = services["worker"]
    assert f"the official `{services['broker']['image']}` with `appendonly yes`" in bullet
    assert "no port published" in bullet
    assert "ports" not in services["broker"]
    assert "`docker compose up --scale worker=3` runs three" in bullet
    assert "each `worker@<its host name>` with two processes" in bullet
    assert worker["command"][-4:] == ["--concurrency", "2", "-n", "worker@%h"]
    visibility = worker["environment"]["QUEUE_VISIBILITY_TIMEOUT"]
    assert f"about {visibility} s after the dead one took it" in bullet
    assert f"`QUEUE_VISIBILITY_TIMEOUT` is {visibility} here, not the default of 30" in bullet
    settings = (ROOT / "toastsite" / "settings.py").read_text()
    assert 'env_number("QUEUE_VISIBILITY_TIMEOUT", 30, minimum=1)' in settings

    tutorial = (ROOT / "docs" / "tutorial.md").read_text()
    step = words(re.search(r"^\*\*In containers\.\*\* (.*?)\n\n", tutorial, re.M | re.S)[1])
    assert step.startswith("`docker compose up --scale worker=3` runs the same queue")
    assert "three workers of two processes each, and beat" in step
    assert f"compose sets `QUEUE_VISIBILITY_TIMEOUT` to {visibility}" in step
    # The test the paragraph names kills a worker while that many ratings stream in.
    up = (ROOT / "tests" / "split" / "test_compose_up.py").read_text()
    assert "def test_ratings_sent_while_a_worker_is_killed_all_end_in_right_summaries(" in up
    streamed = re.search(r"^STREAMED = (\d+)", up, re.M)[1]
    assert f"while {streamed} ratings stream in" in step


def test_ci_builds_a_stand_in_for_each_image_the_readme_counts():
    prepare = (ROOT / ".ci" / "compose" / "prepare").read_text()
    images = re.findall(r"^  ensure_standin \w+ (\S+)$", prepare, re.M)
    assert "redis:7.0.15-bookworm" in images
    table = (ROOT / ".ci" / "compose" / "README.md").read_text()
    assert [f"`{image}`" for image in images] == re.findall(r"^\| (`[^`]+:[^`]+`) \|", table, re.M)
    count = {5: "five", 6: "six", 7: "seven"}[len(images)]
    assert f"stand-ins for the {count} images" in words((ROOT / "README.md").read_text())
