"""Benchmark of the hybrid watcher against polling, through the real core.

``python -m bench run`` (see ``docs/benchmarks.md``). The emulator runs in its own process
(``bench.emulator_proc``), the bot in another (``bench.bot_proc``), so the bot's RSS and CPU
are its own; ``bench.orchestrate`` drives both and ``bench.report`` writes the results."""
