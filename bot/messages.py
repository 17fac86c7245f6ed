"""Every text the bot shows to people, in one place."""

from __future__ import annotations

from bot.chat import ActionKind
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


def lineage(job: Job) -> str:
    """What a child job was made from ("variation 2 of `k3f9q2`"); empty for a command."""
    if job.parent_job_id is None or job.action is None:
        return ""
    of = f"image {job.parent_index + 1} of " if job.parent_index is not None else ""
    parent = f"`{job.parent_job_id}`"
    what = {
        ActionKind.REROLL: f"re-roll of {parent}",
        ActionKind.VARY_SUBTLE: f"subtle variation of {of}{parent}",
        ActionKind.VARY_STRONG: f"strong variation of {of}{parent}",
        ActionKind.UPSCALE: f"upscale of {of}{parent}",
        ActionKind.REMIX: f"remix of {parent}",
        ActionKind.ANIMATE: f"animation of {of}{parent}",
    }.get(job.action, f"made from {parent}")
    return f" · {what}"


def _details(job: Job) -> str:
    negative = f" · without “{job.params.negative_prompt}”" if job.params.negative_prompt else ""
    style = f" · style {job.params.style}" if job.params.style != "default" else ""
    return f"{negative} · {job.params.width}×{job.params.height}{style}"


def caption(job: Job, elapsed: float, index: int, total: int, seed: int | None) -> str:
    """What an image is: prompt, its own seed, size, style, lineage, job, time taken."""
    which = f" ({index + 1}/{total})" if total > 1 else ""
    if job.params.seconds is not None:
        which = f" · {job.params.seconds:g} s clip"
    shown_seed = seed if seed is not None else job.params.seed
    return (
        f"“{job.params.prompt}”{which} · seed {shown_seed}{_details(job)}{lineage(job)} · "
        f"job `{job.id}` · {elapsed:.1f} s"
    )


def grid_caption(job: Job, elapsed: float, seeds: list[tuple[int, int | None]]) -> str:
    """A batch as one grid: each numbered tile's seed, and what U/V do."""
    tiles = ", ".join(f"{index + 1}: seed {seed}" for index, seed in seeds)
    return (
        f"“{job.params.prompt}” · {len(job.results)} images ({tiles}){_details(job)}"
        f"{lineage(job)} · job `{job.id}` · {elapsed:.1f} s\n"
        "U = upscale that image, V = a variation of it."
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
    return (
        f"I don't know a job `{job_id[:40]}` (it may be mistyped, or older than my "
        "history). Your recent ones: /imagine-history."
    )


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


def store_trouble(job: Job, *, resumes_on_its_own: bool) -> str:
    """``resumes_on_its_own``: a shared store, where the heartbeat runs a held idle job."""
    then = (
        "and I'll pick it up again on my own once the database answers."
        if resumes_on_its_own
        else "and will continue once an admin fixes the problem and restarts me."
    )
    return (
        f"I hit a database problem while working on job `{job.id}` (“{job.params.prompt}”). "
        f"It is saved {then}"
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


def deleted_already(job: Job) -> str:
    return f"The result of job `{job.id}` was deleted, so its buttons don't do anything any more."


_ACTION_NAMES = {
    ActionKind.VARY_SUBTLE: "Variations",
    ActionKind.VARY_STRONG: "Variations",
    ActionKind.UPSCALE: "Upscaling",
    ActionKind.ANIMATE: "Animation",
}


def not_offered(kind: ActionKind, backend: str) -> str:
    what = _ACTION_NAMES.get(kind, "That")
    return f"{what} isn't something the {backend} image service here can do, sorry."


def image_unavailable(job: Job, index: int) -> str:
    return f"Image {index + 1} of job `{job.id}` isn't available (it may have failed)."


def too_large_to_upscale(job: Job, limit: int) -> str:
    return (
        f"Job `{job.id}` is already {job.params.width}×{job.params.height}; twice that is "
        f"over the {limit}-pixel limit."
    )


def remix_instead(text: str) -> str:
    return f"I couldn't open the remix form here. Run it as a command instead:\n`/imagine {text}`"


def attachment_needs_references(backend: str) -> str:
    return (
        f"The {backend} image service here can't start from an image. Send the prompt "
        "without the attachment, or ask an admin to pick another backend."
    )


def video_not_offered(backend: str) -> str:
    return (
        f"The {backend} image service here doesn't make videos. Ask an admin to pick a "
        "backend that does (`/imagine-settings backend=…`)."
    )


def history(lines: list[str]) -> str:
    if not lines:
        return "You have no jobs here yet. Try `/imagine a watercolor fox`."
    return "Your last jobs:\n" + "\n".join(lines)


def history_line(job: Job, ago: str, link: str | None) -> str:
    where = f" · {link}" if link else ""
    state = job.state.value.replace("_", " ")
    return f"• `{job.id}` “{job.params.prompt[:80]}” · {state} · {ago}{where}"


def show_usage() -> str:
    return "Give the job id to show, like `/imagine-show k3f9q2` (see /imagine-history)."


def nothing_to_show(job: Job) -> str:
    if job.deleted_by is not None:
        return f"The result of job `{job.id}` was deleted."
    return f"Job `{job.id}` has no result to show ({job.state.value.replace('_', ' ')})."


def ago(seconds: float) -> str:
    """A short relative time ("just now", "5 min ago", "3 h ago", "2 days ago")."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    days = seconds // 86400
    return f"{days:.0f} day{'s' if days >= 2 else ''} ago"


def show_failed(job: Job, reason: str) -> str:
    return f"I couldn't post the result of job `{job.id}` again: {reason}"


def poster_note(size: int, limit: int) -> str:
    return (
        f"\n📎 The clip is {size / 2**20:.1f} MiB, over this channel's "
        f"{limit / 2**20:.0f} MiB upload limit even re-encoded: here is its first frame."
    )
