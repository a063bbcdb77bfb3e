/**
 * A jest reporter that lists every test file with the seconds it took, slowest first, at the end
 * of the run (jest's own output names a file's time only when it is slow). It also warns once,
 * at the start, when the Node.js running the tests is not a supported one.
 */
import path from 'node:path';
import { nodeVersionWarning } from '../../scripts/node-version.mjs';

export default class FileTimesReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.files = [];
  }

  onRunStart() {
    const warning = nodeVersionWarning();
    if (warning) process.stderr.write(`${warning}\n`);
  }

  onTestResult(_test, result) {
    const { start, end } = result.perfStats ?? {};
    const seconds = start && end ? (end - start) / 1000 : null;
    const failed = result.testExecError != null || result.numFailingTests > 0;
    this.files.push({ file: path.relative(this.rootDir, result.testFilePath), seconds, failed });
  }

  onRunComplete(_contexts, results) {
    if (this.files.length === 0) return;
    const width = Math.max(...this.files.map(({ file }) => file.length));
    const sorted = [...this.files].sort((a, b) => (b.seconds ?? 0) - (a.seconds ?? 0));
    const lines = sorted.map(({ file, seconds, failed }) =>
      `  ${file.padEnd(width)}  ${seconds === null ? '     –' : seconds.toFixed(1).padStart(6)} s${failed ? '  (failed)' : ''}`);
    const sum = this.files.reduce((total, { seconds }) => total + (seconds ?? 0), 0);
    const wall = (Date.now() - results.startTime) / 1000;
    process.stdout.write(`\nTest files by time (file, seconds):\n${lines.join('\n')}\n`
      + `  ${this.files.length} file${this.files.length === 1 ? '' : 's'}, ${sum.toFixed(1)} s in all, ${wall.toFixed(1)} s of wall time\n\n`);
  }

  getLastError() {
    return undefined;
  }
}
