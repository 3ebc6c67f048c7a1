// The managed-identity token endpoint's fault matrix (test/e2e/fault-matrix-suites.ts).
import { describeTokenMatrix } from './fault-matrix-suites';

describeTokenMatrix();
