"""The command registry: commands declared with a decorator (name, aliases, arguments, help,
who may use it), parsed from ``!name args`` and answered with their usage on bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from application.policy import Permission
from texts.i18n import N_

if TYPE_CHECKING:
    from bot.context import CommandContext


class UsageError(Exception):
    """The arguments do not fit; the message says why, the reply adds the usage line."""


# argument names as usage lines show them, translated (the names themselves stay English)
PLACEHOLDERS = (N_("summary"), N_("reason"), N_("text"), N_("command"), N_("kind"), N_("id"), N_("title"), N_("options"),
                N_("status"), N_("type"))


def _same(text: str) -> str:
    return text


class Argument:
    """One argument: parses itself off the front of the remaining text."""

    def __init__(self, name: str, *, optional: bool = False, shown: str | None = None) -> None:
        self.name = name
        self.optional = optional
        self._shown = shown  # the usage text (marked with N_), when the name alone does not say it

    @property
    def usage(self) -> str:
        return self.shown()

    def shown(self, translate: Callable[[str], str] = _same) -> str:
        """How the usage line shows it, in the reader's language."""
        if self._shown:
            return translate(self._shown)
        placeholder = translate(self.placeholder)
        return f"[{placeholder}]" if self.optional else f"<{placeholder}>"

    @property
    def placeholder(self) -> str:
        return self.name

    def parse(self, text: str) -> tuple[Any, str]:
        raise NotImplementedError


class Word(Argument):
    def parse(self, text: str) -> tuple[str | None, str]:
        text = text.lstrip()
        if not text:
            if self.optional:
                return None, ""
            raise UsageError(N_("Missing %(argument)s"), {"argument": self})
        word, _, rest = text.partition(" ")
        return word, rest


class Text(Argument):
    """The rest of the line."""

    def parse(self, text: str) -> tuple[str | None, str]:
        text = text.strip()
        if not text:
            if self.optional:
                return None, ""
            raise UsageError(N_("Missing %(argument)s"), {"argument": self})
        return text, ""


_TICKET_REF = re.compile(r"^#?(\d+)(?:\s+|$)")


class TicketRef(Argument):
    """``#N``; when left out, the ticket is the one of the thread the command was sent in."""

    def __init__(self, name: str = "ticket", *, optional: bool = True) -> None:
        super().__init__(name, optional=optional)

    @property
    def placeholder(self) -> str:
        return "#N"

    def parse(self, text: str) -> tuple[int | None, str]:
        stripped = text.lstrip()
        match = _TICKET_REF.match(stripped)
        # "#12 ..." always names a ticket; a bare "12" only when nothing follows it
        if match and (stripped.startswith("#") or not self.optional or not stripped[match.end():].strip()):
            return int(match.group(1)), stripped[match.end():]
        if not self.optional:
            raise UsageError(N_("Missing %(argument)s"), {"argument": self})
        return None, text


Handler = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    help: str
    arguments: tuple[Argument, ...] = ()
    aliases: tuple[str, ...] = ()
    permission: Permission = Permission.ANYONE
    details: str | None = None
    direct: bool = False  # for a reporter in a direct chat with the bot: listed by !help there

    def usage(self, prefix: str, translate: Callable[[str], str] = _same) -> str:
        return " ".join([f"{prefix}{self.name}", *(argument.shown(translate) for argument in self.arguments)])

    def parse(self, text: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        rest = text
        for argument in self.arguments:
            values[argument.name], rest = argument.parse(rest)
        if rest.strip():
            raise UsageError(N_("Unexpected %(text)s"), {"text": rest.strip()[:60]})
        return values


@dataclass
class CommandRegistry:
    commands: dict[str, Command] = field(default_factory=dict)
    _by_alias: dict[str, Command] = field(default_factory=dict)

    def command(
        self,
        name: str,
        *,
        help: str,
        arguments: tuple[Argument, ...] | list[Argument] = (),
        aliases: tuple[str, ...] = (),
        permission: Permission = Permission.ANYONE,
        details: str | None = None,
        direct: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            command = Command(name, handler, help, tuple(arguments), tuple(aliases), permission, details, direct)
            for word in (name, *aliases):
                if word in self._by_alias:
                    raise ValueError(f"command word {word!r} registered twice")
                self._by_alias[word] = command
            self.commands[name] = command
            return handler

        return register

    def find(self, word: str) -> Command | None:
        return self._by_alias.get(word.lower())

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.commands.values(), key=lambda command: command.name))


def split_command(body: str, prefix: str) -> tuple[str, str] | None:
    """``!claim #4`` -> ("claim", "#4"); None when the text is not a command."""
    text = body.strip()
    if not text.startswith(prefix) or len(text) == len(prefix):
        return None
    word, _, rest = text[len(prefix):].partition(" ")
    if not word or not word[0].isalpha():
        return None
    return word.lower(), rest


# The registry the bot uses; command modules declare their commands on it at import.
REGISTRY = CommandRegistry()
command = REGISTRY.command
