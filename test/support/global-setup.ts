// Vitest global setup: checks the database servers and starts one control plane for the whole run
// (or uses an existing cluster with USE_EXISTING_CLUSTER=true and KUBECONFIG).
import type { TestProject } from 'vitest/node';
import { installOperatorPrerequisites } from './cluster-setup.js';
import { type ControlPlane, startControlPlane } from './control-plane.js';
import { assertDatabasesReachable } from './databases.js';
import { buildOperatorBundle } from './operator-bundle.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfigPath: string;
    kubeServer: string;
    kubeCaData: string;
    kubeUserTokens: Record<string, string>;
    existingCluster: boolean;
    /** The operator's bundle, built from src/ for this run (test/support/operator-bundle.ts). */
    operatorEntry: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await assertDatabasesReachable();
  const bundle = await buildOperatorBundle();
  project.provide('operatorEntry', bundle.entry);

  if (process.env.USE_EXISTING_CLUSTER === 'true') {
    const kubeconfigPath = process.env.KUBECONFIG;
    if (!kubeconfigPath) throw new Error('USE_EXISTING_CLUSTER=true needs KUBECONFIG to name a kubeconfig file');
    project.provide('kubeconfigPath', kubeconfigPath);
    project.provide('kubeServer', '');
    project.provide('kubeCaData', '');
    project.provide('kubeUserTokens', {});
    project.provide('existingCluster', true);
    await installOperatorPrerequisites(kubeconfigPath);
    return async () => bundle.remove();
  }

  let plane: ControlPlane;
  try {
    plane = await startControlPlane();
  } catch (error) {
    bundle.remove();
    throw error;
  }
  try {
    await installOperatorPrerequisites(plane.kubeconfigPath);
  } catch (error) {
    await plane.stop();
    bundle.remove();
    throw error;
  }
  const stopOnSignal = () =>
    void plane.stop().finally(() => {
      bundle.remove();
      process.exit(130);
    });
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  project.provide('kubeconfigPath', plane.kubeconfigPath);
  project.provide('kubeServer', plane.server);
  project.provide('kubeCaData', plane.caData);
  project.provide('kubeUserTokens', plane.userTokens);
  project.provide('existingCluster', false);
  return async () => {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await plane.stop();
    bundle.remove();
  };
}
