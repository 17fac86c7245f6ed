"""Slack adapter: ``/imagine``, ``@imagine`` mentions and result buttons via slack-bolt.

Import from the modules (``adapters.slack.adapter``, ``.settings``): the settings are read
without loading slack-bolt."""
