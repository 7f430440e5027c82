// bench/args.js — what the bench scripts share: a --name value from the command line, and the median they report.
'use strict';

/** The value after --name on the command line, else `fallback` (a string, as the command line gives). */
function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

/** The median of a list of numbers (the upper one of the middle two for an even count). */
function median(a) {
  return [...a].sort((x, y) => x - y)[a.length >> 1];
}

module.exports = { arg, median };
