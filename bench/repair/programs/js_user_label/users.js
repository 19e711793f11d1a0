/**
 * Labels for the people picker.
 */

// The user with this id, or undefined when there is none.
function findUser(users, id) {
  return users.find((user) => user.id === id);
}

function userLabel(users, id) {
  // "Name <email>" for a known user, "unknown user" for any other id.
  const user = findUser(users, id);
  return `${user.name} <${user.email}>`;
}

module.exports = { userLabel };
