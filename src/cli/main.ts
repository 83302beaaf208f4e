#!/usr/bin/env node
// storeop's command line. Commands arrive with the issues that build them.
const [command] = process.argv.slice(2);
if (!command || command === '--help' || command === 'help') {
  process.stdout.write('usage: storeop <command>\n\nNo commands yet: see README.md.\n');
  process.exit(command ? 0 : 2);
}
process.stderr.write(`storeop: unknown command "${command}"; run "storeop --help"\n`);
process.exit(2);
