import { describe, expect, it } from 'vitest';
import { describeRequest } from '../support/recording-proxy.js';

describe('recording proxy: requests as Kubernetes verbs', () => {
  it('tells list, get, watch and status patches apart, on custom and core resources', () => {
    expect(describeRequest('GET', '/apis/storeop.dev/v1alpha1/namespaces/shop/storedatabases?limit=500')).toMatchObject({
      verb: 'list',
      resource: 'storedatabases',
      namespace: 'shop',
      name: undefined,
    });
    expect(describeRequest('GET', '/apis/storeop.dev/v1alpha1/storedatabases?watch=true&resourceVersion=12')).toMatchObject({
      verb: 'watch',
      resource: 'storedatabases',
      namespace: undefined,
    });
    expect(describeRequest('GET', '/api/v1/namespaces/shop/secrets/admin')).toMatchObject({
      verb: 'get',
      resource: 'secrets',
      namespace: 'shop',
      name: 'admin',
    });
    expect(describeRequest('PATCH', '/apis/storeop.dev/v1alpha1/namespaces/shop/stores/a/status')).toMatchObject({
      verb: 'patch',
      resource: 'stores',
      name: 'a',
      subresource: 'status',
    });
    expect(describeRequest('POST', '/api/v1/namespaces/shop/events')).toMatchObject({ verb: 'create', resource: 'events' });
    expect(describeRequest('DELETE', '/apis/storeop.dev/v1alpha1/namespaces/shop/stores/a')).toMatchObject({ verb: 'delete' });
  });
});
