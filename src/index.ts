/**
 * Function App entry (package.json "main"). Loading the configuration first makes a bad setting fail
 * the whole app at start-up with a message naming it; then each module registers its functions.
 */
import { getConfig } from './config';

getConfig();

import './functions/health';
import './functions/operations';
import './functions/azureHealth';
import './functions/cmk';
import './functions/cmkGeoDr';
import './orchestrations/assess';
import './functions/complianceSweep';
import './functions/complianceReport';
import './functions/keyVaultEvents';
import './functions/keyVaultAudit';
import './functions/keyImpact';
import './functions/keyWatch';
