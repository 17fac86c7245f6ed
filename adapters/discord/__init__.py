"""Discord adapter: ``/imagine`` slash command, result threads, persistent buttons.

Import from the modules (``adapters.discord.adapter``, ``.settings``): the settings are
read without loading discord.py."""
