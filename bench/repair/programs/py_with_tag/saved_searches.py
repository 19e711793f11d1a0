"""Tagging for saved searches."""


def with_tag(tags, tag):
    """Return a new list of tags that includes tag once; the given list is left as it was."""
    if tag in tags:
        return list(tags)
    tags.append(tag)
    return tags
