"""discord.py / aiohttp failures → the core's ``DeliveryError`` (worded for people)."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bot.chat import DeliveryError

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    discord.HTTPException,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)
ANSWER_ERRORS: tuple[type[BaseException], ...] = (*TRANSPORT_ERRORS, discord.InteractionResponded)
"""Answering an interaction: the transport, or another answer got there first."""


def delivery_error(exc: BaseException, place: str) -> DeliveryError:
    """``place`` is a channel mention such as ``<#123>``. Never includes the raw error text."""
    if isinstance(exc, discord.Forbidden):
        return DeliveryError(
            f"I'm not allowed to post in {place}. Ask a server admin to give me Send Messages, "
            "Send Messages in Threads, Create Public Threads and Attach Files there.",
            permanent=True,
        )
    if isinstance(exc, discord.NotFound):
        return DeliveryError(
            f"I can't reach {place} any more (deleted, or I was removed).", permanent=True
        )
    return DeliveryError("Discord is having trouble right now; I'll try again.", permanent=False)
