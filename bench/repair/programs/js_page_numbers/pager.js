/**
 * Build the list of page numbers shown in the pager.
 */
function pageNumbers(first, last) {
  // Every page from first to last, both included.
  const pages = [];
  for (let page = first; page < last; page++) {
    pages.push(page);
  }
  return pages;
}

module.exports = { pageNumbers };
