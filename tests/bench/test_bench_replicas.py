"""``python -m bench.replicas``, small: one burst per set-up (SQLite, one and two replicas
on PostgreSQL) posts every job once, both replicas of the two-replica set-up do their
share, and the page reports the figures issue #14 asks for."""

from __future__ import annotations

import json
from pathlib import Path

from bench.profiles import Profile
from bench.replicas import TITLE, main, render, run_bench
from tests.support.postgres import PostgresCluster

TINY = Profile(
    name="tiny",
    gen_time=(0.05, 0.15),
    client={"expected_generation_time": 0.05, "poll_interval_min": 0.05},
)


def test_a_small_run_posts_every_job_on_each_set_up_and_reports_cpu_per_job(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    results = run_bench(
        20, 1, profile=TINY, cluster=postgres_cluster, timeout=60, say=lambda _: None
    )

    rows = {row["setup"]: row for row in results["rows"]}
    assert set(rows) == {"sqlite", "postgres-1", "postgres-2"}
    for row in rows.values():
        assert row["posted"] == [20] and row["generation_requests"] == [20]
        assert row["jobs_per_s"] > 0 and row["bot_cpu_ms_per_job"] > 0
    assert rows["postgres-1"]["server_cpu_ms_per_job"] > 0
    assert rows["sqlite"]["server_cpu_ms_per_job"] == 0  # no server to count
    [two] = results["runs"]["postgres-2"]
    assert two["states"] == {"posted": 20}
    by_replica = two["bot_cpu_ms_per_job_by_replica"]
    assert len(by_replica) == 2 and all(ms > 0 for ms in by_replica)  # both did work

    page = render(results)
    assert page.startswith(TITLE + "\n")
    assert f"Machine: {results['machine']['nproc']} cores" in page
    assert "one run each, so no spread" in page
    assert "| PostgreSQL, two replicas | 2 |" in page
    assert "| SQLite, one process | 1 |" in page
    assert "Every run posted all 20 jobs with one generation request each." in page
    one = rows["postgres-1"]
    assert f"{one['bot_cpu_ms_per_job']:.2f} ms of CPU per job on PostgreSQL" in page

    # --report renders the page again from the JSON alone
    raw, out = tmp_path / "replicas.json", tmp_path / "page.md"
    raw.write_text(json.dumps(results))
    assert main(["--report", "--json", str(raw), "--markdown", str(out)]) == 0
    assert out.read_text() == page
