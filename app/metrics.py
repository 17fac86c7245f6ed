"""Prometheus metrics on the health port (``GET /metrics``), in a registry of this
process's own (no global registry).

* ``imagine_job_transitions_total{backend,state}`` — jobs reaching each state;
* ``imagine_jobs_waiting`` / ``imagine_jobs_running`` — queue depth and slots in use here;
* ``imagine_post_seconds{backend}`` — outputs known → result posted (histogram);
* ``imagine_websocket_up{backend}``, ``imagine_status_polls_total{backend}``,
  ``imagine_websocket_events_total{backend}``, ``imagine_websocket_connections_total``;
* ``imagine_backend_errors_total{backend,kind}`` — jobs failed by the backend, by error;
* ``imagine_leases_held`` / ``imagine_leases_taken_over_total`` — replicas (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.backend.protocol import ImageBackend
from bot.jobs import JobState

POST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The ``Telemetry`` the core reports to, and the collector of everything polled."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._transitions = Counter(
            "imagine_job_transitions",
            "Jobs reaching each state",
            ["backend", "state"],
            registry=self.registry,
        )
        self._posted = Histogram(
            "imagine_post_seconds",
            "Seconds from a job's outputs being known to its result being posted",
            ["backend"],
            buckets=POST_BUCKETS,
            registry=self.registry,
        )
        self._errors = Counter(
            "imagine_backend_errors",
            "Jobs failed because of their backend, by error kind",
            ["backend", "kind"],
            registry=self.registry,
        )
        self.leases_taken_over = Counter(
            "imagine_leases_taken_over",
            "Jobs this replica took over from a replica whose lease expired",
            registry=self.registry,
        )

    # -- bot.telemetry.Telemetry -------------------------------------------------------

    def job_state(self, backend: str, state: JobState) -> None:
        self._transitions.labels(backend, state.value).inc()

    def posted(self, backend: str, seconds: float) -> None:
        self._posted.labels(backend).observe(seconds)

    def backend_error(self, backend: str, kind: str) -> None:
        self._errors.labels(backend, kind).inc()

    def taken_over(self, count: int) -> None:
        self.leases_taken_over.inc(count)

    # -- what is read at scrape time ----------------------------------------------------

    def watch(
        self,
        backends: Mapping[str, ImageBackend],
        load: Callable[[], tuple[int, int]],
        leases: Callable[[], int] | None = None,
    ) -> None:
        self.registry.register(_Polled(backends, load, leases))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Polled(Collector):
    def __init__(
        self,
        backends: Mapping[str, ImageBackend],
        load: Callable[[], tuple[int, int]],
        leases: Callable[[], int] | None,
    ) -> None:
        self._backends = backends
        self._load = load
        self._leases = leases

    def collect(self) -> Iterable[Metric]:
        waiting, running = self._load()
        yield GaugeMetricFamily("imagine_jobs_waiting", "Jobs waiting for a slot", waiting)
        yield GaugeMetricFamily("imagine_jobs_running", "Jobs holding a slot", running)
        up = GaugeMetricFamily("imagine_websocket_up", "Live events flowing", labels=["backend"])
        polls = CounterMetricFamily(
            "imagine_status_polls", "Status requests made", labels=["backend"]
        )
        events = CounterMetricFamily(
            "imagine_websocket_events", "Generation events received", labels=["backend"]
        )
        connections = CounterMetricFamily(
            "imagine_websocket_connections", "WebSocket connections opened", labels=["backend"]
        )
        for name, backend in self._backends.items():
            stats = backend.stats()
            up.add_metric([name], float(stats.websocket_up))
            polls.add_metric([name], stats.status_polls)
            events.add_metric([name], stats.events)
            connections.add_metric([name], stats.websocket_connections)
        yield from (up, polls, events, connections)
        if self._leases is not None:
            yield GaugeMetricFamily(
                "imagine_leases_held", "Unfinished jobs this replica holds", self._leases()
            )
