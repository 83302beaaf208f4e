// CustomResourceDefinitions generated from the zod schemas: OpenAPI v3 structural schemas with patterns,
// enums, defaults and required fields, printer columns, short names and the `storeop` category.
import { z } from 'zod';
import { API_GROUP, API_VERSION } from './common.js';
import { databaseServerSpec, databaseServerStatus, REGION_LABEL } from './database-server.js';
import { storeSpec, storeStatus } from './store.js';
import { storeDatabaseSpec, storeDatabaseStatus } from './store-database.js';
import { storePlanSpec, storePlanStatus } from './store-plan.js';
import { storeSchemaSpec, storeSchemaStatus } from './store-schema.js';

type Json = Record<string, unknown>;

const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean']);

/**
 * A union of scalars (`anyOf: [{type: string}, {type: number}, ...]`) as a structural schema allows it: no
 * `type` may appear inside anyOf, so an integer-or-string is `x-kubernetes-int-or-string` and any other mix
 * (a column default: string, number or boolean) keeps its value unpruned. zod checks the real shape.
 */
function scalarUnion(node: Json): Json | undefined {
  const branches = node.anyOf;
  if (!Array.isArray(branches) || !branches.every((b: Json) => SCALAR_TYPES.has(b.type as string))) return undefined;
  const types = new Set(branches.map((b: Json) => b.type as string));
  const nullable = branches.some((b: Json) => b.nullable === true);
  const { anyOf: _anyOf, ...rest } = node;
  if (types.size === 2 && types.has('integer') && types.has('string') && !nullable) return { ...rest, 'x-kubernetes-int-or-string': true };
  return { ...rest, ...(nullable ? { nullable: true } : {}), 'x-kubernetes-preserve-unknown-fields': true };
}

/**
 * Makes zod's JSON Schema structural: `additionalProperties` only as a map's value schema (never false:
 * unknown fields are pruned by the API server and refused by zod), no propertyNames (not in a CRD schema),
 * unions of scalars as Kubernetes spells them.
 */
function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (!node || typeof node !== 'object') return node;
  const source = scalarUnion(node as Json) ?? (node as Json);
  const out: Json = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === '$schema' || key === 'propertyNames') continue;
    if (key === 'additionalProperties' && typeof value !== 'object') continue;
    out[key] = structural(value);
  }
  return out;
}

function openApi(schema: z.ZodType): Json {
  return structural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' })) as Json;
}

function conditionsAsMap(status: Json): Json {
  const properties = status.properties as Json;
  const conditions = properties.conditions as Json | undefined;
  if (conditions) Object.assign(conditions, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
  return status;
}

const readyColumn = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' };
const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function crd(options: {
  kind: string;
  /** Namespaced unless said otherwise. */
  scope?: 'Namespaced' | 'Cluster';
  plural: string;
  singular: string;
  shortNames: string[];
  spec: z.ZodType;
  status: z.ZodType;
  columns: Json[];
  description: string;
}): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${options.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: options.scope ?? 'Namespaced',
      names: {
        kind: options.kind,
        listKind: `${options.kind}List`,
        plural: options.plural,
        singular: options.singular,
        shortNames: options.shortNames,
        categories: ['storeop'],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: options.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: options.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApi(options.spec),
                status: conditionsAsMap(openApi(options.status)),
              },
            },
          },
        },
      ],
    },
  };
}

export function customResourceDefinitions(): Json[] {
  return [
    crd({
      kind: 'Store',
      plural: 'stores',
      singular: 'store',
      shortNames: ['sto'],
      spec: storeSpec,
      status: storeStatus,
      description: 'A store of the platform, with its own database.',
      columns: [
        { name: 'Slug', type: 'string', jsonPath: '.status.slug' },
        { name: 'Plan', type: 'string', jsonPath: '.spec.plan' },
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Engine', type: 'string', jsonPath: '.status.engine' },
        { name: 'Schema', type: 'string', jsonPath: '.status.schemaVersion', priority: 1 },
        readyColumn,
        ageColumn,
      ],
    }),
    crd({
      kind: 'StoreDatabase',
      plural: 'storedatabases',
      singular: 'storedatabase',
      shortNames: ['stdb'],
      spec: storeDatabaseSpec,
      status: storeDatabaseStatus,
      description: "Where one store's database lives and how storeop provisions it.",
      columns: [
        { name: 'Store', type: 'string', jsonPath: '.spec.storeRef.name' },
        { name: 'Engine', type: 'string', jsonPath: '.spec.engine' },
        { name: 'Mode', type: 'string', jsonPath: '.spec.mode', priority: 1 },
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Schema', type: 'string', jsonPath: '.status.schemaVersion' },
        { name: 'Tables', type: 'integer', jsonPath: '.status.tables' },
        readyColumn,
        ageColumn,
      ],
    }),
    crd({
      kind: 'DatabaseServer',
      plural: 'databaseservers',
      singular: 'databaseserver',
      shortNames: ['dbs'],
      scope: 'Cluster',
      spec: databaseServerSpec,
      status: databaseServerStatus,
      description: 'A database server that stores are placed on: its address, admin credentials, capacity and limits.',
      columns: [
        { name: 'Engine', type: 'string', jsonPath: '.spec.engine' },
        { name: 'Region', type: 'string', jsonPath: `.metadata.labels.${REGION_LABEL.replace('.', '\\.')}` },
        { name: 'Stores', type: 'integer', jsonPath: '.status.storeCount' },
        { name: 'Capacity', type: 'integer', jsonPath: '.spec.capacity.maxStores' },
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Version', type: 'string', jsonPath: '.status.version', priority: 1 },
        ageColumn,
      ],
    }),
    crd({
      kind: 'StoreSchema',
      scope: 'Cluster',
      plural: 'storeschemas',
      singular: 'storeschema',
      shortNames: ['stsc'],
      spec: storeSchemaSpec,
      status: storeSchemaStatus,
      description: 'A version of the store schema and how it rolls out across the stores that use it.',
      columns: [
        { name: 'Version', type: 'string', jsonPath: '.spec.version' },
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Updated', type: 'integer', jsonPath: '.status.updated' },
        { name: 'Total', type: 'integer', jsonPath: '.status.total' },
        ageColumn,
      ],
    }),
    crd({
      kind: 'StorePlan',
      scope: 'Cluster',
      plural: 'storeplans',
      singular: 'storeplan',
      shortNames: ['stpl'],
      spec: storePlanSpec,
      status: storePlanStatus,
      description: "A subscription plan's limits (overriding the built-in ones) and what exceeding them does.",
      columns: [
        { name: 'Plan', type: 'string', jsonPath: '.spec.plan' },
        { name: 'Products', type: 'integer', jsonPath: '.spec.limits.maxProducts' },
        { name: 'Orders/month', type: 'integer', jsonPath: '.spec.limits.maxOrdersPerMonth' },
        { name: 'Enforcement', type: 'string', jsonPath: '.spec.enforcement' },
        ageColumn,
      ],
    }),
  ];
}
