/**
 * Password rules for the sign-up form.
 */
const MIN_LENGTH = 8;

function isStrongPassword(password) {
  // At least MIN_LENGTH characters, with a digit and a letter.
  const hasDigit = /[0-9]/.test(password);
  const hasLetter = /[a-zA-Z]/.test(password);
  return password.length > MIN_LENGTH && hasDigit && hasLetter;
}

module.exports = { isStrongPassword };
