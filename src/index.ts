// The library surface of storeop, for platform apps that depend on the package.
export const STOREOP_API_GROUP = 'storeop.dev';
export const STOREOP_API_VERSION = 'v1alpha1';
