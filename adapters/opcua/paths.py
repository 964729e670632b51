"""Browse paths as lists of qualified names with namespace URIs, resolved element by element.

A path element is written ``alias:Name`` in a profile (the alias names a namespace URI
declared by the profile; only the first colon separates, so a name may hold any character,
``/`` and ``:`` included) and becomes an `adapters.vocabulary.QName(uri, name)`. Placeholders such as
``{device}`` or ``{run_id}`` are substituted into an element's name after parsing, so a run
id can never split a path. A server's namespace indices are looked up by URI on every
connection (`NamespaceMap`): no index is ever assumed.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from asyncua import ua

from adapters.vocabulary import Path, QName

__all__ = ["NamespaceMap", "Path", "PathError", "QName", "join", "parse_path", "render", "substitute", "translate",
           "translate_from"]


class PathError(ValueError):
    """A path element cannot be parsed or names an undeclared namespace alias."""


def parse_element(text: str, namespaces: Mapping[str, str]) -> QName:
    """``alias:Name`` -> QName(namespaces[alias], Name); the name keeps every later colon."""
    alias, sep, name = text.partition(":")
    if not sep or not name:
        raise PathError(f"{text!r} is not 'alias:Name'")
    if alias not in namespaces:
        raise PathError(f"{text!r}: namespace alias {alias!r} is not declared (known: {', '.join(namespaces)})")
    return QName(namespaces[alias], name)


def parse_path(elements: Iterable[str], namespaces: Mapping[str, str]) -> Path:
    return tuple(parse_element(e, namespaces) for e in elements)


def substitute(path: Path, **values: str) -> Path:
    """The path with ``{key}`` placeholders in element names replaced by `values` (verbatim)."""
    out = []
    for q in path:
        name = q.name
        for key, value in values.items():
            name = name.replace("{" + key + "}", value)
        out.append(QName(q.namespace_uri, name))
    return tuple(out)


def join(*parts: Sequence[QName]) -> Path:
    return tuple(q for p in parts for q in p)


def render(path: Sequence[QName]) -> str:
    """A readable form for messages: names joined by ' / ' (never parsed back)."""
    return " / ".join(q.name for q in path)


class NamespaceMap:
    """A server's namespace array, by URI (read once per connection)."""

    def __init__(self, uris: Sequence[str]) -> None:
        self.uris = list(uris)
        self.index = {u: i for i, u in enumerate(self.uris)}

    def missing(self, uris: Iterable[str]) -> list[str]:
        return sorted({u for u in uris if u not in self.index})

    def qualified(self, q: QName) -> ua.QualifiedName:
        try:
            return ua.QualifiedName(q.name, self.index[q.namespace_uri])
        except KeyError:
            raise PathError(f"the server has no namespace {q.namespace_uri!r}") from None

    def relative_path(self, path: Sequence[QName]) -> ua.RelativePath:
        elements = []
        for q in path:
            el = ua.RelativePathElement(ReferenceTypeId=ua.NodeId(ua.Int32(ua.ObjectIds.HierarchicalReferences)),
                                        TargetName=self.qualified(q))
            setattr(el, "IsInverse", False)  # asyncua's default is True; its Boolean alias defeats mypy
            elements.append(el)
        rp = ua.RelativePath()
        rp.Elements = elements
        return rp


async def translate(client: Any, ns: NamespaceMap, start: ua.NodeId,
                    paths: Sequence[Sequence[QName]]) -> list[ua.NodeId | ua.StatusCode]:
    """Each path below `start` in one TranslateBrowsePathsToNodeIds request: its node id, or
    the Bad status that says why it does not resolve."""
    return await translate_from(client, ns, [start] * len(paths), paths)


async def translate_from(client: Any, ns: NamespaceMap, starts: Sequence[ua.NodeId],
                         paths: Sequence[Sequence[QName]]) -> list[ua.NodeId | ua.StatusCode]:
    """Each path below its own starting node, all in one TranslateBrowsePathsToNodeIds request."""
    if not paths:
        return []
    requests = []
    for start, p in zip(starts, paths):
        bp = ua.BrowsePath()
        bp.StartingNode = start
        bp.RelativePath = ns.relative_path(p)
        requests.append(bp)
    results = await client.uaclient.translate_browsepaths_to_nodeids(requests)
    out: list[ua.NodeId | ua.StatusCode] = []
    for r in results:
        if r.StatusCode.is_good() and r.Targets:
            t = r.Targets[0].TargetId
            out.append(ua.NodeId(t.Identifier, t.NamespaceIndex, t.NodeIdType))
        else:
            out.append(r.StatusCode if not r.StatusCode.is_good() else ua.StatusCode(ua.UInt32(ua.StatusCodes.BadNoMatch)))
    return out
