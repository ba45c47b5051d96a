"""Telegram's ``parse_mode=HTML``, as strictly as the real server applies it.

Only the tags of the Bot API's "HTML style" are allowed, they must nest and close, and
the only named entities are ``&lt; &gt; &amp; &quot;`` (numeric ones too). A message
that breaks a rule is refused with the description Telegram gives, so a bot that
forgets to escape an article title fails in the tests as it would in production.
"""

from __future__ import annotations

import re

#: Tags Telegram accepts, with the attributes each may carry.
ALLOWED_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ATTRIBUTE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
#: Where plain text ends: a tag or an entity may start.
_SPECIAL = re.compile(r"[<&]")
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);")


class MarkupError(ValueError):
    """The text is not valid Telegram HTML; ``str()`` is Telegram's description."""


def parse_html(text: str) -> str:
    """The plain text a message in ``text`` shows; raises :class:`MarkupError`."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            match = _TAG.match(text, position)
            if match is None:
                raise MarkupError(
                    _cant_parse(f"Unsupported start tag at byte offset {_byte(text, position)}")
                )
            closing, name, attributes = match.group(1), match.group(2).lower(), match.group(3)
            if name not in ALLOWED_TAGS:
                raise MarkupError(
                    _cant_parse(
                        f'Unsupported start tag "{name}" at byte offset {_byte(text, position)}'
                    )
                )
            if closing:
                if not open_tags or open_tags[-1] != name:
                    raise MarkupError(
                        _cant_parse(f"Unexpected end tag at byte offset {_byte(text, position)}")
                    )
                open_tags.pop()
            else:
                for attribute, _value in _ATTRIBUTE.findall(attributes):
                    if attribute.lower() not in ALLOWED_TAGS[name]:
                        raise MarkupError(
                            _cant_parse(
                                f'Unsupported attribute "{attribute}" of tag "{name}" '
                                f"at byte offset {_byte(text, position)}"
                            )
                        )
                open_tags.append(name)
            position = match.end()
        elif char == "&":
            match = _ENTITY.match(text, position)
            if match is None:
                # Telegram keeps a lone ampersand that starts no entity as it is.
                out.append("&")
                position += 1
                continue
            out.append(_decode_entity(match.group(1), text, position))
            position = match.end()
        else:
            # Plain text (a lone ">" included) up to the next tag or entity, in one go.
            special = _SPECIAL.search(text, position)
            end = len(text) if special is None else special.start()
            out.append(text[position:end])
            position = end
    if open_tags:
        raise MarkupError(
            _cant_parse(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
        )
    return "".join(out)


def _decode_entity(body: str, text: str, position: int) -> str:
    if body.startswith("#"):
        code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
        if not 0 < code <= 0x10FFFF:
            raise MarkupError(
                _cant_parse(f"Invalid character at byte offset {_byte(text, position)}")
            )
        return chr(code)
    if body in _ENTITIES:
        return _ENTITIES[body]
    raise MarkupError(
        _cant_parse(f'Unsupported HTML entity "&{body};" at byte offset {_byte(text, position)}')
    )


def _cant_parse(reason: str) -> str:
    return f"Bad Request: can't parse entities: {reason}"


def _byte(text: str, position: int) -> int:
    return len(text[:position].encode("utf-8"))
