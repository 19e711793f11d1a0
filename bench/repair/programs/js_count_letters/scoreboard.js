/**
 * Counts for the word-game scoreboard.
 */
function countLetters(text) {
  // How many letters text has; spaces and punctuation do not count.
  let count = 0;
  let i = 0;
  while (i < text.length) {
    if (!/[a-z]/i.test(text[i])) {
      continue;
    }
    count++;
    i++;
  }
  return count;
}

module.exports = { countLetters };
