// The first thing the CLI runs (main.ts imports it before anything else): on a Node.js older than storeop
// needs, one line saying so instead of an error from deep inside a dependency.
export const MINIMUM_NODE_MAJOR = 22;

/** The message for a Node.js version too old to run storeop, or undefined when it is new enough. */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (Number.isFinite(major) && major >= MINIMUM_NODE_MAJOR) return undefined;
  return `storeop needs Node.js ${MINIMUM_NODE_MAJOR} or later (this is Node.js ${version}); npm ci installs Node.js 22 as node_modules/.bin/node`;
}

const problem = nodeVersionProblem(process.version);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
