// The domain's public surface: pure types and functions for the gateways, orchestrations and triggers.
export * from './cmkState';
export * from './keyAccess';
export * from './plan';
export * from './preflight';
export * from './requests';
export * from './resourceIds';
export * from './geoDr';
export * from './complianceReport';
export * from './keyIndex';
export * from './health';
export * from './keyMaterial';
export * from './keyVaultEvents';
export * from './rotation';
export * from './auditAlert';
export * from './keyEventImpact';
export * from './keyImpact';
export * from './impactRequest';
