/** Key vault rules: readable, soft delete + purge protection (CMK-007), firewall (CMK-009). */
import { BOTH, vaultBlocksServiceBus, type AzureRule, type Violation } from './rule';

export const VAULT_RULES: readonly AzureRule[] = [
  {
    id: 'PRE-011',
    severity: 'error',
    title: 'Key vault not available',
    modes: BOTH,
    reads: 'azure',
    subject: 'vault',
    templates: {
      notFound: {
        message: 'Key vault {vaultName} ({vaultUri}) was not found in the subscriptions the app can see.',
        fix: 'Check the vault name (or give the app Reader on its subscription); list the vaults with:',
        command: 'az keyvault list --query "[].{name:name, uri:properties.vaultUri}" --output table',
      },
      forbidden: {
        message:
          "Key vault {vaultName} could not be read: the app's identity is not allowed to read it ({detail}).",
        fix: "Give the app's identity Reader on the vault or its subscription (the app reads vaults and key metadata through Resource Manager):",
        command: 'az role assignment create --assignee <app-principal-id> --role Reader --scope {scope}',
      },
      unreachable: {
        message: 'Key vault {vaultName} did not answer ({detail}).',
        fix: 'Retry later; if it persists, check the vault and its network settings.',
      },
    },
    check: (vault) =>
      vault.status === 'found'
        ? undefined
        : {
            variant: vault.status,
            params: {
              vaultName: vault.vaultName,
              vaultUri: vault.vaultUri,
              detail: vault.detail ?? vault.status,
              scope: vault.resourceId ?? '<vault-resource-id>',
            },
          },
  },
  {
    id: 'CMK-007',
    severity: 'error',
    title: 'Vault soft delete or purge protection off',
    modes: BOTH,
    reads: 'azure',
    subject: 'vault',
    templates: {
      purgeProtection: {
        message: 'Key vault {vaultName} has purge protection off.',
        fix: 'Turn it on with:',
        command: 'az keyvault update --name {vaultName} --enable-purge-protection true',
      },
      softDelete: {
        message: 'Key vault {vaultName} has soft delete off.',
        fix: 'Turn it on with:',
        command: 'az keyvault update --name {vaultName} --enable-soft-delete true',
      },
      both: {
        message: 'Key vault {vaultName} has soft delete and purge protection off.',
        fix: 'Turn them on with:',
        command:
          'az keyvault update --name {vaultName} --enable-soft-delete true --enable-purge-protection true',
      },
    },
    check: (vault) => {
      if (vault.status !== 'found') return undefined;
      const soft = vault.softDeleteEnabled !== false;
      const purge = vault.purgeProtectionEnabled === true;
      if (soft && purge) return undefined;
      const variant = !soft && !purge ? 'both' : !soft ? 'softDelete' : 'purgeProtection';
      return { variant, params: { vaultName: vault.vaultName } };
    },
  },
  {
    id: 'CMK-009',
    severity: 'error',
    title: 'Vault firewall blocks Service Bus',
    modes: BOTH,
    reads: 'azure',
    subject: 'vault',
    templates: {
      virtualNetworkRules: {
        message:
          'Key vault {vaultName} has {count} virtual network rule(s); Service Bus customer-managed keys are not supported on a vault with virtual network rules.',
        fix: 'Remove the rule(s) and rely on "Allow trusted Microsoft services" instead, e.g.:',
        command: 'az keyvault network-rule remove --name {vaultName} --subnet {subnetId}',
      },
      noBypass: {
        message:
          'Key vault {vaultName} denies network access by default and does not let trusted Microsoft services (Service Bus) bypass its firewall.',
        fix: 'Let trusted services through with:',
        command: 'az keyvault update --name {vaultName} --bypass AzureServices',
      },
    },
    check: (vault): Violation | undefined => {
      const acls = vault.networkAcls;
      if (vault.status !== 'found' || !acls) return undefined;
      const first = acls.virtualNetworkRuleIds[0];
      if (first !== undefined) {
        return {
          variant: 'virtualNetworkRules',
          params: { vaultName: vault.vaultName, count: acls.virtualNetworkRuleIds.length, subnetId: first },
        };
      }
      if (vaultBlocksServiceBus(vault)) {
        return { variant: 'noBypass', params: { vaultName: vault.vaultName } };
      }
      return undefined;
    },
  },
];
