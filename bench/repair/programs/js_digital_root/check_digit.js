/**
 * Digital root used by the check-digit validator.
 */
function digitalRoot(n) {
  // Sum the digits again and again until one digit is left.
  let sum = 0;
  for (const digit of String(n)) {
    sum += Number(digit);
  }
  return digitalRoot(sum);
}

module.exports = { digitalRoot };
