#!/usr/bin/env node
// storeop's command line: one line per error, never a stack trace (set STOREOP_DEBUG=1 for one).
// First, before any other module runs: refuse an old Node.js with one line.
import './node-version.js';
import { ownValue } from '../api/common.js';
import { ManifestError } from '../apply/manifests.js';
import { isStoreopError } from '../errors.js';
import { UsageError } from './args.js';
import { storeopVersion } from './version.js';

interface Command {
  run(argv: string[]): Promise<number>;
  help: string;
}

interface CommandEntry {
  /** Loaded only for the command that runs: the operator never loads what the standalone commands need, nor they its. */
  load(): Promise<Command>;
  summary: string;
}

const commands: Record<string, CommandEntry> = {
  apply: {
    load: async () => import('./commands/apply.js').then((m) => ({ run: m.applyCommand, help: m.applyHelp })),
    summary: 'provision the stores of Store/StoreDatabase manifests, without a cluster',
  },
  delete: {
    load: async () => import('./commands/delete.js').then((m) => ({ run: m.deleteCommand, help: m.deleteHelp })),
    summary: 'delete stores storeop apply declared, by their deletionPolicy, without a cluster',
  },
  api: {
    load: async () => import('./commands/api.js').then((m) => ({ run: m.apiCommand, help: m.apiHelp })),
    summary: 'serve the provisioning HTTP API (standalone)',
  },
  get: {
    load: async () => import('./commands/get.js').then((m) => ({ run: m.getCommand, help: m.getHelp })),
    summary: 'show stores as the master DB records them',
  },
  plan: {
    load: async () => import('./commands/plan.js').then((m) => ({ run: m.planCommand, help: m.planHelp })),
    summary: 'print the statements provisioning would run on a database',
  },
  schema: {
    load: async () => import('./commands/schema.js').then((m) => ({ run: m.schemaCommand, help: m.schemaHelp })),
    summary: 'plan a StoreSchema version across its stores, or print its TypeScript row types',
  },
  provision: {
    load: async () => import('./commands/provision.js').then((m) => ({ run: m.provisionCommand, help: m.provisionHelp })),
    summary: 'create or complete one store database',
  },
  run: {
    load: async () => import('./commands/run.js').then((m) => ({ run: m.runCommand, help: m.runHelp })),
    summary: 'run the operator against a Kubernetes cluster',
  },
  import: {
    load: async () => import('./commands/import.js').then((m) => ({ run: m.importCommand, help: m.importHelp })),
    summary: "bring the stores of the platform's current database under storeop (connect mode)",
  },
  master: {
    load: async () => import('./commands/master.js').then((m) => ({ run: m.masterCommand, help: m.masterHelp })),
    summary: 'migrate the master DB or re-encrypt its credentials (rotate-key)',
  },
  rollout: {
    load: async () => import('./commands/rollout.js').then((m) => ({ run: m.rolloutCommand, help: m.rolloutHelp })),
    summary: 'show, pause or resume the staged rollout of a StoreSchema version',
  },
  usage: {
    load: async () => import('./commands/usage.js').then((m) => ({ run: m.usageCommand, help: m.usageHelp })),
    summary: "show stores' usage against their plan limits, or collect it now (usage collect)",
  },
  version: {
    load: async () => ({ run: printVersion, help: 'usage: storeop version (or storeop --version)' }),
    summary: 'print the version of storeop',
  },
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
  const entry = ownValue(commands, name); // `storeop constructor` is an unknown command, not Object's
  if (!entry) throw new UsageError(`unknown command "${name}"; run "storeop --help"`);
  const command = await entry.load();
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
    // A command that failed part-way may leave handles open (the operator's master pool, informers and servers
    // when its start fails on a taken port): a failed command ends here rather than lingering without working.
    // stderr is synchronous for files and pipes, so the lines above are out.
    process.exit(process.exitCode);
  },
);
