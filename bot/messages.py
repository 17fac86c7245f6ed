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


def caption(job: Job, elapsed: float, index: int, total: int, seed: int | None) -> str:
    """What an image is: prompt, its own seed, size, style, job and how long it took."""
    which = f" ({index + 1}/{total})" if total > 1 else ""
    negative = f" · without “{job.params.negative_prompt}”" if job.params.negative_prompt else ""
    style = f" · style {job.params.style}" if job.params.style != "default" else ""
    shown_seed = seed if seed is not None else job.params.seed
    return (
        f"“{job.params.prompt}”{which}{negative} · seed {shown_seed} · "
        f"{job.params.width}×{job.params.height}{style} · job `{job.id}` · {elapsed:.1f} s"
    )


def partial(job: Job, failed: list[tuple[int, str]], total: int) -> str:
    """Some images of a batch failed while others were posted."""
    lines = [f"⚠️ {len(failed)} of {total} images of job `{job.id}` could not be made:"]
    lines += [f"• image {index + 1}: {reason}" for index, reason in failed]
    lines.append("Press Re-roll to try the whole batch again.")
    return "\n".join(lines)


def cancelled(job: Job, by_mention: str) -> str:
    return f"🚫 Job `{job.id}` was cancelled by {by_mention}."


def not_cancellable(job: Job) -> str:
    if job.state.terminal:
        return f"Job `{job.id}` has already finished ({job.state.value.replace('_', ' ')})."
    return f"Job `{job.id}` is being posted right now; it can't be cancelled any more."


def only_owner_cancels(owner_mention: str) -> str:
    return f"Only {owner_mention} or a moderator can cancel this job."


def saved_for_restart(job: Job) -> str:
    return (
        f"I'm restarting right now. Your request is saved as job `{job.id}` and starts as "
        "soon as I'm back — nothing to do on your side."
    )


def quarantined(job_id: str) -> str:
    return (
        f"I couldn't read my saved record of your job `{job_id}` after a restart, so I set it "
        "aside instead of guessing. Please run the command again; an admin can look up the id."
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


def cancelled_status(by_mention: str) -> str:
    return f"🚫 cancelled by {by_mention}"


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


def backend_missing(name: str) -> str:
    return (
        f"this job was made with the {name} backend, which is not configured any more; "
        "an admin can set it up again or pick another with /imagine-settings backend=…"
    )


def not_available(kind: object) -> str:
    return "That button isn't available here yet."


def channel_backend_missing(name: str, available: tuple[str, ...]) -> str:
    return (
        f"This channel is set to the {name} backend, which isn't configured. "
        f"Ask an admin to pick one of: {', '.join(available)} "
        "(`/imagine-settings backend=NAME`)."
    )
