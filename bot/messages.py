"""Every text the bot shows to people, in one place."""

from __future__ import annotations

from bot.command import ImagineParams
from bot.jobs import Job


def describe(params: ImagineParams) -> str:
    parts = [f"{params.width}×{params.height}"]
    if params.seed is not None:
        parts.append(f"seed {params.seed}")
    if params.count > 1:
        parts.append(f"{params.count} images")
    if params.style != "default":
        parts.append(f"style {params.style}")
    return ", ".join(parts)


def status_line(mention: str, job: Job, state: str) -> str:
    """The public status message that heads the job's thread."""
    return (
        f"🎨 {mention} is imagining “{job.params.prompt}” "
        f"({describe(job.params)}) · job `{job.id}` · {state}"
    )


def queued(position: int) -> str:
    return f"queued, position {position}"


def starting() -> str:
    return "starting…"


def progress(percent: int) -> str:
    return f"generating… {percent}%"


def done(seconds: float) -> str:
    return f"✅ done in {seconds:.1f} s"


def caption(job: Job, elapsed: float, index: int, total: int) -> str:
    which = f" ({index + 1}/{total})" if total > 1 else ""
    negative = f" · without “{job.params.negative_prompt}”" if job.params.negative_prompt else ""
    return (
        f"“{job.params.prompt}”{which}{negative} · seed {job.params.seed} · "
        f"{job.params.width}×{job.params.height} · job `{job.id}` · {elapsed:.1f} s"
    )


def failed(job: Job, reason: str) -> str:
    return (
        f"❌ Job `{job.id}` failed: {reason}\n"
        "Press Re-roll on an earlier image or run /imagine again; if it keeps failing, "
        f"tell an admin the job id `{job.id}`."
    )


def timed_out(job: Job, minutes: float) -> str:
    return (
        f"⌛ Job `{job.id}` gave up after {minutes:.0f} min without a result. "
        "The image service may be overloaded — please try /imagine again later."
    )


def undeliverable(job: Job, reason: str) -> str:
    return (
        f"⚠️ Your image for job `{job.id}` (“{job.params.prompt}”) is ready, but I could not "
        f"post it: {reason}"
    )


def not_yours(owner_mention: str) -> str:
    return f"Only {owner_mention} or a moderator can delete this image."


def unknown_job(job_id: str) -> str:
    return f"I can't find job `{job_id}` any more."


def save_failed() -> str:
    return (
        "Sorry — I couldn't save your request (database problem). "
        "Nothing was started; please try again."
    )


def internal_error(job: Job) -> str:
    return (
        f"Something went wrong on my side with job `{job.id}`. "
        "Please try again; an admin can look up the job id."
    )


def banned_word(word: str) -> str:
    return f"Your prompt contains a blocked word (“{word}”). Please rephrase it."


def rate_limited(limit: int, window: float) -> str:
    return (
        f"You've reached the limit of {limit} images per {window / 60:.0f} min. "
        "Please try again a little later."
    )


def admins_only() -> str:
    return "Only admins can see or change this channel's /imagine settings."


def settings_saved(summary: str) -> str:
    return f"Saved. {summary}"


def store_trouble(job: Job) -> str:
    return (
        f"I hit a database problem while working on job `{job.id}` (“{job.params.prompt}”). "
        "It is saved and will continue once an admin fixes the problem and restarts me."
    )
