/**
 * Settings stored by the browser extension.
 */
const DEFAULTS = { theme: "light", fontSize: 14 };

function loadSettings(stored) {
  // The stored JSON merged over the defaults; the defaults alone when it is missing or not valid JSON.
  if (!stored) {
    return { ...DEFAULTS };
  }
  const parsed = JSON.parse(stored);
  return { ...DEFAULTS, ...parsed };
}

module.exports = { loadSettings };
