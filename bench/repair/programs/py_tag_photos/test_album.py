from album import tag_all


def test_tags_are_added():
    photos = [{"tags": []}, {"tags": ["sea"]}]
    assert tag_all(photos, "2024") == [{"tags": ["2024"]}, {"tags": ["sea", "2024"]}]


def test_no_duplicates():
    assert tag_all([{"tags": ["sea"]}], "sea") == [{"tags": ["sea"]}]


def test_no_photos():
    assert tag_all([], "sea") == []


def test_every_photo():
    photos = tag_all([{"tags": []} for _ in range(3)], "x")
    assert all(photo["tags"] == ["x"] for photo in photos)
