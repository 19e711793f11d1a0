/**
 * Cart totals for the checkout page.
 */

// One unit's price in whole cents (an integer).
function priceCents(item) {
  return Math.round(item.price * 100);
}

function cartTotal(items) {
  // The total in dollars, as a string with two decimals: "12.50".
  let cents = 0;
  for (const item of items) {
    cents += priceCents(item) * item.quantity;
  }
  return cents.toFixed(2);
}

module.exports = { cartTotal };
