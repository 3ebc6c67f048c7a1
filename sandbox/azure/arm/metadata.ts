import { reply } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { ArmErrors } from '../errors';
import { graphBase } from '../graph/provider';

/**
 * ARM's cloud discovery document, served anonymously as Azure serves it:
 * `GET {resourceManager}/metadata/endpoints?api-version=…`. `az cloud register
 * --endpoint-resource-manager` (msrestazure, api-version 2015-01-01) reads `authentication.loginEndpoint`,
 * `authentication.audiences[0]` (the token resource for ARM) and `graphEndpoint` from it; newer clients
 * read the 2019-05-01 list of clouds or the 2022-09-01 document of this cloud.
 *
 * The values are the sandbox's: ARM is this listener, the audience is what ARM accepts, the Key Vault
 * suffix is KEYVAULT_DNS_SUFFIX, Graph is the sandbox's minimal Microsoft Graph (graph/provider.ts),
 * and the login endpoint is the one the Key Vault challenge names (no Entra ID is emulated: clients
 * authenticate through the managed identity endpoint). Only endpoints the sandbox serves are listed.
 */
const VERSIONS = ['2015-01-01', '2019-05-01', '2022-09-01'] as const;
const LOGIN_ENDPOINT = 'https://login.microsoftonline.com/';
const CLOUD_NAME = 'AzureSandbox';

export function cloudDocument(core: SandboxCore): Record<string, unknown> {
  const arm = `${core.urls.arm}/`;
  const graph = `${graphBase(core)}/`;
  return {
    portal: arm,
    authentication: {
      loginEndpoint: LOGIN_ENDPOINT,
      audiences: [arm],
      tenant: 'common',
      identityProvider: 'AAD',
    },
    graphAudience: graph,
    graph,
    name: CLOUD_NAME,
    suffixes: { keyVaultDns: core.options.keyVaultDnsSuffix },
    resourceManager: arm,
    microsoftGraphResourceId: graph,
  };
}

/** The 2015-01-01 shape (what Azure still answers for that version). */
export function legacyDocument(core: SandboxCore): Record<string, unknown> {
  const arm = `${core.urls.arm}/`;
  return {
    galleryEndpoint: arm,
    graphEndpoint: `${graphBase(core)}/`,
    portalEndpoint: arm,
    authentication: { loginEndpoint: LOGIN_ENDPOINT, audiences: [arm] },
  };
}

export const cloudMetadataProvider: ResourceProvider = {
  name: 'metadata',
  register(core) {
    core.routes.arm({
      method: 'GET',
      path: '/metadata/endpoints',
      operation: 'metadata/endpoints/read',
      authorize: 'anonymous',
      namespace: false,
      handler: (ctx) => {
        const version = ctx.query.get('api-version');
        if (!version) throw ArmErrors.missingApiVersion();
        // [U] the error ARM gives for an unknown version of this document.
        if (!(VERSIONS as readonly string[]).includes(version))
          throw ArmErrors.invalidApiVersion(version, [...VERSIONS].reverse());
        if (version === '2015-01-01') return reply.ok(legacyDocument(core));
        // 2019-05-01 lists every cloud the endpoint knows; there is one here.
        return reply.ok(version === '2019-05-01' ? [cloudDocument(core)] : cloudDocument(core));
      },
    });
  },
};
