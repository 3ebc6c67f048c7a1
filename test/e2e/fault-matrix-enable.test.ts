// The enable fault matrix (test/e2e/fault-matrix-suites.ts): every call site of enable × every fault.
import { describeEnableMatrix } from './fault-matrix-suites';

describeEnableMatrix();
