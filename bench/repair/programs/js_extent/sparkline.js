/**
 * Axis range for the sparkline.
 */
function extent(values) {
  // [smallest, largest] of a non-empty array of numbers.
  let low = -Infinity;
  let high = Infinity;
  for (const value of values) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  return [low, high];
}

module.exports = { extent };
