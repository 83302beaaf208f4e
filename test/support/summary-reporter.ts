// Prints a plain closing line, "tests: N passed, N failed, N skipped", that any CI log reader understands.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      // A module that failed outside its tests (a hook, an import) leaves its tests unrun: they count as
      // failed. Tests left out by a filter (-t) or skipped next to a failed test stay "skipped".
      const moduleFailed = module.errors().length > 0 || [...module.children.allSuites()].some((suite) => suite.errors().length > 0);
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed' || moduleFailed) failedHere++;
        else skipped++;
      }
      failed += failedHere || (moduleFailed ? 1 : 0);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
