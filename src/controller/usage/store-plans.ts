// The StorePlans the operator honours (those its selector matches), validated: an invalid one is logged and
// left out, so its plan keeps its built-in limits. No StorePlan CRD (or no right to read it): none.
import { storePlanSpec } from '../../api/store-plan.js';
import { describeApiError, type KubeClient } from '../../kube/client.js';
import type { Logger } from '../../log.js';
import type { PlanOverride } from '../../stores/usage/plan-limits.js';

export async function listPlanOverrides(kube: KubeClient, selector: string | undefined, log: Logger): Promise<PlanOverride[]> {
  let items: Awaited<ReturnType<KubeClient['listStorePlans']>>['items'];
  try {
    items = (await kube.listStorePlans(selector)).items;
  } catch (error) {
    log.warn({ err: describeApiError(error) }, 'cannot list StorePlans: built-in plan limits apply');
    return [];
  }
  const overrides: PlanOverride[] = [];
  for (const item of items) {
    const parsed = storePlanSpec.safeParse(item.spec);
    if (parsed.success) overrides.push({ name: item.metadata.name, spec: parsed.data });
    else
      log.warn(
        { storePlan: item.metadata.name, err: `spec.${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}` },
        'invalid StorePlan ignored',
      );
  }
  return overrides;
}
