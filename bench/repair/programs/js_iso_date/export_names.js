/**
 * Dates for file names in the export folder.
 */
function isoDate(date) {
  // YYYY-MM-DD in UTC, e.g. 2024-03-07.
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + 1;
  const day = date.getUTCDate();
  return `${year}-${month}-${day}`;
}

module.exports = { isoDate };
