// The Geo-DR fault matrix, shard 2 of 3 (test/e2e/fault-matrix-suites.ts: the shards run in parallel).
import { describeGeoDrMatrix } from './fault-matrix-suites';

describeGeoDrMatrix({ index: 2, count: 3 });
