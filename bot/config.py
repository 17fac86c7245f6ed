"""The core's own settings (platform-free). ``app/config.py`` builds them from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.access import AccessConfig
from bot.command import CommandDefaults


@dataclass(frozen=True, slots=True)
class BotConfig:
    defaults: CommandDefaults = field(default_factory=CommandDefaults)
    access: AccessConfig = field(default_factory=AccessConfig)
    max_jobs_per_user: int = 3
    """Running jobs per user; more are queued, not rejected."""
    max_running_jobs: int = 20
    """Running jobs in the whole process; more are queued."""
    job_timeout: float = 30 * 60
    """Seconds from acceptance until a job is given up as timed out."""
    progress_interval: float = 2.0
    """At most one status-message edit per job per this many seconds."""
    delivery_attempts: int = 3
    """Tries to post a result when the platform fails transiently."""
    delivery_retry_delay: float = 2.0
    store_attempts: int = 3
    """Runs of a job through a database problem (locked, disk full) before giving up
    until the next start; the job's committed state is kept."""
    store_retry_delay: float = 2.0
    shutdown_grace: float = 20.0
    """Seconds a shutdown waits for posts under way, so none is left unrecorded."""
    lease_renew_interval: float = 10.0
    """Replicas (a shared store): seconds between heartbeats, which renew this process's
    leases and take over expired ones; a third of the store's lease."""
    slot_poll_interval: float = 1.0
    """Replicas: seconds between looks for a slot freed on another replica."""
    retention_days: float = 30.0
    """Finished jobs older than this are pruned (only ids, prompts and URLs are kept)."""
