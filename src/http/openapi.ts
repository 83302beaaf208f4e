// GET /v1/openapi.json, generated from the zod schemas the handlers validate with.
import { z } from 'zod';
import { deleted, deleteRequest, jobStatus, problem, provisionAccepted, provisionRequest, storesPage, storeView } from './schemas.js';
import { usageOpenApiPaths } from './usage-routes.js';

const json = (schema: z.ZodType) => ({ 'application/json': { schema: z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) } });
const problemJson = (schema: z.ZodType) => ({
  'application/problem+json': { schema: z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) },
});
const errors = {
  '400': { description: 'Invalid request', content: problemJson(problem) },
  '401': { description: 'Missing or invalid bearer token', content: problemJson(problem) },
  '405': { description: 'Method not allowed on this path (Allow lists the methods)', content: problemJson(problem) },
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: { title: 'storeop provisioning API', version: 'v1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/v1/provision': {
        post: {
          summary: "Provision a store's database (creates or updates the store; one job at a time per store)",
          requestBody: { required: true, content: json(provisionRequest) },
          responses: {
            '202': {
              description: 'Job accepted; Location names its status',
              headers: { Location: { schema: { type: 'string' }, description: '/v1/provision/{jobId}/status' } },
              content: json(provisionAccepted),
            },
            ...errors,
            '409': { description: 'The slug belongs to another store', content: problemJson(problem) },
            '413': { description: 'Body too large', content: problemJson(problem) },
          },
        },
      },
      '/v1/provision/{jobId}/status': {
        get: {
          summary: 'Progress of a provisioning job',
          parameters: [{ name: 'jobId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': { description: 'Job status', content: json(jobStatus) },
            ...errors,
            '404': { description: 'Unknown job', content: problemJson(problem) },
          },
        },
      },
      '/v1/stores': {
        get: {
          summary: 'Stores, a page at a time in slug order',
          parameters: [
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string' }, description: 'nextCursor of the previous page' },
          ],
          responses: { '200': { description: 'Stores', content: json(storesPage) }, ...errors },
        },
      },
      '/v1/stores/{id}': {
        get: {
          summary: 'One store by id or slug',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'Store', content: json(storeView) },
            ...errors,
            '404': { description: 'Unknown store', content: problemJson(problem) },
          },
        },
        delete: {
          summary:
            'Delete a store the API declared, by its deletionPolicy (Retain: detached, database kept; Delete: database and role dropped, which needs the database spec and Secrets in the body)',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: false, content: json(deleteRequest) },
          responses: {
            '200': { description: 'Deleted', content: json(deleted) },
            ...errors,
            '404': { description: 'Unknown store', content: problemJson(problem) },
            '409': { description: 'The store belongs to another source', content: problemJson(problem) },
            '501': { description: 'Cluster mode: delete the Store object instead', content: problemJson(problem) },
          },
        },
      },
      ...usageOpenApiPaths(errors, json(problem)),
    },
  };
}
