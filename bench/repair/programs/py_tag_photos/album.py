"""Tagging photos in an album."""


def with_tag(tags, tag):
    """A new list: `tags` plus `tag` at the end when it is not there yet; `tags` itself is left as it is."""
    return list(tags) if tag in tags else [*tags, tag]


def tag_all(photos, tag):
    """Give every photo (a dict with a "tags" list) the tag; the photos, tagged."""
    for photo in photos:
        with_tag(photo["tags"], tag)
    return photos
