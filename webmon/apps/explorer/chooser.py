"""A selector of one of the names a producer has (a state key, a shared array) that follows
them as they come and go."""

from __future__ import annotations

from collections.abc import Callable

from bokeh.models import Select

#: The selector's value while the producer has no such name.
NONE = ""


class NameChooser:
    """A ``Select`` of ``names``; ``restart()`` runs whenever another name is shown, or the
    same name of another producer (or of the producer restarted)."""

    def __init__(self, title: str, name: str, restart: Callable[[], None]) -> None:
        self.select = Select(title=title, options=[(NONE, "(none)")], value=NONE, width=220,
                             name=name)
        self.select.on_change("value", lambda _attr, _old, _new: restart())
        self._restart = restart
        self._names: list[str] = []
        self._generation: int | None = None

    @property
    def value(self) -> str:
        return self.select.value

    def show(self, name: str) -> None:
        """Show ``name`` (a click on its row in the listing)."""
        if name not in self._names:
            self._names.append(name)
            self.select.options = [(n, n) for n in self._names]
        self.select.value = name

    def follow(self, names: list[str], generation: int | None) -> None:
        """The producer shown has ``names`` now: keep the choice if it still exists, else
        show the first name."""
        if names == self._names and generation == self._generation:
            return
        self._names = names
        self.select.options = [(n, n) for n in names] if names else [(NONE, "(none)")]
        if self.select.value not in names:
            self.select.value = names[0] if names else NONE  # restarts through the callback
        elif generation != self._generation:
            self._restart()
        self._generation = generation
