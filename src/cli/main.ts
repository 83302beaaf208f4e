#!/usr/bin/env node
// storeop's command line: one line per error, never a stack trace (set STOREOP_DEBUG=1 for one).
import { ownValue } from '../api/common.js';
import { ManifestError } from '../apply/manifests.js';
import { isStoreopError } from '../errors.js';
import { UsageError } from './args.js';
import { apiCommand, apiHelp } from './commands/api.js';
import { applyCommand, applyHelp } from './commands/apply.js';
import { deleteCommand, deleteHelp } from './commands/delete.js';
import { getCommand, getHelp } from './commands/get.js';
import { masterCommand, masterHelp } from './commands/master.js';
import { planCommand, planHelp } from './commands/plan.js';
import { provisionCommand, provisionHelp } from './commands/provision.js';
import { runCommand, runHelp } from './commands/run.js';
import { storeopVersion } from './version.js';

interface Command {
  run(argv: string[]): Promise<number>;
  help: string;
  summary: string;
}

const commands: Record<string, Command> = {
  apply: { run: applyCommand, help: applyHelp, summary: 'provision the stores of Store/StoreDatabase manifests, without a cluster' },
  delete: {
    run: deleteCommand,
    help: deleteHelp,
    summary: 'delete stores storeop apply declared, by their deletionPolicy, without a cluster',
  },
  api: { run: apiCommand, help: apiHelp, summary: 'serve the provisioning HTTP API (standalone)' },
  get: { run: getCommand, help: getHelp, summary: 'show stores as the master DB records them' },
  plan: { run: planCommand, help: planHelp, summary: 'print the statements provisioning would run on a database' },
  provision: { run: provisionCommand, help: provisionHelp, summary: 'create or complete one store database' },
  run: { run: runCommand, help: runHelp, summary: 'run the operator against a Kubernetes cluster' },
  master: { run: masterCommand, help: masterHelp, summary: 'migrate the master DB or re-encrypt its credentials (rotate-key)' },
  version: { run: printVersion, help: 'usage: storeop version (or storeop --version)', summary: 'print the version of storeop' },
};

async function printVersion(): Promise<number> {
  process.stdout.write(`storeop ${storeopVersion()}\n`);
  return 0;
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: storeop <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun "storeop <command> --help" for a command's flags.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') return printVersion();
  const command = ownValue(commands, name); // `storeop constructor` is an unknown command, not Object's
  if (!command) throw new UsageError(`unknown command "${name}"; run "storeop --help"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

// A closed pipe (storeop plan | head) ends output quietly instead of crashing.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const command = process.argv[2] && ownValue(commands, process.argv[2]) ? ` ${process.argv[2]}` : '';
    if (error instanceof ManifestError) {
      for (const problem of error.problems) process.stderr.write(`storeop${command}: ${problem}\n`);
      process.stderr.write(`storeop${command}: nothing was changed\n`);
      process.exitCode = 1;
    } else if (error instanceof UsageError) {
      process.stderr.write(`storeop${command}: ${error.message}\n`);
      process.exitCode = 2;
    } else if (isStoreopError(error)) {
      process.stderr.write(`storeop${command}: ${error.code}: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`storeop${command}: unexpected error: ${(error as Error)?.message ?? String(error)}\n`);
      process.exitCode = 1;
    }
    if (process.env.STOREOP_DEBUG === '1') process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
  },
);
