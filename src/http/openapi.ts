// GET /v1/openapi.json, generated from the zod schemas the handlers validate with.
import { z } from 'zod';
import { deleted, deleteRequest, jobStatus, problem, provisionAccepted, provisionRequest, storeView } from './schemas.js';
import { usageOpenApiPaths } from './usage-routes.js';

const json = (schema: z.ZodType) => ({ 'application/json': { schema: z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) } });
const errors = {
  '400': { description: 'Invalid request', content: json(problem) },
  '401': { description: 'Missing or invalid bearer token', content: json(problem) },
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
            '202': { description: 'Job accepted', content: json(provisionAccepted) },
            ...errors,
            '409': { description: 'The slug belongs to another store', content: json(problem) },
            '413': { description: 'Body too large', content: json(problem) },
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
            '404': { description: 'Unknown job', content: json(problem) },
          },
        },
      },
      '/v1/stores': {
        get: {
          summary: 'All stores',
          responses: { '200': { description: 'Stores', content: json(z.object({ stores: z.array(storeView) })) }, ...errors },
        },
      },
      '/v1/stores/{id}': {
        get: {
          summary: 'One store by id or slug',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'Store', content: json(storeView) },
            ...errors,
            '404': { description: 'Unknown store', content: json(problem) },
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
            '404': { description: 'Unknown store', content: json(problem) },
            '409': { description: 'The store belongs to another source', content: json(problem) },
            '501': { description: 'Cluster mode: delete the Store object instead', content: json(problem) },
          },
        },
      },
      ...usageOpenApiPaths(errors, json(problem)),
    },
  };
}
