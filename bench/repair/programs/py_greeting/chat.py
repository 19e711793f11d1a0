"""Greetings for the chat window."""


def find_user(users, user_id):
    """The user dict with this id, or None when there is none."""
    for user in users:
        if user["id"] == user_id:
            return user
    return None


def greeting(users, user_id):
    """`Hello, <name>!` for a known user, `Hello, stranger!` for anyone else."""
    user = find_user(users, user_id)
    return f"Hello, {user['name']}!"
