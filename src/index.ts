// The library surface of storeop, for platform apps that depend on the package.
export { ConnectionManager, type ConnectionManagerOptions, type PoolCloseReason } from './connections/connection-manager.js';
export { type ErrorCode, isStoreopError, StoreopError } from './errors.js';
export { type MasterDatabase, openMaster } from './master/database.js';
export { Keyring } from './master/keyring.js';
export type { MasterDB } from './master/types.js';
export { type ProvisionRequest, type ProvisionResult, provision } from './provisioning/pipeline.js';
export type { StoreDB } from './schema/row-types.js';
export { STORE_SCHEMA_VERSION, STORE_TABLES } from './schema/store-schema.js';

export const STOREOP_API_GROUP = 'storeop.dev';
export const STOREOP_API_VERSION = 'v1alpha1';
