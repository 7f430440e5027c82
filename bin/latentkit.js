#!/usr/bin/env node
// The `latentkit` command: runs the compiled CLI (npm run build:ts produces dist/).
'use strict';
const { main } = require('../dist/cli/main.js');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
