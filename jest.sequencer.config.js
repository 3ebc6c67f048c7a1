// Test order for `npm test` (jest.config.js "testSequencer"): the suites known to take longest start
// first, in this order, whatever jest knows of earlier runs — in a clean checkout jest has no timings
// and would order by file size, which starts the small shard files of the fault matrix last and leaves
// one worker running them alone at the end. Everything else keeps jest's order (failed first, then
// slowest first by the timings of earlier runs, else by file size).
const Sequencer = require('@jest/test-sequencer').default;

const LONGEST_FIRST = [
  /test\/e2e\/fault-matrix-geo-dr-\d+\.test\.ts$/,
  /test\/e2e\/fault-matrix-enable\.test\.ts$/,
  /test\/e2e\/enable-cmk-faults\.test\.ts$/,
  /test\/e2e\/enable-cmk-faults-uai\.test\.ts$/,
  /test\/clients\/cli-and-python\.test\.ts$/,
  /test\/e2e\/fault-matrix-token\.test\.ts$/,
];

const rank = (test) => {
  const i = LONGEST_FIRST.findIndex((re) => re.test(test.path.replace(/\\/g, '/')));
  return i < 0 ? LONGEST_FIRST.length : i;
};

class LongestFirst extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    // Array.prototype.sort is stable: equal ranks keep jest's order.
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = LongestFirst;
