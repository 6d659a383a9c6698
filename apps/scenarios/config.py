"""Every scenario knob, in one place: what each does, its variable, its default.

All are off by default and read from the environment once, as the process
starts. The API acts on them (api.py, and the one selector the N+1 scenario
changes) and says which are on in words (`described()`), which the pages show
in a banner. One is the pages' own (`lost_context`: apps/pages/client.py acts
on it); the banner adds its words, from the pages' process. To add a
scenario: a field and its words here, its effect where it happens, and its
test in tests/scenarios/.

The worker's scenarios are set on the API too, like the others: the API puts
them into each job it publishes, and the worker does what the job says
(jobs.py). So the banner, which shows what the API's `Scenarios` header says,
tells the truth in the split as well, whatever the worker's own environment;
and without a broker, where jobs run inside the API, they act there.
"""

from dataclasses import dataclass

from toastsite.env import env_bool, env_number


@dataclass(frozen=True)
class Scenarios:
    # SCENARIO_FAILURE_RATE: the share of API calls that fail with a 500, 0 to 1
    # (the talk used 0.25).
    failure_rate: float = 0.0
    # SCENARIO_LATENCY_MS: extra milliseconds each API call takes.
    latency_ms: int = 0
    # SCENARIO_N_PLUS_ONE: the API loads each toast's ingredients and rating summary
    # with a query of their own (selectors.toast_list).
    n_plus_one: bool = False
    # SCENARIO_WORKER_LATENCY_MS: extra milliseconds each rating summary job
    # takes on the worker: a slow worker (a job to catch in the middle).
    worker_latency_ms: int = 0
    # SCENARIO_WORKER_FAILURE_RATE: the share of rating summary jobs that fail
    # on the worker, 0 to 1; each failed job is tried again, 3 times at most.
    worker_failure_rate: float = 0.0
    # SCENARIO_LOST_CONTEXT: the home page's two API calls run on a thread pool
    # without the request's context (client.at_once): their spans leave the
    # page's trace, each call a trace of its own. The pages' knob, not the API's.
    lost_context: bool = False

    def described(self) -> list[str]:
        """The API's scenarios that are on, in words, for the `Scenarios` header
        and the banner."""
        words = []
        if self.failure_rate:
            words.append(f"the API fails {self.failure_rate:.0%} of calls")
        if self.latency_ms:
            words.append(f"the API takes {self.latency_ms} ms longer")
        if self.n_plus_one:
            words.append("the API makes N+1 queries")
        if self.worker_latency_ms:
            words.append(f"each job takes the worker {self.worker_latency_ms} ms longer")
        if self.worker_failure_rate:
            words.append(f"the worker fails {self.worker_failure_rate:.0%} of jobs")
        return words

    def described_by_pages(self) -> list[str]:
        """The pages' own scenarios that are on, in words, for the banner."""
        if self.lost_context:
            return ["the home page calls the API without its trace context"]
        return []


def from_environment() -> Scenarios:
    return Scenarios(
        failure_rate=env_number("SCENARIO_FAILURE_RATE", 0.0, minimum=0.0, maximum=1.0),
        latency_ms=env_number("SCENARIO_LATENCY_MS", 0, minimum=0),
        n_plus_one=env_bool("SCENARIO_N_PLUS_ONE", False),
        worker_latency_ms=env_number("SCENARIO_WORKER_LATENCY_MS", 0, minimum=0),
        worker_failure_rate=env_number(
            "SCENARIO_WORKER_FAILURE_RATE", 0.0, minimum=0.0, maximum=1.0
        ),
        lost_context=env_bool("SCENARIO_LOST_CONTEXT", False),
    )


# What this process does; the tests replace it to switch a scenario on.
current = from_environment()
