"""The ComfyUI backend: one or more hosts, API-format workflows, a hybrid watcher per host."""

from bot.backend.comfyui.backend import CLIENT_ID_KEY, ComfyUIBackend
from bot.backend.comfyui.settings import ComfyUISettings, urls_from
from bot.backend.comfyui.workflows import WorkflowError, Workflows, load_workflows

__all__ = [
    "CLIENT_ID_KEY",
    "ComfyUIBackend",
    "ComfyUISettings",
    "WorkflowError",
    "Workflows",
    "load_workflows",
    "urls_from",
]
