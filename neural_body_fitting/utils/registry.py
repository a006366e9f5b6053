"""Named parts of one kind (encoders, segmenters, tasks, ...): one lookup, one error.

    ENCODERS = Registry("encoder", {"resnet_v1_50": "pkg.networks.backbones:resnet_v1_50"})
    ENCODERS.register("mine", build_my_encoder)     # or @ENCODERS.register("mine")
    ENCODERS.get("resnet_v1_5")    # UnknownNameError: encoder: unknown 'resnet_v1_5';
                                   # did you mean 'resnet_v1_50'? Known: ...

An entry is an object, or a "module:attribute" (or "module") string
imported on the first `get`: a config can check a name (`check`, `names`) without importing the
implementation and its TensorFlow.
"""
import difflib
import importlib


class UnknownNameError(ValueError):
    """A name that a registry does not hold; `headline` is the message without the known list."""

    def __init__(self, headline, known):
        super().__init__(f"{headline} Known: {', '.join(known)}.")
        self.headline = headline


def did_you_mean(name, known, synonyms=None):
    """"; did you mean 'x'?" for the best guess at `name` among `known`, or "".

    Ranked: a known synonym (`synonyms` maps a word users write to the
    known name), a case-insensitive match, a known name that contains the
    name or is contained in it, then the closest by edit distance.
    """
    known = sorted(known)
    lowered = str(name).lower()
    guesses = [(synonyms or {}).get(lowered)]
    guesses += [k for k in known if k.lower() == lowered]
    guesses += [k for k in known if lowered and (lowered in k.lower() or k.lower() in lowered)]
    guesses += difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    guess = next((g for g in guesses if g in known), None)
    return f"; did you mean '{guess}'?" if guess else ""


class Registry:
    """Names of one kind mapped to implementations, loaded on first use."""

    def __init__(self, kind, entries=None, synonyms=None):
        """`kind` names the entries in messages ('encoder'); `entries`: {name: object,
        'module:attribute' or 'module'}; `synonyms`: {word users write: known name}."""
        self.kind = kind
        self._entries = {}
        self._synonyms = dict(synonyms or {})
        for name, target in (entries or {}).items():
            self.register(name, target)

    def register(self, name, target=None):
        """Adds `target` under `name`; without `target`, a decorator that adds what it wraps."""
        if target is None:
            return lambda wrapped: self.register(name, wrapped)
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered already")
        self._entries[name] = target
        return target

    def names(self):
        return tuple(self._entries)

    def __contains__(self, name):
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def check(self, name, where=None):
        """`name` if registered, else UnknownNameError naming `where` (default: the kind)."""
        if name in self._entries:
            return name
        suggestion = did_you_mean(name, self._entries, self._synonyms)
        raise UnknownNameError(
            f"{where or self.kind}: unknown {self.kind} '{name}'{suggestion or '.'}",
            self._entries)

    def get(self, name, where=None):
        """The implementation registered as `name` (imported now if it was a string)."""
        target = self._entries[self.check(name, where)]
        if isinstance(target, str):
            module, _, attribute = target.partition(":")
            target = importlib.import_module(module)
            target = getattr(target, attribute) if attribute else target
            self._entries[name] = target
        return target
