// The steps of the provisioning pipeline and the progress each reports.
export const STEPS = ['testConnection', 'createDatabase', 'listTables', 'plan', 'createMissing', 'migrate', 'seed', 'register'] as const;
export type StepName = (typeof STEPS)[number];

export interface Progress {
  step: StepName;
  /** 0-100, never falling during one run. */
  percent: number;
  /** Tables of the store schema that exist so far (equals totalTables once the schema is in place). */
  tablesCreated: number;
  totalTables: number;
  message: string;
}

/** Where each step starts on the 0-100 scale; createMissing spreads over its range table by table. */
export const STEP_START: Record<StepName, number> = {
  testConnection: 0,
  createDatabase: 5,
  listTables: 10,
  plan: 15,
  createMissing: 20,
  migrate: 80,
  seed: 88,
  register: 95,
};
