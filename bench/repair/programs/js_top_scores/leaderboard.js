/**
 * Leaderboard helpers.
 */
function topScores(scores, count) {
  // The `count` highest scores, highest first; `scores` is left in its order.
  const ordered = scores.sort((a, b) => b - a);
  return ordered.slice(0, count);
}

module.exports = { topScores };
