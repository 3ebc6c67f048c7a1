/**
 * The whole rule catalogue, in the order findings are reported (namespace first, then vaults, then
 * keys; request-only rules where the operator expects them). Every rule of every subject appears
 * exactly once — checked when the module loads, so a rule added to a subject file but not placed
 * here fails every test at once instead of silently never running.
 */
import { KEY_RULES } from './keyRules';
import { NAMESPACE_RULES } from './namespaceRules';
import { REQUEST_RULES } from './requestRules';
import type { PreflightRule } from './rule';
import { VAULT_RULES } from './vaultRules';

const REPORT_ORDER = [
  'PRE-001',
  'PRE-002',
  'PRE-003',
  'PRE-004',
  'PRE-005',
  'PRE-006',
  'PRE-007',
  'PRE-008',
  'PRE-009',
  'PRE-010',
  'CMK-001',
  'CMK-010',
  'CMK-011',
  'CMK-013',
  'PRE-011',
  'CMK-007',
  'CMK-009',
  'PRE-016',
  'CMK-002',
  'PRE-012',
  'CMK-003',
  'CMK-004',
  'PRE-013',
  'PRE-014',
  'PRE-015',
  'CMK-008',
  'CMK-012',
  'CMK-005',
  'CMK-006',
  'CMK-014',
] as const;

function ordered(rules: readonly PreflightRule[]): readonly PreflightRule[] {
  const byId = new Map(rules.map((r) => [r.id, r]));
  if (byId.size !== rules.length) throw new Error('Preflight catalogue: a rule id is used twice');
  const out = REPORT_ORDER.map((id) => {
    const rule = byId.get(id);
    if (!rule) throw new Error(`Preflight catalogue: ${id} is in the report order but has no rule`);
    return rule;
  });
  if (out.length !== rules.length) {
    const missing = rules.filter((r) => !(REPORT_ORDER as readonly string[]).includes(r.id)).map((r) => r.id);
    throw new Error(`Preflight catalogue: ${missing.join(', ')} missing from the report order`);
  }
  return out;
}

export const PREFLIGHT_RULES: readonly PreflightRule[] = ordered([
  ...NAMESPACE_RULES,
  ...REQUEST_RULES,
  ...VAULT_RULES,
  ...KEY_RULES,
]);
